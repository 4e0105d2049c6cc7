"""Training runs: rows converge to the p-sphere; a killed run resumes exactly.

The resume tests start ``hebbsim train-layer`` in a subprocess, kill it with
SIGKILL once the first checkpoint exists, resume it, and compare with an
uninterrupted run of the same seed: bitwise for the fast engine on the CPU, to
1e-6 for the Brian2 engine.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hebbsim.models.export import load_weights
from hebbsim.models.params import LayerParams
from hebbsim.simulator.train import train_brian2


def test_learning_rows_converge_to_the_p_sphere():
    rng = np.random.default_rng(1)
    X = rng.random((12, 10)) * (rng.random((12, 10)) > 0.3)
    # Without the anti-Hebbian term every update of a row moves it towards the
    # sphere sum |W|^p = R^p; a unit that never wins keeps its initial row.
    params = LayerParams(K=5, k=2, delta=0.0, eta=0.1, epochs=40, h_star=0.5)

    res = train_brian2(X, params)

    first, last = res.history["pnorm"][0], res.history["pnorm"][-1]
    learned = last != first
    assert learned.sum() >= 3
    np.testing.assert_allclose(last[learned], params.R, rtol=5e-3)
    assert np.all(np.abs(first[learned] - params.R) > 0.5)


def _train_layer_cmd(out: Path, engine: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "hebbsim.cli",
        "train-layer",
        "--engine",
        engine,
        "--K",
        "8",
        "--epochs",
        "4",
        "--seed",
        "3",
        "--out",
        str(out),
        *extra,
    ]


def _kill_after_first_checkpoint(cmd: list[str], ckpt: Path) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not ckpt.exists():
        if proc.poll() is not None:
            pytest.fail(
                f"training ended (status {proc.returncode}) before a checkpoint"
            )
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint within 600 s")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("engine", ["fast", "brian2"])
def test_run_killed_with_sigkill_resumes_to_the_uninterrupted_weights(engine, tmp_path):
    whole = tmp_path / "whole.h5"
    subprocess.run(_train_layer_cmd(whole, engine), check=True, capture_output=True)

    broken = tmp_path / "broken.h5"
    ckpt = Path(str(broken) + ".ckpt.h5")
    _kill_after_first_checkpoint(_train_layer_cmd(broken, engine), ckpt)
    assert not broken.exists()
    assert 1 <= load_weights(ckpt).attrs["epochs_done"] < 4
    subprocess.run(
        _train_layer_cmd(broken, engine, "--resume"), check=True, capture_output=True
    )

    W_whole, W_resumed = load_weights(whole), load_weights(broken)
    assert not ckpt.exists()
    assert W_resumed.attrs["epochs_done"] == 4
    assert W_resumed.history["pnorm"].shape == (5, 8)
    if engine == "fast":
        np.testing.assert_array_equal(W_resumed.W, W_whole.W)
    else:
        np.testing.assert_allclose(W_resumed.W, W_whole.W, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        W_resumed.history["pnorm"], W_whole.history["pnorm"], rtol=1e-6
    )


def test_resume_without_a_checkpoint_is_refused(tmp_path, capsys):
    from hebbsim.cli import main

    status = main(["train-layer", "--out", str(tmp_path / "w.h5"), "--resume"])

    assert status == 2
    assert "no checkpoint" in capsys.readouterr().err
