r"""Exact steady state of the hidden units under global inhibition, and g(h).

The hidden units obey (Krotov & Hopfield, PNAS 2019)

.. math::

    \tau \frac{dh_\mu}{dt} = I_\mu - w \sum_{\nu \ne \mu} r(h_\nu) - h_\mu,
    \qquad r(h) = \max(h, 0)^n,

with drive ``I`` (:math:`I_\mu`), inhibition ``w_inh`` (:math:`w`) and rate
exponent ``n``. This module finds the fixed point without time stepping, for a
batch of inputs at once, and evaluates the learning activation :math:`g(h)`.

Derivation used below. Write :math:`S = \sum_\nu r(h_\nu)`; the fixed point is
:math:`h_\mu - w\, r(h_\mu) = I_\mu - w S`. For ``n = 1`` a unit is active
(:math:`h > 0`) exactly when :math:`I_\mu > w S`, with
:math:`h_\mu = (I_\mu - w S) / (1 - w)`; an inactive unit has
:math:`h_\mu = I_\mu - w S \le 0`. The active set is therefore the top ``m``
units by ``I``, and summing the active equations gives
:math:`S_m = \sum_{j \le m} I_{(j)} / (1 - w + w m)`. The consistency condition
:math:`I_{(m)} > w S_m` is equivalent to
:math:`f(m) = (1 - w) I_{(m)} - w \sum_{j \le m} (I_{(j)} - I_{(m)}) > 0`, and
:math:`f` does not increase with ``m``, so the ``m`` satisfying it form a prefix
``1..m*``; :math:`f(m^* + 1) \le 0` is exactly :math:`I_{(m^*+1)} \le w S_{m^*}`.
Tied inputs share one side of the boundary, since :math:`f` is constant across
a tie.
"""

# The drive keeps the paper's symbol I, which E741 calls ambiguous.
# ruff: noqa: E741

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

logger = logging.getLogger(__name__)

G_FORMS = ("threshold", "ranking")

# Iterations of the scalar solvers used for n != 1. Bisection halves the bracket
# each time, so 64 steps reach the resolution of float64 from any bracket.
_BISECTION_STEPS = 64
_NEWTON_STEPS = 60


@dataclass(frozen=True)
class SteadyState:
    """Fixed point of the hidden dynamics for a batch of inputs.

    Attributes
    ----------
    h : torch.Tensor or numpy.ndarray, shape (B, K)
        Steady-state input currents :math:`h_\\mu`.
    active : torch.Tensor or numpy.ndarray of bool, shape (B, K)
        Units with :math:`h_\\mu > 0` by the exact solution (the top ``m`` by
        drive); rounding may leave an active unit at ``h`` within a few ulps
        of zero.
    S : torch.Tensor or numpy.ndarray, shape (B,)
        Total rate :math:`S = \\sum_\\nu r(h_\\nu)`.
    """

    h: torch.Tensor | np.ndarray
    active: torch.Tensor | np.ndarray
    S: torch.Tensor | np.ndarray


def _as_tensor(name: str, x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, bool]:
    """Return ``x`` as a floating 2-D tensor and whether it came from numpy."""
    from_numpy = isinstance(x, np.ndarray)
    if from_numpy:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must be a floating array, got dtype {x.dtype}")
        x = torch.from_numpy(x)
    elif not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {x.dtype}")
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(
            f"{name} must have shape (K,) or (B, K) with K >= 1, got {tuple(x.shape)}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite; it holds NaN or infinite values")
    return x, from_numpy


def _check_w_inh(w_inh: float) -> None:
    if isinstance(w_inh, bool) or not isinstance(w_inh, int | float):
        raise TypeError(f"w_inh must be a number, got {w_inh!r}")
    if not (0.0 <= w_inh < 1.0):
        raise ValueError(
            f"w_inh must lie in [0, 1) for the fixed point to be unique, got "
            f"{w_inh!r}; with w_inh >= 1 the steady state depends on the path "
            "the dynamics take: integrate the ODE (hebbsim.simulator) instead"
        )


