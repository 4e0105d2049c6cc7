"""Library pipeline: warnings a user needs before trusting a result."""

import logging

import numpy as np

from hebbsim.datasets import load_default
from hebbsim.models.params import ClassifierParams
from hebbsim.pipeline import classify


def test_classify_warns_when_the_first_layer_has_not_converged(caplog):
    data = load_default()
    W = np.random.default_rng(0).normal(size=(10, data.n_inputs))  # norms ~ 10.8

    with caplog.at_level(logging.WARNING, logger="hebbsim"):
        classify(W, 3.0, data, ClassifierParams(epochs=1), R=1.0)

    assert "the first layer has not converged" in caplog.text
    assert "R = 1" in caplog.text


def test_classify_is_quiet_for_rows_on_the_sphere(caplog):
    data = load_default()
    W = np.random.default_rng(0).normal(size=(10, data.n_inputs))
    W /= ((np.abs(W) ** 3).sum(axis=1, keepdims=True)) ** (1 / 3)

    with caplog.at_level(logging.WARNING, logger="hebbsim"):
        classify(W, 3.0, data, ClassifierParams(epochs=1), R=1.0)

    assert "not converged" not in caplog.text
