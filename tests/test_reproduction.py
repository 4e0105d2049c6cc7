"""Validation split, model selection, the probe, the backprop baseline, the sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hebbsim.datasets.dataset import Dataset
from hebbsim.models.backprop import BackpropNet, train_backprop
from hebbsim.models.classifier import (
    TopLayer,
    features,
    fit_with_validation,
    train_probe,
    validation_size,
    validation_split,
)
from hebbsim.models.params import ClassifierParams
from hebbsim.report import regenerate_report
from hebbsim.reproduce import load_sweep, run_sweep


def test_validation_size_is_ten_thousand_of_sixty_thousand_and_scales_down():
    assert validation_size(60000, 10000) == 10000
    assert validation_size(5000, 10000) == 833
    assert validation_size(5000, 100) == 100
    assert validation_size(5, 10000) == 0


def test_validation_split_is_deterministic_disjoint_and_stratified():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=6000)

    train, val = validation_split(y, val_size=1000, seed=0)
    again_train, again_val = validation_split(y, val_size=1000, seed=0)
    _, other_val = validation_split(y, val_size=1000, seed=1)

    np.testing.assert_array_equal(val, again_val)
    np.testing.assert_array_equal(train, again_train)
    assert not np.array_equal(val, other_val)
    assert val.size == 1000
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(6000))
    # Each class's share of the validation set is within one example of exact.
    for c in range(10):
        expected = 1000 * np.mean(y == c)
        assert abs(np.sum(y[val] == c) - expected) < 1.0


def test_validation_never_touches_the_test_set():
    # The split indexes the training set only; test rows cannot be reached.
    X, y = _blobs(300, seed=1)
    x_test, y_test = _blobs(60, seed=2)
    params = ClassifierParams(epochs=2, batch_size=20, val_size=50, probe_lr=0.05)
    res = train_probe(
        np.eye(4, 8), 3.0, X, y, x_test, y_test, params=params, n_classes=2
    )
    assert res.n_train + res.n_val == 300
    assert res.n_val == 50
    _, val = validation_split(y, val_size=50, seed=params.split_seed)
    assert val.max() < 300


def test_split_rejects_negative_sizes_with_the_name():
    with pytest.raises(ValueError, match="val_size and seed must be >= 0"):
        validation_split(np.zeros(10, dtype=int), val_size=-1)
    with pytest.raises(ValueError, match="val_size must be >= 0, got -1"):
        ClassifierParams(val_size=-1)


class _Scripted(torch.nn.Module):
    """Predicts one class for every input, the class given by a script per epoch.

    ``step`` counts training batches; with one batch per epoch the validation
    after epoch ``e`` (from 0) sees ``script[e]``.
    """

    def __init__(self, script: list[int]) -> None:
        super().__init__()
        self.step = torch.nn.Parameter(torch.tensor(-1.0))
        self.script = script

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        label = self.script[max(0, int(self.step.detach()))]
        scores = torch.zeros(X.shape[0], 2)
        scores[:, label] = 1.0
        return scores + 0.0 * self.step  # keeps the graph connected to step


def test_early_stopping_restores_the_best_validation_epoch():
    X = torch.zeros(10, 3)
    y = torch.ones(10, dtype=torch.long)
    model = _Scripted([0, 0, 1, 0, 0, 0, 0, 0])

    def stepping_loss(scores, labels):
        with torch.no_grad():
            model.step += 1.0
        return (scores * 0.0).sum()

    # Test labels are all 0: the test set prefers the epochs validation rejects.
    splits = {"train": (X, y), "val": (X, y), "test": (X, 1 - y)}
    params = ClassifierParams(epochs=8, batch_size=10, patience=3)

    history, best, errors = fit_with_validation(
        model,
        stepping_loss,
        splits,
        params,
        lr=1e-3,
        generator=torch.Generator().manual_seed(0),
    )

    # Epoch 3 is the only perfect one on validation; three epochs without a
    # better one stop the run after epoch 6.
    assert best == 3
    np.testing.assert_allclose(history["val_error"], [1, 1, 0, 1, 1, 1])
    np.testing.assert_allclose(history["test_error"], [0, 0, 1, 0, 0, 0])
    # The state of epoch 3 is restored, whatever the test set would have chosen.
    assert model.step.item() == 2.0
    assert errors == {"train": 0.0, "val": 0.0, "test": 1.0}


def test_without_validation_the_last_epoch_is_kept():
    X = torch.zeros(10, 3)
    y = torch.ones(10, dtype=torch.long)
    model = _Scripted([1, 0, 0])

    def stepping_loss(scores, labels):
        with torch.no_grad():
            model.step += 1.0
        return (scores * 0.0).sum()

    splits = {"train": (X, y), "val": (X[:0], y[:0]), "test": (X, y)}
    params = ClassifierParams(epochs=3, batch_size=10, val_size=0)
    _, best, errors = fit_with_validation(
        model,
        stepping_loss,
        splits,
        params,
        lr=1e-3,
        generator=torch.Generator().manual_seed(0),
    )
    assert best == 3
    assert errors["test"] == 1.0
    assert np.isnan(errors["val"])


def _blobs(n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two linearly separable classes of 8-pixel inputs in [0, 1]."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = 0.2 * rng.random((n, 8))
    X[y == 0, :4] += 0.7
    X[y == 1, 4:] += 0.7
    return X.astype(np.float32), y


def test_softmax_probe_separates_a_separable_toy_problem():
    X, y = _blobs(400, seed=3)
    x_test, y_test = _blobs(100, seed=4)
    W = np.eye(8)  # features are the pixels themselves (p = 2, n = 1)
    params = ClassifierParams(n=1.0, epochs=10, batch_size=20, probe_lr=0.05)

    res = train_probe(W, 2.0, X, y, x_test, y_test, params=params, n_classes=2)

    assert res.train_error == 0.0
    assert res.val_error == 0.0
    assert res.test_error == 0.0
    assert res.S.shape == (2, 8)
    assert res.extra["bias"].shape == (2,)
    assert res.history["loss"][-1] < 0.5 * res.history["loss"][0]


def test_backprop_forward_equals_the_two_stage_forward():
    rng = np.random.default_rng(5)
    W = torch.as_tensor(rng.normal(size=(6, 8)))
    S = torch.as_tensor(rng.normal(size=(3, 6)))
    X = torch.as_tensor(rng.random((5, 8)))
    for p in (3.0, 2.5):
        net = BackpropNet(W, 3, p=p, n=4.5, beta=0.01, S=S)
        top = TopLayer(6, 3, beta=0.01, dtype=torch.float64)
        with torch.no_grad():
            top.S.copy_(S)
        two_stage = top(features(W, X, p=p, n=4.5, dtype=torch.float64))
        torch.testing.assert_close(net(X), two_stage, rtol=1e-12, atol=1e-14)


def test_backprop_baseline_learns_toy_data_with_the_same_split():
    X, y = _blobs(300, seed=6)
    x_test, y_test = _blobs(100, seed=7)
    params = ClassifierParams(n=2.0, beta=0.5, lr=0.02, epochs=8, batch_size=20)

    res = train_backprop(X, y, x_test, y_test, K=8, p=3.0, params=params, n_classes=2)

    _, val = validation_split(y, val_size=params.val_size, seed=params.split_seed)
    assert res.n_val == val.size == 50
    assert res.test_error < 0.05
    assert res.extra["W"].shape == (8, 8)
    assert 1 <= res.best_epoch <= 8


def _tiny_dataset() -> Dataset:
    X, y = _blobs(240, seed=8)
    x_test, y_test = _blobs(60, seed=9)
    X = np.tile(X, (1, 2))  # 16 pixels, a 4 x 4 image
    x_test = np.tile(x_test, (1, 2))
    return Dataset(
        "toy",
        X,
        y.astype(np.int64),
        x_test,
        y_test.astype(np.int64),
        image_shape=(4, 4),
        source="synthetic",
    )


_SWEEP = """
[[run]]
name = "toy-k8"
dataset = "toy"
published_test_error = 0.5
[run.layer]
engine = "fast"
K = 8
k = 2
g_form = "ranking"
epochs = 2
batch_size = 20
eta = 0.04
[run.classifier]
n = 1.0
beta = 1.0
lr = 0.05
epochs = 3
batch_size = 20