def _solve_linear(I: torch.Tensor, w: float) -> tuple[torch.Tensor, ...]:
    """Closed form for ``n = 1`` (see the module docstring)."""
    K = I.shape[-1]

    # m* = length of the prefix of sorted units with f(m) > 0.
    Is, _ = torch.sort(I, dim=-1, descending=True)  # (B, K)
    csum = Is.cumsum(dim=-1)  # (B, K)
    m = torch.arange(1, K + 1, dtype=I.dtype, device=I.device)  # (K,)
    f = Is * (1.0 - w + w * m) - w * csum > 0  # (B, K)
    # cumprod keeps only the leading run, so rounding that breaks the
    # monotonicity of f far down the list cannot grow the active set.
    m_star = f.to(torch.int64).cumprod(dim=-1).sum(dim=-1)  # (B,)

    # Active = every unit whose drive reaches the m*-th largest, ties included.
    idx = (m_star - 1).clamp(min=0).unsqueeze(-1)  # (B, 1)
    thr = Is.gather(-1, idx).squeeze(-1)  # (B,)
    thr = torch.where(m_star > 0, thr, torch.full_like(thr, math.inf))
    active = I >= thr.unsqueeze(-1)  # (B, K)
    n_active = active.sum(dim=-1).to(I.dtype)  # (B,)
    S = (I * active).sum(dim=-1) / (1.0 - w + w * n_active)  # (B,)

    u = I - w * S.unsqueeze(-1)  # (B, K)
    h = torch.where(active, u / (1.0 - w), u)
    return h, active, S


def _psi_inverse(c: torch.Tensor, w: float, n: float, h_c: float) -> torch.Tensor:
    """Solve :math:`h - w h^n = c` for ``h`` on the increasing branch ``h <= h_c``.

    For ``c <= 0`` the answer is ``h = c`` (an inactive unit). For ``c > 0``
    Newton's method from ``h = c`` climbs monotonically to the root because
    :math:`h - w h^n` is increasing and concave on ``(0, h_c)`` for ``n > 1``;
    values of ``c`` above the branch's maximum are clamped to ``h_c``, which
    keeps the outer equation for ``S`` monotone.
    """
    psi_max = h_c - w * h_c**n
    cp = c.clamp(min=0.0, max=psi_max)
    h = cp.clone()
    for _ in range(_NEWTON_STEPS):
        slope = (1.0 - w * n * h.pow(n - 1.0)).clamp(min=torch.finfo(c.dtype).tiny)
        h = (h + (cp - (h - w * h.pow(n))) / slope).clamp(max=h_c)
    return torch.where(c > 0, h, c)


def _solve_nonlinear(I: torch.Tensor, w: float, n: float) -> tuple[torch.Tensor, ...]:
    """Bisection on S for ``n > 1`` (see :func:`solve_steady_state`, Notes)."""
    h_c = (w * n) ** (-1.0 / (n - 1.0))
    top = float(I.max())
    if top >= h_c:
        raise NotImplementedError(
            f"solve_steady_state with n = {n} > 1 is supported only while every "
            f"drive stays below h_c = (w_inh n)^(-1/(n-1)) = {h_c:.6g}, where the "
            f"fixed point is unique; got max I = {top:.6g}. Use n = 1, scale the "
            "drive down, or integrate the ODE (hebbsim.simulator)"
        )

    # The root S* satisfies S* = sum r(h*) <= sum r(I), because h* <= I.
    lo = torch.zeros(I.shape[:-1], dtype=I.dtype, device=I.device)  # (B,)
    hi = I.clamp(min=0.0).pow(n).sum(dim=-1)  # (B,)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        h = _psi_inverse(I - w * mid.unsqueeze(-1), w, n, h_c)
        excess = mid - h.clamp(min=0.0).pow(n).sum(dim=-1)  # increasing in S
        lo = torch.where(excess < 0, mid, lo)
        hi = torch.where(excess < 0, hi, mid)
    S = 0.5 * (lo + hi)
    h = _psi_inverse(I - w * S.unsqueeze(-1), w, n, h_c)
    return h, h > 0, S


