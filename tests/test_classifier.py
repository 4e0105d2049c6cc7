"""The PyTorch top layer: features, outputs, loss, training and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hebbsim.models.classifier import (
    TopLayer,
    drive,
    features,
    top_layer_loss,
    train_classifier,
)
from hebbsim.models.params import ClassifierParams


def test_features_match_a_numpy_computation_of_the_p_metric_drive():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 7))
    X = rng.random((4, 7))
    p, n = 3.5, 2.5
    I = X @ (np.sign(W) * np.abs(W) ** (p - 1)).T  # noqa: E741
    expected = np.maximum(I, 0.0) ** n

    got = features(W, X, p=p, n=n, dtype=torch.float64)

    assert got.shape == (4, 5)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        drive(W, X, p=p, dtype=torch.float64).numpy(), I, rtol=1e-12
    )


def test_p_equal_two_is_the_plain_dot_product():
    rng = np.random.default_rng(1)
    W, X = rng.normal(size=(3, 4)), rng.random((2, 4))
    np.testing.assert_allclose(
        drive(W, X, p=2.0, dtype=torch.float64).numpy(), X @ W.T, rtol=1e-12
    )


def test_loss_matches_a_hand_computed_example():
    # W = [[1, -1], [0.5, 0.5]], p = 3: W_eff = sign(W)|W|^2 = [[1, -1], [.25, .25]].
    # v = (1, 0.5): I = (1 - 0.5, 0.25 + 0.125) = (0.5, 0.375).
    # n = 2: f = (0.25, 0.140625).
    W = np.array([[1.0, -1.0], [0.5, 0.5]])
    X = np.array([[1.0, 0.5]])
    F = features(W, X, p=3.0, n=2.0, dtype=torch.float64)
    np.testing.assert_allclose(F.numpy(), [[0.25, 0.140625]])

    # S = [[2, 0], [0, -4]], beta = 0.5: beta * S f = (0.25, -0.28125).
    model = TopLayer(2, 2, beta=0.5, dtype=torch.float64)
    with torch.no_grad():
        model.S.copy_(torch.tensor([[2.0, 0.0], [0.0, -4.0]]))
    c = model(F)
    c0, c1 = math.tanh(0.25), math.tanh(-0.28125)
    np.testing.assert_allclose(c.detach().numpy(), [[c0, c1]], rtol=1e-12)

    # Label 0: t = (+1, -1); m = 3: loss = |c0 - 1|^3 + |c1 + 1|^3.
    loss = top_layer_loss(c, torch.tensor([0]), m=3.0)
    expected = abs(c0 - 1.0) ** 3 + abs(c1 + 1.0) ** 3
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_loss_is_the_mean_over_examples():
    c = torch.tensor([[0.0, 0.0], [0.5, -0.5]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    # Example 0: |0 + 1|^2 + |0 - 1|^2 = 2; example 1: 0.25 + 0.25 = 0.5.
    assert top_layer_loss(c, y, m=2.0).item() == pytest.approx(1.25)


def _toy_problem(seed: int = 0):
    """Two classes of inputs, each lighting up its own half of 8 pixels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=120)
    X = 0.1 * rng.random((120, 8))
    X[y == 0, :4] += 0.8
    X[y == 1, 4:] += 0.8
    # Each hidden unit prefers one half, rows on the unit 3-sphere.
    W = np.zeros((4, 8))
    W[0, :4] = W[1, :2] = W[2, 4:] = W[3, 6:] = 1.0
    W /= np.sum(np.abs(W) ** 3, axis=1, keepdims=True) ** (1 / 3)
    return W, X.astype(np.float32), y


def test_training_decreases_the_loss_and_separates_toy_data():
    W, X, y = _toy_problem()
    params = ClassifierParams(epochs=15, batch_size=20, lr=0.05, beta=1.0)

    result = train_classifier(
        W, 3.0, X[:100], y[:100], X[100:], y[100:], params=params, n_classes=2
    )

    loss = result.history["loss"]
    assert loss.shape == (15,)
    assert loss[-1] < 0.5 * loss[0]
    assert result.train_error == 0.0
    assert result.test_error == 0.0
    assert result.S.shape == (2, 4)
    np.testing.assert_allclose(result.history["lr"][[0, -1]], [0.05, 1e-5])
    assert result.wall_time_s > 0


def test_training_is_deterministic_for_a_seed():
    W, X, y = _toy_problem()
    params = ClassifierParams(epochs=3, batch_size=16, lr=0.05, beta=1.0, seed=3)
    first = train_classifier(W, 3.0, X, y, X, y, params=params, n_classes=2)
    second = train_classifier(W, 3.0, X, y, X, y, params=params, n_classes=2)
    np.testing.assert_array_equal(first.S, second.S)
    np.testing.assert_array_equal(first.history["loss"], second.history["loss"])


def test_labels_outside_the_class_range_are_refused():
    W, X, y = _toy_problem()
    y = y.copy()
    y[0] = 5
    with pytest.raises(
        ValueError, match=r"y_train has label\(s\) \[5\] outside \[0, 2\)"
    ):
        train_classifier(W, 3.0, X, y, X[:0], y[:0], n_classes=2)


def test_inputs_of_the_wrong_width_are_refused():
    W, X, y = _toy_problem()
    with pytest.raises(ValueError, match=r"W must have shape \(K, N\) with N = 7"):
        train_classifier(W, 3.0, X[:, :7], y, X[:, :7], y, n_classes=2)


def test_labels_that_do_not_match_the_inputs_are_refused():
    W, X, y = _toy_problem()
    with pytest.raises(ValueError, match=r"y_test must have shape \(120,\)"):
        train_classifier(W, 3.0, X, y, X, y[:10], n_classes=2)


def test_exponent_below_one_is_refused():
    W, X, _ = _toy_problem()
    with pytest.raises(ValueError, match=r"p must be finite and >= 1.0, got 0.5"):
        features(W, X, p=0.5, n=2.0)