[[run]]
name = "toy-backprop"
kind = "backprop"
dataset = "toy"
[run.layer]
K = 8
[run.classifier]
n = 2.0
beta = 0.5
lr = 0.02
epochs = 2
batch_size = 20
"""


def test_sweep_skips_a_completed_run_and_resumes_an_incomplete_one(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(_SWEEP)
    loads = []

    def loader(spec):
        loads.append(spec)
        return _tiny_dataset()

    # A first sweep completes both runs.
    first = run_sweep(sweep, tmp_path, loader=loader, threads=None)
    assert [r["config"]["name"] for r in first] == ["toy-k8", "toy-backprop"]
    result = tmp_path / "toy-k8" / "result.json"
    weights = tmp_path / "toy-k8" / "weights.h5"
    assert result.exists() and weights.exists()
    assert json.loads(result.read_text())["probe"]["n_val"] == 40

    # Run again: nothing is recomputed, not even the data loaded.
    loads.clear()
    stamp = result.stat().st_mtime_ns
    again = run_sweep(sweep, tmp_path, loader=loader, threads=None)
    assert loads == []
    assert result.stat().st_mtime_ns == stamp
    assert again[0]["classifier"] == first[0]["classifier"]

    # Kill toy-k8 after its first layer: no result, a half-written temporary.
    result.unlink()
    leftover = tmp_path / "toy-k8" / ".result.json.partial"
    leftover.write_text("{")
    weights_stamp = weights.stat().st_mtime_ns
    resumed = run_sweep(sweep, tmp_path, loader=loader, threads=None)
    assert loads == ["toy"]
    assert not leftover.exists()
    assert weights.stat().st_mtime_ns == weights_stamp  # first layer reused
    assert resumed[0]["layer"]["reused"] is True
    assert (
        resumed[0]["classifier"]["test_error"] == first[0]["classifier"]["test_error"]
    )

    # The report lists both runs with their published figure.
    report = regenerate_report(tmp_path, figures=False).read_text()
    assert "| toy-k8 | toy |" in report
    assert "50.00%" in report
    assert "--only toy-backprop" in report


def test_sweep_rejects_an_unknown_parameter_naming_the_run(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(_SWEEP.replace("eta = 0.04", "eta = 0.04\nbogus = 1"))
    with pytest.raises(ValueError, match=r"run 1 \(toy-k8\): unknown LayerParams"):
        load_sweep(sweep)