def solve_steady_state(
    I: torch.Tensor | np.ndarray, *, w_inh: float, n: float = 1.0
) -> SteadyState:
    r"""Fixed point of :math:`\tau \dot h = I - w \sum_{\nu \ne \mu} r(h_\nu) - h`.

    Symbols: :math:`I_\mu` is ``I``, :math:`w` is ``w_inh``, and
    :math:`r(h) = \max(h, 0)^n` with ``n``. No time stepping is involved.

    Algorithm for ``n = 1`` (exact, one sort per input): sort the drives
    :math:`I_{(1)} \ge I_{(2)} \ge \dots`, take the largest ``m`` with
    :math:`I_{(m)} > w S_m`, :math:`S_m = \sum_{j \le m} I_{(j)} / (1 - w + w m)`;
    then :math:`S = S_m`, active units have :math:`h = (I - wS)/(1 - w)` and the
    others :math:`h = I - wS \le 0`. If no drive is positive nothing is active,
    :math:`S = 0` and :math:`h = I`.

    Parameters
    ----------
    I : torch.Tensor or numpy.ndarray, shape (B, K) or (K,)
        Drive of each hidden unit, per input. Floating point, finite. Computed
        in its own dtype and on its own device.
    w_inh : float
        Global inhibition strength :math:`w`, in ``[0, 1)``.
    n : float, default 1.0
        Rate exponent.

    Returns
    -------
    SteadyState
        ``h`` (same shape as ``I``), ``active`` (bool, same shape) and ``S``
        (shape (B,), or a 0-d value for 1-D ``I``). NumPy input gives NumPy
        output; tensor input gives tensors.

    Raises
    ------
    TypeError
        If ``I`` is not a floating tensor or array, or ``w_inh``/``n`` are not
        numbers.
    ValueError
        If ``I`` has the wrong shape or non-finite values, ``w_inh`` is outside
        ``[0, 1)``, or ``n <= 0``.
    NotImplementedError
        For a case where the fixed point need not be unique (see Notes).

    Notes
    -----
    Uniqueness. Each fixed point satisfies :math:`\psi(h_\mu) = I_\mu - w S`
    with :math:`\psi(h) = h - w\,r(h)`. Where :math:`\psi` is increasing the
    fixed point is unique, because :math:`S - \sum_\mu r(\psi^{-1}(I_\mu - wS))`
    then increases strictly with ``S``. Supported:

    - ``n = 1`` and ``0 <= w_inh < 1``: :math:`\psi(h) = (1 - w) h` for
      :math:`h > 0`; exact closed form above.
    - any ``n`` with ``w_inh = 0``: :math:`h = I`.
    - ``n > 1`` while :math:`\max_\mu I_\mu < h_c = (w n)^{-1/(n-1)}`: since
      :math:`h_\mu \le I_\mu`, every unit stays on the increasing branch of
      :math:`\psi`. Solved per input by bisection on ``S`` with Newton's method
      for :math:`\psi^{-1}`. Above :math:`h_c` winner-take-all states coexist
      (two equal large drives can each win), so this raises
      ``NotImplementedError``.
    - ``n < 1`` with ``w_inh > 0`` raises ``NotImplementedError``: :math:`r` has
      infinite slope at 0 and small positive drives admit several fixed points.
    """
    x, from_numpy = _as_tensor("I", I)
    _check_w_inh(w_inh)
    if isinstance(n, bool) or not isinstance(n, int | float) or not math.isfinite(n):
        raise TypeError(f"n must be a finite number, got {n!r}")
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n!r}")
    if n < 1 and w_inh > 0:
        raise NotImplementedError(
            f"solve_steady_state with n = {n} < 1 and w_inh = {w_inh} > 0 is not "
            "supported: the fixed point need not be unique. Supported: n = 1 with "
            "0 <= w_inh < 1, any n with w_inh = 0, and n > 1 with drives below "
            "(w_inh n)^(-1/(n-1))"
        )

    squeeze = x.ndim == 1
    x2 = x.unsqueeze(0) if squeeze else x  # (B, K)
    w = float(w_inh)
    if w == 0.0:
        h, active = x2.clone(), x2 > 0
        S = x2.clamp(min=0.0).pow(n).sum(dim=-1)
    elif n == 1:
        h, active, S = _solve_linear(x2, w)
    else:
        h, active, S = _solve_nonlinear(x2, w, float(n))
    if logger.isEnabledFor(logging.DEBUG):
        # Guarded: the mean forces a device sync on every call.
        logger.debug(
            "steady state for B=%d K=%d w_inh=%g n=%g: mean active %.3g",
            x2.shape[0],
            x2.shape[1],
            w,
            n,
            float(active.sum(dim=-1).to(torch.float64).mean()),
        )

    if squeeze:
        h, active, S = h[0], active[0], S[0]
    if from_numpy:
        return SteadyState(h=h.numpy(), active=active.numpy(), S=S.numpy())
    return SteadyState(h=h, active=active, S=S)


