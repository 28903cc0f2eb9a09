#!/usr/bin/env python3
"""Check that scipy.io.loadmat reads what the Rust writer wrote.

    python tests/scipy_check.py prepare DIR   # scipy writes DIR/scipy_made.mat
    cargo run --release --example write_mat_samples -- DIR
    python tests/scipy_check.py DIR           # assert classes, shapes, values

Exits non-zero (AssertionError) on any disagreement. Run by .ci/scipy-check.
"""
import os
import sys

import numpy as np
import scipy.io

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def expect(d, name, dtype, shape, values, path):
    if name not in d:
        check(False, f"{path}: {name} missing")
        return
    v = d[name]
    check(v.dtype == np.dtype(dtype), f"{path}: {name} dtype {v.dtype} != {dtype}")
    check(v.shape == shape, f"{path}: {name} shape {v.shape} != {shape}")
    if v.shape == shape:
        check(np.array_equal(v, np.asarray(values, dtype=v.dtype).reshape(shape)),
              f"{path}: {name} values {v!r} != {values!r}")


def check_classes(path):
    d = scipy.io.loadmat(path)
    expect(d, "a_f64", "float64", (2, 3), [[0, 1, 2], [3, 4, 5]], path)
    expect(d, "a_f32", "float32", (1, 3), [[0.5, -1.25, 3.0e38]], path)
    expect(d, "i8", "int8", (1, 3), [[-128, 0, 127]], path)
    expect(d, "i16", "int16", (1, 2), [[-300, 300]], path)
    expect(d, "i32", "int32", (1, 2), [[-70000, 70000]], path)
    expect(d, "i64", "int64", (1, 1), [[-(2**40)]], path)
    expect(d, "u8", "uint8", (1, 3), [[0, 128, 255]], path)
    expect(d, "u16", "uint16", (1, 2), [[0, 65535]], path)
    expect(d, "u32", "uint32", (1, 1), [[4000000000]], path)
    expect(d, "u64", "uint64", (1, 1), [[2**64 - 1]], path)
    # Logical arrays come back as uint8 from loadmat; check the logical flag
    # through whosmat / mat_struct-free API: values and class uint8.
    expect(d, "flags", "uint8", (3, 1), [[1], [0], [1]], path)
    expect(d, "nd", "float64", (2, 3, 4),
           np.arange(24, dtype=float).reshape((2, 3, 4), order="F"), path)
    expect(d, "empty", "float64", (0, 0), [], path)
    expect(d, "pi", "float64", (1, 1), [[np.pi]], path)
    check(list(d["text"]) == ["sigmoid"], f"{path}: text {d['text']!r}")
    check(list(d["uni"]) == ["tau \u00b5s \u2713"], f"{path}: uni {d['uni']!r}")
    # whosmat reports MATLAB classes: logical must be flagged.
    classes = {name: cls for name, shape, cls in scipy.io.whosmat(path)}
    check(classes.get("flags") == "logical", f"{path}: flags class {classes.get('flags')}")
    check(classes.get("text") == "char", f"{path}: text class {classes.get('text')}")
    check(classes.get("a_f32") == "single", f"{path}: a_f32 class {classes.get('a_f32')}")
    # Also readable with the simplifying options people use.
    s = scipy.io.loadmat(path, squeeze_me=True, chars_as_strings=True)
    check(s["text"] == "sigmoid", f"{path}: squeeze_me text {s['text']!r}")


