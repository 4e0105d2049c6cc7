r"""Plain NumPy float64 version of the fast algorithm: the benchmark baseline.

Written straight from the equations of :mod:`hebbsim.models.fast`, one
minibatch at a time, with no tricks: the drive recomputes
:math:`\mathrm{sign}(W)|W|^{p-1}` with ``power`` on every batch, ``g`` is a dense
(B, K) array and the update is a dense (K, N) outer product. It is what a
direct transcription looks like, and the reference the torch engine is timed
and checked against. Symbols: ``W`` (:math:`W`), ``V`` (:math:`v`), ``params.p``
(:math:`p`), ``params.k`` (:math:`k`), ``params.delta`` (:math:`\Delta`),
``params.R`` (:math:`R`), ``params.eta`` (:math:`\eta`).
"""

# The drive keeps the paper's symbol I, which E741 calls ambiguous.
# ruff: noqa: E741

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from .params import LayerParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineResult:
    """Outcome of :func:`train_baseline`.

    Attributes
    ----------
    W : numpy.ndarray, shape (K, N), float64
        Learned weights.
    norms : numpy.ndarray, shape (epochs + 1, K)
        Row p-norms before training and after each epoch.
    wall_s : float
        Wall-clock seconds of the training loop.
    presentations : int
        Images presented in total.
    """

    W: np.ndarray
    norms: np.ndarray
    wall_s: float
    presentations: int


def _steady_state_linear(I: np.ndarray, w: float) -> np.ndarray:
    """Exact steady state h (B, K) for n = 1, 0 <= w < 1 (fixed_point's formula)."""
    K = I.shape[1]
    Is = -np.sort(-I, axis=1)  # (B, K), descending
    csum = np.cumsum(Is, axis=1)
    m = np.arange(1, K + 1)
    ok = Is * (1 - w + w * m) - w * csum > 0  # (B, K), a prefix
    m_star = np.cumprod(ok, axis=1).sum(axis=1)  # (B,)
    thr = np.where(m_star > 0, Is[np.arange(len(I)), np.maximum(m_star - 1, 0)], np.inf)
    active = I >= thr[:, None]
    S = (I * active).sum(axis=1) / (1 - w + w * active.sum(axis=1))  # (B,)
    u = I - w * S[:, None]
    return np.where(active, u / (1 - w), u)


def baseline_activation(I: np.ndarray, params: LayerParams) -> np.ndarray:
    """Learning activation g (B, K) from the drive I (B, K), dense."""
    B, K = I.shape
    g = np.zeros((B, K))
    if params.g_form == "ranking":
        order = np.argsort(I, axis=1)  # ascending
        g[np.arange(B), order[:, -1]] = 1.0
        g[np.arange(B), order[:, -params.k]] = -params.delta
        return g
    if params.n != 1 or not (0 <= params.w_inh < 1):
        raise NotImplementedError(
            "the numpy baseline's threshold form supports n = 1 and 0 <= w_inh < 1 "
            f"only, got n = {params.n}, w_inh = {params.w_inh}; use "
            "hebbsim.models.fast.train_fast"
        )
    h = _steady_state_linear(I, params.w_inh)
    g[h > 0] = -params.delta
    g[h >= params.h_star] = 1.0
    return g


def baseline_step(
    W: np.ndarray,
    V: np.ndarray,
    params: LayerParams,
    *,
    eta: float,
    normalise: bool = True,
) -> np.ndarray:
    r"""Weights after one minibatch update, in float64 NumPy.

    :math:`I = v (\mathrm{sign}(W)|W|^{p-1})^T`,
    :math:`\delta W = g^T R^p v - (\sum_b g I)\, W` row by row, then
    :math:`W + \eta\, \delta W / \max|\delta W|` (or :math:`W + \eta\,\delta W`).

    Parameters
    ----------
    W : numpy.ndarray, shape (K, N)
        Current weights; not modified.
    V : numpy.ndarray, shape (B, N)
        Minibatch of inputs in [0, 1].
    params : LayerParams
        Model parameters (see :mod:`hebbsim.models.fast`).
    eta : float
        Learning rate of this step.
    normalise : bool, default True
        Scale the update to a largest entry ``eta``.

    Returns
    -------
    numpy.ndarray, shape (K, N)
    """
    I = V @ (np.sign(W) * np.abs(W) ** (params.p - 1)).T  # (B, K)
    g = baseline_activation(I, params)  # (B, K)
    dW = params.R**params.p * (g.T @ V) - (g * I).sum(axis=0)[:, None] * W  # (K, N)
    if normalise:
        return W + eta * dW / max(np.abs(dW).max(), 1e-30)
    return W + eta * dW


def train_baseline(
    W0: np.ndarray | None,
    X: np.ndarray,
    params: LayerParams,
    *,
    batch_size: int | None = None,
    normalise: bool = True,
    shuffle: bool = True,
) -> BaselineResult:
    """Train with :func:`baseline_step` over minibatches, annealing eta linearly.

    Parameters
    ----------
    W0 : numpy.ndarray or None, shape (K, N)
        Initial weights; ``None`` draws N(0, 1) from
        ``numpy.random.default_rng(params.seed)`` (not the torch engine's
        stream: pass the same ``W0`` to both to compare them).
    X : numpy.ndarray, shape (M, N)
        Training images in [0, 1].
    params : LayerParams
        Model and schedule.
    batch_size : int, optional
        Default ``params.batch_size``; the last batch holds the remainder.
    normalise : bool, default True
        Scale each update to a largest entry eta_t.
    shuffle : bool, default True
        New random order each epoch (``numpy.random.default_rng``).

    Returns
    -------
    BaselineResult
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (M, N), got {X.shape}")
    M, N = X.shape
    params.validate(N)
    batch_size = params.batch_size if batch_size is None else batch_size
    rng = np.random.default_rng(params.seed)
    if W0 is None:
        W = rng.standard_normal((params.K, N))
    else:
        W = np.array(W0, dtype=np.float64)
        if W.shape != (params.K, N):
            raise ValueError(f"W0 must have shape {(params.K, N)}, got {W.shape}")

    norms = [(np.abs(W) ** params.p).sum(axis=1) ** (1 / params.p)]
    wall = 0.0
    for epoch in range(params.epochs):
        eta_t = (
            params.eta * (1 - epoch / params.epochs) if params.anneal else params.eta
        )
        order = rng.permutation(M) if shuffle else np.arange(M)
        t0 = time.perf_counter()
        for start in range(0, M, batch_size):
            V = X[order[start : start + batch_size]]  # (B, N)
            W = baseline_step(W, V, params, eta=eta_t, normalise=normalise)
        wall += time.perf_counter() - t0
        norms.append((np.abs(W) ** params.p).sum(axis=1) ** (1 / params.p))
        logger.info("baseline epoch %d/%d done", epoch + 1, params.epochs)
    return BaselineResult(
        W=W, norms=np.stack(norms), wall_s=wall, presentations=M * params.epochs
    )