def learning_activation(
    h: torch.Tensor | np.ndarray,
    *,
    form: Literal["threshold", "ranking"],
    h_star: float = 0.5,
    delta: float = 0.4,
    k: int = 7,
) -> torch.Tensor | np.ndarray:
    r"""Learning activation :math:`g` of each hidden unit, per input.

    Symbols: :math:`h_\mu` is ``h``, :math:`h^*` is ``h_star``, :math:`\Delta`
    is ``delta``.

    - ``form="threshold"``: :math:`g(h) = 1` if :math:`h \ge h^*`,
      :math:`-\Delta` if :math:`0 < h < h^*`, 0 if :math:`h \le 0`.
    - ``form="ranking"``: per input, :math:`g = 1` for the unit with the largest
      ``h``, :math:`g = -\Delta` for the ``k``-th largest, 0 for the rest.
      Under global inhibition the order of ``h`` is the order of the drive, so
      ``h`` may be passed the drive ``I`` directly. Ties go to the lower index
      as ``torch.topk`` orders them.

    Parameters
    ----------
    h : torch.Tensor or numpy.ndarray, shape (B, K) or (K,)
        Steady-state currents (or, for ``"ranking"``, anything with their order).
    form : {"threshold", "ranking"}
        Which form of :math:`g`.
    h_star : float, default 0.5
        Threshold :math:`h^* > 0` (``"threshold"`` only).
    delta : float, default 0.4
        Anti-Hebbian strength :math:`\Delta \ge 0`.
    k : int, default 7
        Rank of the unit pushed away, ``2 <= k <= K`` (``"ranking"`` only).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``g`` with the shape and dtype of ``h``; NumPy in, NumPy out.

    Raises
    ------
    ValueError
        For an unknown ``form``, ``h_star <= 0``, ``delta < 0`` or ``k``
        outside ``[2, K]``.
    """
    x, from_numpy = _as_tensor("h", h)
    if form not in G_FORMS:
        raise ValueError(f"form must be one of {G_FORMS}, got {form!r}")
    if not (isinstance(delta, int | float) and math.isfinite(delta) and delta >= 0):
        raise ValueError(f"delta must be a finite number >= 0, got {delta!r}")

    if form == "threshold":
        if not (isinstance(h_star, int | float) and math.isfinite(h_star)):
            raise ValueError(f"h_star must be a finite number > 0, got {h_star!r}")
        if h_star <= 0:
            raise ValueError(f"h_star must be > 0, got {h_star!r}")
        g = torch.where(x > 0, torch.full_like(x, -float(delta)), torch.zeros_like(x))
        g = torch.where(x >= h_star, torch.ones_like(x), g)
    else:
        K = x.shape[-1]
        if isinstance(k, bool) or not isinstance(k, int) or not (2 <= k <= K):
            raise ValueError(
                f"k must be an integer with 2 <= k <= K = {K}, got {k!r}; the "
                "ranking form needs at least k hidden units"
            )
        x2 = x.unsqueeze(0) if x.ndim == 1 else x  # (B, K)
        top = torch.topk(x2, k, dim=-1).indices  # (B, k)
        g = torch.zeros_like(x2)
        g.scatter_(-1, top[:, :1], 1.0)
        g.scatter_(-1, top[:, k - 1 :], -float(delta))
        g = g[0] if x.ndim == 1 else g
    return g.numpy() if from_numpy else g
