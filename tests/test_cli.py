"""The command line: help, one-line errors with exit status 2, the main job."""

import json

import h5py
import numpy as np
import pytest

from hebbsim.cli import main
from hebbsim.models.export import save_weights
from hebbsim.models.params import LayerParams


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["train-layer"],
        ["classify"],
        ["simulate"],
        ["download"],
        ["report"],
    ],
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage: hebbsim" in capsys.readouterr().out


def test_invalid_parameter_is_one_line_on_stderr_with_status_2(capsys, tmp_path):
    status = main(["train-layer", "--p", "1.5", "--out", str(tmp_path / "w.h5")])

    err = capsys.readouterr().err
    assert status == 2
    assert err.strip().count("\n") == 0
    assert "p must be >= 2" in err


def test_unknown_data_spec_is_rejected_with_status_2(capsys, tmp_path):
    status = main(["train-layer", "--data", "nonsense:xyz", "--out", str(tmp_path)])

    assert status == 2
    assert "nonsense:xyz" in capsys.readouterr().err


def test_weights_of_another_image_size_are_rejected_naming_both_sizes(capsys, tmp_path):
    path = tmp_path / "small.h5"
    params = LayerParams(K=3, k=2)
    save_weights(
        path,
        np.ones((3, 16)),
        params=params,
        dataset={
            "name": "toy",
            "n_train": 1,
            "n_test": 1,
            "n_inputs": 16,
            "image_shape": [4, 4],
            "source": "test",
            "files": {},
        },
        engine="fast",
        device="cpu",
        epochs_done=1,
        wall_time_s=0.0,
    )

    status = main(["classify", str(path), "--classifier-epochs", "1"])

    err = capsys.readouterr().err
    assert status == 2
    assert "16 inputs per unit" in err and "784 pixels" in err


def test_main_job_writes_weights_figure_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(
        [
            "run",
            "--K",
            "12",
            "--epochs",
            "1",
            "--classifier-epochs",
            "3",
            "--out",
            str(out),
        ]
    )

    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_train"] == 4000 and report["n_test"] == 1000
    # Twelve units and three epochs of the top layer already beat chance (90%).
    assert report["test_error"] < 0.6
    assert (out / "weights.png").stat().st_size > 10_000
    assert "test" in (out / "report.md").read_text()
    with h5py.File(out / "weights.h5", "r") as f:
        assert f.attrs["format"] == "hebbsim-weights"
        assert f["W"].shape == (12, 784)
        assert f.attrs["engine"] == "brian2"
        assert f["dataset"].attrs["n_train"] == 4000


def test_simulate_records_traces_that_end_at_the_fixed_point(tmp_path, capsys):
    from hebbsim.datasets import load_default
    from hebbsim.models.fixed_point import solve_steady_state
    from hebbsim.simulator.layer import effective_weights

    W = np.random.default_rng(0).normal(size=(8, 784))
    path = tmp_path / "w.h5"
    save_weights(
        path,
        W,
        params=LayerParams(K=8, k=2),
        dataset={
            "name": "toy",
            "n_train": 1,
            "n_test": 1,
            "n_inputs": 784,
            "image_shape": [28, 28],
            "source": "test",
            "files": {},
        },
        engine="brian2",
        device="cpu",
        epochs_done=0,
        wall_time_s=0.0,
    )

    status = main(
        ["simulate", str(path), "--images", "0,5", "--units", "0,1,2,3,4,5,6,7"]
        + ["--settle-tau", "150", "--out", str(tmp_path / "tr")]
    )

    assert status == 0
    assert (tmp_path / "tr.png").stat().st_size > 10_000
    v = load_default().x_test[[0, 5]]
    I = v @ effective_weights(W, 3.0).T
    h_exact = np.asarray(solve_steady_state(I, w_inh=0.9).h)
    with h5py.File(tmp_path / "tr.h5", "r") as f:
        assert f["t"].attrs["units"] == "ms"
        assert f["h"].shape[:2] == (2, 8)
        np.testing.assert_allclose(f["I"][:], I, rtol=1e-9)
        active = h_exact > 0
        np.testing.assert_allclose(f["h_final"][:][active], h_exact[active], rtol=1e-5)
