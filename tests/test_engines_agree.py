"""The Brian2 engine and the fast engine agree where their definitions meet.

On the same weights and images: the Brian2 steady state equals the batched exact
solver (h to 1e-5 relative here for the ranked units; tests/test_simulator.py checks
the whole active set in the threshold form); with one image per batch, the
ranking form in both and a plain learning rate, one presentation changes the
weights identically (1e-6 relative).
"""

import numpy as np
import pytest
import torch

from hebbsim.models.fast import step
from hebbsim.models.fixed_point import solve_steady_state
from hebbsim.models.params import LayerParams
from hebbsim.simulator.layer import BrianLayer, effective_weights

K, N = 16, 20


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(11)
    return rng.random((3, N)) * (rng.random((3, N)) > 0.3)


@pytest.fixture(scope="module")
def weights():
    W = np.random.default_rng(5).normal(size=(K, N))
    W[:8] = np.abs(W[:8])  # several units active at once
    return W


@pytest.fixture(scope="module")
def ranking_layer(images, tmp_path_factory):
    params = LayerParams(K=K, k=3, g_form="ranking", settle_tau=200.0)
    directory = tmp_path_factory.mktemp("rank") / "project"
    return BrianLayer(params, images, n_presentations=1, directory=directory)


def test_brian2_steady_state_equals_batched_solver(ranking_layer, images, weights):
    prm = ranking_layer.params
    for image in range(3):
        _, log = ranking_layer.present(
            weights, np.array([image]), eta_start=0.0, eta_end=0.0
        )
        I = effective_weights(weights, prm.p) @ images[image]
        ss = solve_steady_state(torch.tensor(I[None]), w_inh=prm.w_inh)
        h = ss.h.numpy()[0]
        # The ranking form reports the top and the k-th unit.
        ranked = np.argsort(-h)
        np.testing.assert_array_equal(np.sort(log.unit), np.sort(ranked[[0, 2]]))
        for mu, hv in zip(log.unit, log.h, strict=True):
            assert hv == pytest.approx(h[mu], rel=1e-5)


@pytest.mark.parametrize("image", [0, 1, 2])
def test_one_presentation_updates_weights_like_the_fast_engine(
    ranking_layer, images, weights, image
):
    eta = 0.02
    prm = ranking_layer.params
    W_brian, log = ranking_layer.present(
        weights, np.array([image]), eta_start=eta, eta_end=eta
    )
    W_fast = step(
        torch.tensor(weights),
        torch.tensor(images[image][None]),
        prm,
        eta=eta,
        normalise=False,
    ).numpy()

    assert not np.allclose(W_fast, weights)
    np.testing.assert_allclose(W_brian, W_fast, rtol=1e-6, atol=1e-12)
