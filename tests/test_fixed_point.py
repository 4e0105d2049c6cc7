"""The exact steady state of the hidden units and the learning activation g(h)."""

# The drive keeps the paper's symbol I, which E741 calls ambiguous.
# ruff: noqa: E741

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hebbsim.models.fixed_point import learning_activation, solve_steady_state


def _euler(I: np.ndarray, w: float, n: float, dt: float = 0.05) -> np.ndarray:
    """Integrate tau dh/dt = I - w sum_{nu != mu} r(h_nu) - h (tau = 1) to rest."""
    h = np.zeros_like(I)
    for _ in range(200_000):
        r = np.maximum(h, 0.0) ** n
        dh = I - w * (r.sum(axis=-1, keepdims=True) - r) - h
        h = h + dt * dh
        if np.abs(dh).max() < 1e-14:
            break
    return h


@pytest.mark.parametrize("w_inh", [0.0, 0.3, 0.9, 0.99])
def test_steady_state_matches_euler_integration_of_the_ode(w_inh):
    rng = np.random.default_rng(0)
    I = rng.normal(size=(6, 7))
    I[2] = -np.abs(I[2])  # an input with no positive drive
    ss = solve_steady_state(I, w_inh=w_inh)
    h_ode = _euler(I, w_inh, 1.0)
    np.testing.assert_allclose(ss.h, h_ode, rtol=1e-6, atol=1e-6 * np.abs(h_ode).max())
    np.testing.assert_array_equal(ss.active, h_ode > 0)
    np.testing.assert_allclose(ss.S, np.maximum(h_ode, 0).sum(axis=1), rtol=1e-6)


def test_steady_state_for_n_above_one_matches_euler_below_the_uniqueness_bound():
    rng = np.random.default_rng(1)
    w, n = 0.5, 2.0
    # h_c = (w n)^(-1/(n-1)) = 1: keep every drive below it.
    I = rng.uniform(-0.5, 0.9, size=(5, 6))
    ss = solve_steady_state(I, w_inh=w, n=n)
    h_ode = _euler(I, w, n)
    np.testing.assert_allclose(ss.h, h_ode, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ss.S, (np.maximum(h_ode, 0) ** n).sum(axis=1), rtol=1e-6)


def test_steady_state_of_three_units_equals_the_hand_computed_formula():
    # w = 1/2, I = (3, 2, 0.1): two active units, S = (3 + 2) / (1/2 + 2/2) = 10/3.
    ss = solve_steady_state(np.array([3.0, 2.0, 0.1]), w_inh=0.5)
    np.testing.assert_allclose(ss.S, 10 / 3, rtol=1e-15)
    np.testing.assert_allclose(ss.h, [8 / 3, 2 / 3, 0.1 - 5 / 3], rtol=1e-14)
    np.testing.assert_array_equal(ss.active, [True, True, False])


def test_only_the_top_unit_is_active_when_inhibition_makes_it_win_alone():
    # m = 1: S = 4; the second unit has 1 <= w S = 3.6, so it stays silent.
    ss = solve_steady_state(
        torch.tensor([[1.0, 4.0, 0.5]], dtype=torch.float64), w_inh=0.9
    )
    torch.testing.assert_close(ss.S, torch.tensor([4.0], dtype=torch.float64))
    torch.testing.assert_close(
        ss.h, torch.tensor([[1.0 - 3.6, 4.0, 0.5 - 3.6]], dtype=torch.float64)
    )


def test_no_unit_is_active_without_positive_drive():
    I = np.array([[-1.0, -0.5, 0.0]])
    ss = solve_steady_state(I, w_inh=0.7)
    np.testing.assert_array_equal(ss.h, I)
    np.testing.assert_array_equal(ss.S, [0.0])
    assert not ss.active.any()


def test_without_inhibition_h_equals_the_drive_for_any_n():
    I = np.array([[0.5, -1.0, 2.0]])
    ss = solve_steady_state(I, w_inh=0.0, n=0.5)
    np.testing.assert_array_equal(ss.h, I)
    np.testing.assert_allclose(ss.S, [0.5**0.5 + 2.0**0.5])


def test_tied_drives_get_equal_steady_states():
    ss = solve_steady_state(np.array([[2.0, 1.0, 2.0, 1.0]]), w_inh=0.6)
    assert ss.h[0, 0] == ss.h[0, 2] and ss.h[0, 1] == ss.h[0, 3]


