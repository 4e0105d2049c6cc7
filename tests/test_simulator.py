"""The Brian2 engine against the analytic steady state and the closed-form update.

One C++ standalone build (a few seconds to compile) serves every test here: the
tests re-run it with new weights and orders, as training does.
"""

import numpy as np
import pytest

from hebbsim.models.fixed_point import solve_steady_state
from hebbsim.models.params import LayerParams
from hebbsim.simulator.layer import BrianLayer, effective_weights

K, N = 12, 16


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(7)
    X = rng.random((4, N)) * (rng.random((4, N)) > 0.4)
    return X


@pytest.fixture(scope="module")
def params():
    # A long presentation: the slowest mode decays at (1 - w_inh) / tau, so
    # 200 tau leaves a residual far below the 1e-6 tolerance.
    return LayerParams(K=K, k=2, settle_tau=200.0, dt_tau=0.25, h_star=1.0)


@pytest.fixture(scope="module")
def layer(params, images, tmp_path_factory):
    directory = tmp_path_factory.mktemp("brian2") / "project"
    return BrianLayer(
        params, images, n_presentations=2, device="cpu", directory=directory
    )


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(3).normal(size=(K, N))


def steady_state(W, v, params):
    I = effective_weights(W, params.p) @ v
    ss = solve_steady_state(I[None, :], w_inh=params.w_inh)
    return I, np.asarray(ss.h)[0]


def g_threshold(h, params):
    return np.where(h >= params.h_star, 1.0, np.where(h > 0, -params.delta, 0.0))


def test_steady_state_matches_analytic_fixed_point(layer, params, images, weights):
    order = np.array([0, 1])
    W_after, log = layer.present(weights, order, eta_start=0.0, eta_end=0.0)

    np.testing.assert_array_equal(W_after, weights)
    for k, image in enumerate(order):
        _, h = steady_state(weights, images[image], params)
        active = np.flatnonzero(h > 0)
        mine = log.presentation == k
        assert active.size >= 1
        np.testing.assert_array_equal(np.sort(log.unit[mine]), active)
        got = dict(zip(log.unit[mine], log.h[mine], strict=True))
        for mu in active:
            assert got[mu] == pytest.approx(h[mu], rel=1e-6)
        assert log.residual[mine].max() < 1e-6


def test_steady_state_order_equals_drive_order(layer, params, images, weights):
    W2 = weights.copy()
    W2[:6] = np.abs(W2[:6])  # several units active at once
    _, log = layer.present(W2, np.array([2, 3]), eta_start=0.0, eta_end=0.0)

    I = effective_weights(W2, params.p) @ images[2]
    mine = log.presentation == 0
    assert mine.sum() >= 2
    by_h = log.unit[mine][np.argsort(-log.h[mine])]
    by_I = np.argsort(-I)[: mine.sum()]
    np.testing.assert_array_equal(by_h, by_I)


def test_plasticity_equals_closed_form_for_two_different_images(
    layer, params, images, weights
):
    eta = 0.01
    W_brian, _ = layer.present(weights, np.array([0, 1]), eta_start=eta, eta_end=eta)

    # Closed form, one presentation after the other: presentation k must use
    # the v, I and steady state of image k (an off-by-one would mix them).
    W = weights.copy()
    Rp = params.R**params.p
    for image in (0, 1):
        v = images[image]
        I, h = steady_state(W, v, params)
        g = g_threshold(h, params)
        W = W + eta * g[:, None] * (Rp * v[None, :] - I[:, None] * W)
    assert not np.allclose(W, weights)
    np.testing.assert_allclose(W_brian, W, rtol=1e-6, atol=1e-12)


def test_wrong_weight_shape_is_rejected_with_both_shapes(layer):
    with pytest.raises(ValueError, match=r"W must have shape \(K, N\) = \(12, 16\)"):
        layer.present(np.zeros((3, 3)), np.array([0, 1]), eta_start=0, eta_end=0)


def test_order_out_of_range_is_rejected(layer, weights):
    with pytest.raises(ValueError, match="order indexes images 0..3"):
        layer.present(weights, np.array([0, 9]), eta_start=0, eta_end=0)


def test_ranking_form_off_the_cpu_device_is_refused_before_building(images):
    prm = LayerParams(K=K, k=2, g_form="ranking")
    with pytest.raises(NotImplementedError, match="device='cpu' only"):
        BrianLayer(prm, images, n_presentations=1, device="runtime")


def test_reference_formulation_gives_the_same_weights(layer, params, images, weights):
    # The plain Brian2 formulation (summed variable, learn condition on g) is
    # what CUDA and runtime run; the C++ shortcuts must not change the result.
    order = np.array([3, 1])
    W_opt, log_opt = layer.present(weights, order, eta_start=0.02, eta_end=0.01)

    # Building another layer resets Brian2's device: `layer` cannot run after.
    reference = BrianLayer(params, images, n_presentations=2, reference=True)
    W_ref, log_ref = reference.present(weights, order, eta_start=0.02, eta_end=0.01)
    with pytest.raises(RuntimeError, match="build this layer again"):
        layer.present(weights, order, eta_start=0.0, eta_end=0.0)

    np.testing.assert_allclose(W_opt, W_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(log_opt.unit, log_ref.unit)
    np.testing.assert_allclose(log_opt.h, log_ref.h, rtol=1e-12)
