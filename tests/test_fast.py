"""The batched PyTorch engine and its NumPy baseline."""

# The drive keeps the paper's symbol I, which E741 calls ambiguous.
# ruff: noqa: E741

from __future__ import annotations

import numpy as np
import pytest
import torch

from hebbsim.models.baseline import baseline_step, train_baseline
from hebbsim.models.fast import init_weights, row_norms, step, train_fast
from hebbsim.models.fixed_point import solve_steady_state
from hebbsim.models.params import LayerParams


def _images(M: int = 300, N: int = 16, seed: int = 0) -> np.ndarray:
    """Noisy copies of five binary prototypes, pixels in [0, 1]."""
    rng = np.random.default_rng(seed)
    protos = (rng.uniform(size=(5, N)) > 0.6).astype(np.float64)
    noise = rng.uniform(0.0, 0.2, size=(M, N))
    return np.clip(protos[rng.integers(0, 5, M)] + noise, 0.0, 1.0)


def _update_per_image(W, V, params, eta, normalise):
    """dW from the equations, one image and one unit at a time (no vectorisation)."""
    K, N = W.shape
    dW = np.zeros_like(W)
    for v in V:
        I = np.array(
            [
                sum(
                    np.sign(W[mu, i]) * abs(W[mu, i]) ** (params.p - 1) * v[i]
                    for i in range(N)
                )
                for mu in range(K)
            ]
        )
        g = np.zeros(K)
        if params.g_form == "ranking":
            ranked = sorted(range(K), key=lambda mu: -I[mu])
            g[ranked[0]] = 1.0
            g[ranked[params.k - 1]] = -params.delta
        else:
            h = solve_steady_state(I, w_inh=params.w_inh, n=params.n).h
            for mu in range(K):
                if h[mu] >= params.h_star:
                    g[mu] = 1.0
                elif h[mu] > 0:
                    g[mu] = -params.delta
        for mu in range(K):
            dW[mu] += g[mu] * (params.R**params.p * v - I[mu] * W[mu])
    scale = eta / np.abs(dW).max() if normalise else eta
    return W + scale * dW


