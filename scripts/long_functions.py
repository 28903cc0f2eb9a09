#!/usr/bin/env python3
"""List Rust functions longer than a limit (default 80 lines).

    python3 scripts/long_functions.py [--max 80] [DIR ...]   (default: src)

A function counts from its `fn` line to its closing brace. A function whose
body (or the comment right above it) says "numeric kernel" is listed as
allowed. Test modules (`mod tests`) are skipped. Exit 1 if any function over
the limit is not allowed.
"""
import argparse
import pathlib
import re
import sys

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)")


def functions(path):
    lines = path.read_text().splitlines()
    i, in_tests = 0, False
    while i < len(lines):
        line = lines[i]
        if re.match(r"^\s*mod tests\b", line):
            return
        m = FN.match(line)
        if not m:
            i += 1
            continue
        depth, j, opened = 0, i, False
        while j < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            code = re.sub(r"'(\\.|[^'\\])'", "''", code)
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                break
            if not opened and code.rstrip().endswith(";"):
                break  # a declaration without a body
            j += 1
        head = "\n".join(lines[max(0, i - 4):j + 1])
        yield m.group(6), i + 1, j - i + 1, "numeric kernel" in head
        i = j + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=80)
    ap.add_argument("dirs", nargs="*", default=["src"])
    a = ap.parse_args()
    bad = 0
    for d in a.dirs:
        for p in sorted(pathlib.Path(d).rglob("*.rs")):
            for name, line, n, ok in functions(p):
                if n > a.max:
                    print(f"{p}:{line}: {name} {n} lines{' (numeric kernel)' if ok else ''}")
                    bad += not ok
    print(f"{bad} function(s) over {a.max} lines without a reason")
    sys.exit(1 if bad else 0)


main()
