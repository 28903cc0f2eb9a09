"""Shared fixtures: small trained models and the CLI binary to compare with."""

import os
import pathlib
import shutil
import subprocess

import pytest

import spikernn

REPO = pathlib.Path(__file__).resolve().parents[2]


def _cli_path():
    env = os.environ.get("SPIKERNN_CLI")
    if env:
        return pathlib.Path(env)
    for profile in ("release", "debug"):
        p = REPO / "target" / profile / "spikernn"
        if p.exists():
            return p
    found = shutil.which("spikernn")
    return pathlib.Path(found) if found else None


@pytest.fixture(scope="session")
def cli():
    """Run the `spikernn` binary; returns its CompletedProcess (stdout text)."""
    path = _cli_path()
    if path is None or not path.exists():
        if os.environ.get("SPIKERNN_REQUIRE_CLI"):
            pytest.fail(f"SPIKERNN_REQUIRE_CLI is set but the spikernn CLI is missing ({path})")
        pytest.skip("spikernn CLI not built (cargo build --release) and SPIKERNN_CLI unset")

    def run(*args, check=True):
        p = subprocess.run(
            [str(path), *map(str, args)], capture_output=True, text=True
        )
        if check and p.returncode != 0:
            raise AssertionError(f"spikernn {' '.join(map(str, args))}: {p.stderr}")
        return p

    return run


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """One small trained model file per task (a few training trials: the
    tests check plumbing and equality with the CLI, not accuracy)."""
    d = tmp_path_factory.mktemp("models")
    out = {}
    for name, n in (("go-nogo", 40), ("xor", 30), ("mante", 30)):
        m = spikernn.train(
            name, n=n, seed=5, n_trials=200, eval_freq=100, eval_trials=10, progress=False
        )
        p = d / f"{name}.mat"
        m.save(p)
        out[name] = p
    return out


@pytest.fixture
def gonogo(models, tmp_path):
    """A private copy of the Go-NoGo model file (tests may write into it)."""
    p = tmp_path / "go-nogo.mat"
    shutil.copy(models["go-nogo"], p)
    return p