def check_model(dirn):
    path = os.path.join(dirn, "model.mat")
    d = scipy.io.loadmat(path)
    with open(os.path.join(dirn, "model_expected.txt")) as f:
        n, w_sum, w_out0, n_inh = f.read().split()
    n, n_inh = int(n), int(n_inh)
    for k, shape, dtype in [
        ("w", (n, n), "float64"), ("w0", (n, n), "float64"), ("m", (n, n), "float64"),
        ("som_m", (n, n), "float64"), ("w_in", (n, 2), "float64"), ("w_out", (1, n), "float64"),
        ("b_out", (1, 1), "float64"), ("N", (1, 1), "int64"), ("som_N", (1, 1), "int64"),
        ("inh", (n, 1), "uint8"), ("exc", (n, 1), "uint8"), ("taus", (1, 2), "float64"),
        ("taus_gaus", (n, 1), "float64"), ("taus_gaus0", (n, 1), "float64"),
        ("losses", (1, 3), "float64"), ("tr", (1, 1), "int64"),
        ("eval_perf_mean", (1, 1), "float64"), ("eval_loss_mean", (1, 1), "float64"),
        ("eval_trials", (1, 2), "float64"), ("eval_perfs", (1, 2), "float64"),
        ("eval_losses", (1, 2), "float64"),
        ("opt_scaling_factor", (1, 1), "float64"), ("all_perfs", (3, 1), "float64"),
        ("scaling_factors", (1, 3), "float64"),
        ("w_out_spk", (1, n), "float64"), ("b_out_spk", (1, 1), "float64"),
        ("refit_lambda", (1, 1), "float64"), ("refit_alpha", (1, 1), "float64"),
        ("refit_trials", (1, 1), "int64"), ("refit_holdout_mse", (1, 1), "float64"),
        ("rec_noise_sd", (1, 1), "float64"), ("input_noise_sd", (1, 1), "float64"),
    ]:
        if k not in d:
            check(False, f"{path}: {k} missing")
            continue
        check(d[k].shape == shape, f"{path}: {k} shape {d[k].shape} != {shape}")
        check(d[k].dtype == np.dtype(dtype), f"{path}: {k} dtype {d[k].dtype} != {dtype}")
    check(int(d["N"][0, 0]) == n, f"{path}: N")
    check(abs(d["w"].sum() - float(w_sum)) <= 1e-9 * max(1.0, abs(float(w_sum))), f"{path}: sum w")
    check(d["w_out"][0, 0] == float(w_out0), f"{path}: w_out[0]")
    check(int(d["inh"].sum()) == n_inh, f"{path}: inh count")
    check(np.array_equal(d["inh"].ravel() != 0, np.diag(d["m"]) < 0), f"{path}: inh vs m")
    check(np.array_equal(d["exc"].ravel(), 1 - d["inh"].ravel()), f"{path}: exc")
    check(list(d["activation"]) == ["sigmoid"], f"{path}: activation")
    check(list(d["task"]) == ["go-nogo"], f"{path}: task")
    check(np.array_equal(d["eval_trials"].ravel(), [100, 200]), f"{path}: eval_trials")
    check(np.array_equal(d["eval_perfs"].ravel(), [0.5, 0.96]), f"{path}: eval_perfs")
    check(d["opt_scaling_factor"][0, 0] == 35.0, f"{path}: opt")
    check(np.array_equal(d["all_perfs"].ravel(), [0.5, 0.9, 0.97]), f"{path}: all_perfs")
    check(np.array_equal(d["scaling_factors"].ravel(), [25, 30, 35]), f"{path}: factors")
    check(np.array_equal(d["w_out_spk"].ravel(), np.arange(n) * 0.01), f"{path}: w_out_spk")
    check(d["b_out_spk"][0, 0] == 0.125 and d["refit_lambda"][0, 0] == 35.0, f"{path}: refit")
    check(int(d["refit_trials"][0, 0]) == 100, f"{path}: refit_trials")
    check(d["rec_noise_sd"][0, 0] == 0.3 and d["input_noise_sd"][0, 0] == 0.05, f"{path}: noise")
    check(np.array_equal(d["losses"], [[9.0, 4.5, 2.25]]), f"{path}: losses")
    check(int(d["tr"][0, 0]) == 300, f"{path}: tr")


def check_updated(dirn):
    path = os.path.join(dirn, "updated.mat")
    d = scipy.io.loadmat(path)
    keys = [k for k in d if not k.startswith("__")]
    check(keys == ["a", "b", "s", "c"], f"{path}: keys {keys}")
    expect(d, "a", "float64", (1, 2), [[1, 2]], path)
    expect(d, "b", "float64", (1, 1), [[2]], path)
    expect(d, "c", "int32", (1, 2), [[7, 8]], path)
    check(list(d["s"]) == ["keep me"], f"{path}: s")

    path = os.path.join(dirn, "scipy_made.mat")
    d = scipy.io.loadmat(path)
    keys = [k for k in d if not k.startswith("__")]
    check(keys == ["a", "cell", "b", "st", "added"], f"{path}: keys {keys}")
    expect(d, "a", "float64", (1, 3), [[1, 2, 3]], path)
    expect(d, "b", "float64", (1, 1), [[42]], path)
    check(list(d["added"]) == ["yes"], f"{path}: added")
    c = d["cell"]
    check(c.dtype == object and c.shape == (1, 2), f"{path}: cell {c!r}")
    check(float(c[0, 0][0, 0]) == 5.0 and list(c[0, 1]) == ["x"], f"{path}: cell content {c!r}")
    st = d["st"]
    check(float(st["f"][0, 0][0, 0]) == 3.0, f"{path}: struct field {st!r}")


def prepare(dirn):
    os.makedirs(dirn, exist_ok=True)
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0] = np.array([[5.0]])
    cell[0, 1] = "x"
    scipy.io.savemat(os.path.join(dirn, "scipy_made.mat"), {
        "a": np.array([[1.0, 2.0, 3.0]]),
        "cell": cell,
        "b": np.array([[1.0]]),
        "st": {"f": np.array([[3.0]])},
    }, do_compression=True)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2])
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dirn = sys.argv[1]
    check_classes(os.path.join(dirn, "classes.mat"))
    check_classes(os.path.join(dirn, "classes_plain.mat"))
    check_model(dirn)
    check_updated(dirn)
    if failures:
        print(f"scipy-check: {len(failures)} failure(s)")
        sys.exit(1)
    print("scipy-check: all files read back correctly by scipy", scipy.__version__)


if __name__ == "__main__":
    main()
