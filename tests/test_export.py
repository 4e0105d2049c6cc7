"""The HDF5 weight format: round trip, plain-h5py layout, atomic write, refusals."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from hebbsim.models import export
from hebbsim.models.export import (
    FORMAT_NAME,
    WeightFileError,
    dataset_identity,
    load_weights,
    save_weights,
)
from hebbsim.models.params import LayerParams

K, N = 8, 12
SHA = "ab" * 32


@pytest.fixture
def params() -> LayerParams:
    return LayerParams(K=K, p=3.0, k=2, seed=7)


@pytest.fixture
def W() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(K, N))


@pytest.fixture
def dataset() -> dict:
    return {
        "name": "toy",
        "n_train": 20,
        "n_test": 5,
        "n_inputs": N,
        "image_shape": (3, 4),
        "source": "generated in the test",
        "files": {"train-images-idx3-ubyte.gz": SHA},
    }


def _save(path, W, params, dataset, **kwargs):
    defaults = dict(
        params=params,
        dataset=dataset,
        engine="fast",
        device="cpu",
        epochs_done=2,
        wall_time_s=1.25,
    )
    defaults.update(kwargs)
    return save_weights(path, W, **defaults)


def test_round_trip_keeps_weights_bitwise_and_all_metadata(
    tmp_path, W, params, dataset
):
    pnorm = np.random.default_rng(1).random((3, K))
    path = _save(
        tmp_path / "w.h5",
        W,
        params,
        dataset,
        history={"pnorm": pnorm},
        extra_attrs={"note": "hello", "steps": [1, 2, 3]},
    )
    wf = load_weights(path)

    assert wf.W.dtype == np.float64
    assert wf.W.tobytes() == W.tobytes()
    assert wf.params == params
    assert wf.dataset == {**dataset, "files": dataset["files"]}
    assert wf.history["pnorm"].tobytes() == pnorm.tobytes()
    assert wf.attrs["format"] == FORMAT_NAME
    assert wf.attrs["format_version"] == 1
    assert wf.attrs["engine"] == "fast"
    assert wf.attrs["device"] == "cpu"
    assert wf.attrs["seed"] == 7
    assert wf.attrs["epochs_done"] == 2
    assert wf.attrs["wall_time_s"] == 1.25
    assert wf.attrs["note"] == "hello"
    assert list(wf.attrs["steps"]) == [1, 2, 3]
    assert set(wf.versions) >= {"python", "numpy", "brian2", "torch", "h5py"}


def test_float32_weights_are_stored_exactly_as_float64(tmp_path, W, params, dataset):
    W32 = W.astype(np.float32)
    wf = load_weights(_save(tmp_path / "w.h5", W32, params, dataset))
    np.testing.assert_array_equal(wf.W, W32.astype(np.float64))


def test_file_is_readable_with_plain_h5py_at_documented_paths(
    tmp_path, W, params, dataset
):
    path = _save(
        tmp_path / "w.h5", W, params, dataset, history={"pnorm": np.ones((3, K))}
    )
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "hebbsim-weights"
        assert f.attrs["format_version"] == 1
        assert json.loads(f.attrs["params"])["p"] == 3.0
        assert json.loads(f.attrs["versions"])["h5py"] == h5py.__version__
        assert re.match(r"\d{4}-\d\d-\d\dT", f.attrs["created"])
        np.testing.assert_array_equal(f["W"][()], W)
        assert f["W"].attrs["units"] == "1"
        assert f["W"].attrs["description"]
        assert f["params"].attrs["K"] == K
        assert f["params"].attrs["g_form"] == params.g_form
        assert f["params"].attrs["anneal"] == params.anneal
        assert f["versions"].attrs["numpy"] == np.__version__
        assert f["dataset"].attrs["name"] == "toy"
        assert f["dataset"].attrs["n_inputs"] == N
        assert list(f["dataset"].attrs["image_shape"]) == [3, 4]
        assert f["dataset/sha256"].attrs["train-images-idx3-ubyte.gz"] == SHA
        assert f["history/pnorm"].shape == (3, K)
        assert f["history/pnorm"].attrs["units"] == "1"
        assert "p" in f["history/pnorm"].attrs["description"]


def test_dataset_identity_reads_a_dataset_like_object(W):
    class Toy:
        name = "toy"
        x_train = np.zeros((20, N), np.float32)
        x_test = np.zeros((5, N), np.float32)
        image_shape = (3, 4)
        source = "here"
        files = {"a.gz": SHA}

    identity = dataset_identity(Toy())
    assert identity["n_train"] == 20 and identity["n_test"] == 5
    assert identity["n_inputs"] == N and identity["image_shape"] == (3, 4)


def test_failed_write_keeps_the_existing_file_and_leaves_no_temp_file(
    tmp_path, W, params, dataset, monkeypatch
):
    path = _save(tmp_path / "w.h5", W, params, dataset)
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash while writing")

    monkeypatch.setattr(export, "_write_history", fail)
    with pytest.raises(RuntimeError, match="simulated crash"):
        _save(path, W + 1.0, params, dataset)

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.h5"]


def test_missing_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "nope.h5"
    with pytest.raises(
        WeightFileError, match=f"weight file {re.escape(str(path))} does"
    ):
        load_weights(path)


def test_non_hdf5_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "w.h5"
    path.write_text("not hdf5 at all\n")
    with pytest.raises(WeightFileError, match=r"w\.h5 is not an HDF5 file"):
        load_weights(path)


def test_truncated_file_is_refused_with_its_path(tmp_path, W, params, dataset):
    path = _save(tmp_path / "w.h5", W, params, dataset)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match=r"w\.h5 .*truncated or corrupt"):
        load_weights(path)


def test_foreign_hdf5_without_format_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["W"] = np.zeros((2, 2))
    with pytest.raises(
        WeightFileError,
        match=r"other\.h5 is an HDF5 file without a 'format' attribute.*"
        r"expects format 'hebbsim-weights'",
    ):
        load_weights(path)


def test_hdf5_of_another_format_is_refused_naming_what_was_found(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "anndata"
    with pytest.raises(
        WeightFileError,
        match=r"has format 'anndata'.*hebbsim expects format 'hebbsim-weights'",
    ):
        load_weights(path)


def test_unknown_format_version_asks_to_upgrade(tmp_path, W, params, dataset):
    path = _save(tmp_path / "w.h5", W, params, dataset)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(
        WeightFileError,
        match=r"format_version 99.*reads version\(s\) \[1\]; upgrade hebbsim",
    ):
        load_weights(path)


def test_missing_weights_dataset_is_named_by_its_hdf5_path(
    tmp_path, W, params, dataset
):
    path = _save(tmp_path / "w.h5", W, params, dataset)
    with h5py.File(path, "r+") as f:
        del f["W"]
    with pytest.raises(WeightFileError, match=r"w\.h5 lacks the dataset '/W'"):
        load_weights(path)


def test_corrupt_params_attribute_is_named(tmp_path, W, params, dataset):
    path = _save(tmp_path / "w.h5", W, params, dataset)
    with h5py.File(path, "r+") as f:
        f.attrs["params"] = "{not json"
    with pytest.raises(WeightFileError, match=r"'/'@params is not valid LayerParams"):
        load_weights(path)


def test_missing_output_directory_is_named(tmp_path, W, params, dataset):
    target = tmp_path / "absent" / "w.h5"
    with pytest.raises(
        WeightFileError, match=r"directory .*absent does not exist; create it first"
    ):
        _save(target, W, params, dataset)


def test_unwritable_output_directory_is_named(
    tmp_path, W, params, dataset, monkeypatch
):
    # Root ignores permission bits, so the refusal of the OS is simulated.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(export.os, "open", refuse)
    with pytest.raises(
        WeightFileError,
        match=rf"directory {re.escape(str(tmp_path))} is not writable "
        r"\(Permission denied\); choose another output directory",
    ):
        _save(tmp_path / "w.h5", W, params, dataset)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permission bits do not stop root from writing",
)
def test_read_only_directory_is_refused_for_real(tmp_path, W, params, dataset):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        with pytest.raises(WeightFileError, match=r"ro is not writable"):
            _save(readonly / "w.h5", W, params, dataset)
    finally:
        readonly.chmod(0o755)


def test_weights_that_disagree_with_params_are_refused_before_writing(
    tmp_path, params, dataset
):
    with pytest.raises(ValueError, match=r"W has 3 rows but params.K = 8"):
        _save(tmp_path / "w.h5", np.zeros((3, N)), params, dataset)
    assert not any(Path(tmp_path).iterdir())


def test_reserved_extra_attribute_is_refused(tmp_path, W, params, dataset):
    with pytest.raises(ValueError, match=r"extra_attrs key 'format' is used"):
        _save(tmp_path / "w.h5", W, params, dataset, extra_attrs={"format": "x"})