@settings(max_examples=200, deadline=None)
@given(
    I=arrays(
        np.float64,
        (3, 9),
        elements=st.floats(-10, 10, allow_nan=False),
        unique=True,
    ),
    w_inh=st.floats(0.0, 0.999),
)
def test_order_of_h_equals_order_of_drive(I, w_inh):
    ss = solve_steady_state(I, w_inh=w_inh)
    for b in range(I.shape[0]):
        order = np.argsort(I[b])
        assert np.all(np.diff(ss.h[b][order]) >= 0)
    # The fixed point equation holds: h = I - w (S - r(h)).
    r = np.maximum(ss.h, 0)
    np.testing.assert_allclose(
        ss.h,
        I - w_inh * (r.sum(axis=1, keepdims=True) - r),
        atol=1e-9 * (1 + abs(I).max()),
    )


def test_numpy_in_numpy_out_and_tensor_in_tensor_out():
    I = np.array([[1.0, 0.2]], dtype=np.float32)
    assert isinstance(solve_steady_state(I, w_inh=0.5).h, np.ndarray)
    out = solve_steady_state(torch.from_numpy(I), w_inh=0.5)
    assert isinstance(out.h, torch.Tensor) and out.h.dtype == torch.float32
    assert out.S.shape == (1,)


@pytest.mark.parametrize("w_inh", [1.0, 1.5, -0.1])
def test_inhibition_outside_the_uniqueness_range_is_rejected(w_inh):
    with pytest.raises(ValueError, match=r"w_inh must lie in \[0, 1\) for the fixed"):
        solve_steady_state(np.ones((1, 3)), w_inh=w_inh)


def test_rate_exponent_below_one_with_inhibition_is_not_implemented():
    with pytest.raises(NotImplementedError, match="n = 0.5 < 1 and w_inh = 0.5"):
        solve_steady_state(np.ones((1, 3)), w_inh=0.5, n=0.5)


def test_rate_exponent_above_one_with_large_drive_is_not_implemented():
    with pytest.raises(NotImplementedError, match=r"below h_c = .* got max I = 3"):
        solve_steady_state(np.array([[3.0, 1.0]]), w_inh=0.5, n=2.0)


def test_bad_drives_are_rejected_with_their_name():
    with pytest.raises(ValueError, match="I must be finite"):
        solve_steady_state(np.array([[1.0, np.nan]]), w_inh=0.5)
    with pytest.raises(TypeError, match="I must be a floating array"):
        solve_steady_state(np.array([[1, 2]]), w_inh=0.5)
    with pytest.raises(ValueError, match=r"I must have shape \(K,\) or \(B, K\)"):
        solve_steady_state(np.ones((2, 2, 2)), w_inh=0.5)
    with pytest.raises(ValueError, match="n must be > 0"):
        solve_steady_state(np.ones((1, 2)), w_inh=0.5, n=0.0)


def test_threshold_activation_follows_its_three_cases():
    h = np.array([[-1.0, 0.0, 0.2, 0.5, 3.0]])
    g = learning_activation(h, form="threshold", h_star=0.5, delta=0.4)
    np.testing.assert_array_equal(g, [[0.0, 0.0, -0.4, 1.0, 1.0]])


def test_ranking_activation_marks_the_top_and_the_kth_unit():
    h = torch.tensor([[0.1, 5.0, 3.0, 4.0, -2.0], [9.0, 8.0, 7.0, 6.0, 5.0]])
    g = learning_activation(h, form="ranking", delta=0.25, k=3)
    expected = torch.tensor([[0, 1, -0.25, 0, 0], [1, 0, -0.25, 0, 0]])
    torch.testing.assert_close(g, expected.to(torch.float32))


def test_activation_arguments_are_checked():
    h = np.zeros((1, 4))
    with pytest.raises(ValueError, match="form must be one of"):
        learning_activation(h, form="softmax")
    with pytest.raises(ValueError, match=r"k must be an integer with 2 <= k <= K = 4"):
        learning_activation(h, form="ranking", k=5)
    with pytest.raises(ValueError, match="h_star must be > 0"):
        learning_activation(h, form="threshold", h_star=0.0)
    with pytest.raises(ValueError, match="delta must be a finite number >= 0"):
        learning_activation(h, form="threshold", delta=-1.0)