@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize(
    "params",
    [
        LayerParams(K=8, g_form="ranking", k=3, delta=0.3, p=2.5, R=1.5),
        LayerParams(K=8, g_form="threshold", w_inh=0.4, h_star=0.8, p=3.0, R=0.7),
    ],
    ids=["ranking", "threshold"],
)
def test_step_matches_the_per_image_update_from_the_equations(params, normalise):
    rng = np.random.default_rng(3)
    W = rng.normal(size=(8, 5))
    V = rng.uniform(size=(4, 5))
    expected = _update_per_image(W, V, params, 0.05, normalise)
    got = step(
        torch.from_numpy(W), torch.from_numpy(V), params, eta=0.05, normalise=normalise
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    base = baseline_step(W, V, params, eta=0.05, normalise=normalise)
    np.testing.assert_allclose(base, expected, rtol=1e-12, atol=1e-12)


def test_normalised_step_moves_the_largest_entry_by_exactly_eta():
    params = LayerParams(K=10, g_form="ranking", k=3)
    rng = np.random.default_rng(4)
    W = torch.from_numpy(rng.normal(size=(10, 6)))
    V = torch.from_numpy(rng.uniform(size=(7, 6)))
    change = step(W, V, params, eta=0.03) - W
    assert change.abs().max().item() == pytest.approx(0.03, rel=1e-12)


def test_learning_rate_is_annealed_linearly_over_the_epochs():
    X = _images(M=50)
    params = LayerParams(K=6, k=2, g_form="ranking", epochs=4, eta=0.08, batch_size=50)
    snapshots = [init_weights(16, params, dtype=torch.float64)]
    train_fast(
        None,
        X,
        params,
        dtype=torch.float64,
        callback=lambda epoch, W: snapshots.append(W.clone()),
    )
    # One batch per epoch, so each epoch moves the largest entry by eta_t.
    steps = [
        (b - a).abs().max().item()
        for a, b in zip(snapshots[:-1], snapshots[1:], strict=True)
    ]
    np.testing.assert_allclose(steps, [0.08, 0.06, 0.04, 0.02], rtol=1e-12)


@pytest.mark.parametrize("g_form", ["ranking", "threshold"])
def test_torch_engine_matches_the_numpy_baseline_in_float64(g_form):
    X = _images()
    params = LayerParams(K=12, k=3, g_form=g_form, w_inh=0.5, epochs=3, eta=0.04)
    W0 = init_weights(16, params, dtype=torch.float64)
    fast = train_fast(W0, X, params, batch_size=32, dtype=torch.float64, shuffle=False)
    base = train_baseline(W0.numpy(), X, params, batch_size=32, shuffle=False)
    np.testing.assert_allclose(fast.W.numpy(), base.W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast.norms.numpy(), base.norms, rtol=1e-10)


def test_float32_run_stays_close_to_float64():
    X = _images(M=200)
    params = LayerParams(K=12, k=3, g_form="ranking", epochs=1, eta=0.04)
    W64 = train_fast(None, X, params, batch_size=20, dtype=torch.float64).W
    W32 = train_fast(None, X, params, batch_size=20, dtype=torch.float32).W
    assert W32.dtype == torch.float32
    torch.testing.assert_close(W32.double(), W64, rtol=1e-4, atol=1e-4)


def test_same_seed_gives_bitwise_equal_weights_on_cpu():
    X = _images()
    params = LayerParams(K=20, k=4, g_form="ranking", epochs=2, seed=7)
    a = train_fast(None, X, params, batch_size=25)
    b = train_fast(None, X, params, batch_size=25)
    assert torch.equal(a.W, b.W) and torch.equal(a.norms, b.norms)
    c = train_fast(None, X, params.replace(seed=8), batch_size=25)
    assert not torch.equal(a.W, c.W)


def test_default_initial_weights_are_those_of_init_weights():
    X = _images(M=60)
    params = LayerParams(K=10, k=3, g_form="ranking", seed=3)
    a = train_fast(None, X, params, batch_size=20)
    b = train_fast(init_weights(16, params), X, params, batch_size=20)
    assert torch.equal(a.W, b.W)
    sphere = init_weights(16, params.replace(init="sphere", R=2.0), dtype=torch.float64)
    torch.testing.assert_close(
        row_norms(sphere, p=3.0), torch.full((10,), 2.0, dtype=torch.float64)
    )


def test_rows_that_learn_are_driven_to_the_p_sphere_of_radius_R():
    X = _images(M=600)
    params = LayerParams(
        K=6, k=2, delta=0.0, R=1.5, g_form="ranking", epochs=40, eta=0.05, batch_size=20
    )
    W0 = init_weights(16, params, dtype=torch.float64)
    result = train_fast(W0, X, params, dtype=torch.float64)
    assert result.norms.shape == (41, 6)
    final = result.norms[-1]
    untouched = (result.W == W0).all(dim=1)
    # Without the anti-Hebbian term a row moves only when it wins, and
    # d|W|_p^p/dt is proportional to I (R^p - |W|_p^p): winners converge to R.
    assert (~untouched).sum() >= 3
    torch.testing.assert_close(
        final[~untouched], torch.full_like(final[~untouched], 1.5), rtol=1e-3, atol=0
    )


def test_progress_bar_and_result_fields():
    X = _images(M=40)
    params = LayerParams(K=5, k=2, g_form="ranking", epochs=2)
    result = train_fast(None, X, params, batch_size=16, progress=True)
    assert result.presentations == 80 and result.batch_size == 16
    assert result.dtype == "float32" and result.normalise is True
    assert result.wall_s > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_cpu_in_float64():
    X = _images()
    params = LayerParams(K=12, k=3, g_form="ranking", epochs=2)
    cpu = train_fast(None, X, params, batch_size=30, dtype=torch.float64)
    gpu = train_fast(None, X, params, batch_size=30, dtype=torch.float64, device="cuda")
    torch.testing.assert_close(gpu.W.cpu(), cpu.W, rtol=1e-9, atol=1e-9)


def test_bad_training_inputs_are_rejected_with_their_name():
    params = LayerParams(K=5, k=2)
    X = _images(M=20)
    with pytest.raises(ValueError, match=r"X must hold pixels in \[0, 1\], got values"):
        train_fast(None, X * 255, params)
    with pytest.raises(TypeError, match="X must be floating point"):
        train_fast(None, (X * 255).astype(np.uint8), params)
    with pytest.raises(ValueError, match=r"X must have shape \(M, N\)"):
        train_fast(None, X.reshape(20, 4, 4), params)
    with pytest.raises(ValueError, match=r"W must have shape \(K, N\) = \(5, 16\)"):
        train_fast(torch.zeros(5, 15), X, params)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        train_fast(None, X, params, batch_size=0)
    with pytest.raises(
        ValueError, match="dtype must be torch.float32 or torch.float64"
    ):
        train_fast(None, X, params, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"w_inh must lie in \[0, 1\)"):
        train_fast(None, X, params.replace(g_form="threshold", w_inh=1.0))
    with pytest.raises(NotImplementedError, match="n = 0.5 < 1"):
        train_fast(None, X, params.replace(g_form="threshold", n=0.5))
    with pytest.raises(ValueError, match="init must be one of"):
        params.replace(init="uniform")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        params.replace(batch_size=0)
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        step(torch.zeros(5, 16), torch.zeros(2, 16), params, eta=-1.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_request_without_cuda_names_the_remedy():
    with pytest.raises(ValueError, match="CUDA is not available; use device='cpu'"):
        train_fast(None, _images(M=10), LayerParams(K=5, k=2), device="cuda")
