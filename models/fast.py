r"""Fast batched training of the first layer in PyTorch (the published shortcut).

Instead of integrating the hidden dynamics, each minibatch goes straight to the
steady state (Krotov & Hopfield, PNAS 2019). Symbols and arguments:
``W`` (:math:`W`, K x N), input rows ``V`` (:math:`v`, B x N, in [0, 1]),
``params.p`` (:math:`p`), ``params.k`` (:math:`k`), ``params.delta``
(:math:`\Delta`), ``params.R`` (:math:`R`), ``params.eta`` (:math:`\eta`).

1. Drive: :math:`I_{b\mu} = \sum_i \mathrm{sign}(W_{\mu i}) |W_{\mu i}|^{p-1} v_{bi}`.
2. Learning activation :math:`g_{b\mu}`: ranking form (+1 for the largest
   :math:`I`, :math:`-\Delta` for the k-th largest, 0 otherwise) or threshold
   form :math:`g(h)` of the exact steady state (:mod:`hebbsim.models.fixed_point`).
3. Update summed over the batch:
   :math:`\delta W_{\mu i} = \sum_b g_{b\mu} (R^p v_{bi} - I_{b\mu} W_{\mu i})`.
4. :math:`W \leftarrow W + \eta_t\, \delta W / \max |\delta W|` (``normalise``)
   or :math:`W \leftarrow W + \eta_t\, \delta W` (plain), with
   :math:`\eta_t = \eta (1 - e / E)` in epoch ``e = 0..E-1`` when
   ``params.anneal`` is true, :math:`\eta` otherwise.

Each row is driven to the p-sphere :math:`\sum_i |W_{\mu i}|^p = R^p`.
"""

# The drive keeps the paper's symbol I, which E741 calls ambiguous.
# ruff: noqa: E741

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .fixed_point import learning_activation, solve_steady_state
from .params import LayerParams

logger = logging.getLogger(__name__)

# Floor of the normaliser max|dW|, as in the public implementations: a batch
# whose update is (almost) zero must not be blown up to the full learning rate.
_NORM_FLOOR = 1e-30
_DTYPES = (torch.float32, torch.float64)


@dataclass(frozen=True)
class FastResult:
    """Outcome of :func:`train_fast`.

    Attributes
    ----------
    W : torch.Tensor, shape (K, N)
        Learned weights, on the training device, in the training dtype.
    norms : torch.Tensor, shape (epochs + 1, K), float64, CPU
        p-norm :math:`(\\sum_i |W_{\\mu i}|^p)^{1/p}` of each row, before
        training (row 0) and after each epoch.
    wall_s : float
        Wall-clock time of the training loop in seconds (initialisation,
        data transfer and the norm history excluded).
    presentations : int
        Images presented in total (epochs x M).
    batch_size : int
        Images per minibatch used.
    normalise : bool
        Whether updates were scaled by their largest entry.
    dtype : str
        Training dtype, ``"float32"`` or ``"float64"``.
    """

    W: torch.Tensor
    norms: torch.Tensor
    wall_s: float
    presentations: int
    batch_size: int
    normalise: bool
    dtype: str


def signed_power(W: torch.Tensor, p: float) -> torch.Tensor:
    r"""Return :math:`\mathrm{sign}(W) |W|^{p-1}` elementwise.

    ``p = 3`` (the published setting) uses ``W * |W|``, about ten times cheaper
    than ``pow`` on the CPU; ``p = 2`` is ``W`` itself (a copy).
    """
    if p == 3:
        return W * W.abs()
    if p == 2:
        return W.clone()
    return W.sign() * W.abs().pow(p - 1.0)


def drive(W: torch.Tensor, V: torch.Tensor, *, p: float) -> torch.Tensor:
    r"""Drive :math:`I_{b\mu} = \sum_i \mathrm{sign}(W_{\mu i})|W_{\mu i}|^{p-1}v_{bi}`.

    Parameters
    ----------
    W : torch.Tensor, shape (K, N)
        Weights :math:`W`.
    V : torch.Tensor, shape (B, N)
        Inputs :math:`v`, same dtype and device as ``W``.
    p : float
        Lebesgue exponent :math:`p`.

    Returns
    -------
    torch.Tensor, shape (B, K)
    """
    return V @ signed_power(W, p).T


def row_norms(W: torch.Tensor, *, p: float) -> torch.Tensor:
    r"""p-norm :math:`(\sum_i |W_{\mu i}|^p)^{1/p}` of each row, shape (K,), float64."""
    Wd = W.detach().to(torch.float64)
    return Wd.abs().pow(p).sum(dim=1).pow(1.0 / p)


def _seeds(seed: int) -> tuple[int, int]:
    """Independent seeds for the initial weights and the presentation order.

    Separate streams make ``train_fast(None, ...)`` and
    ``train_fast(init_weights(...), ...)`` identical.
    """
    a, b = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return int(a) >> 1, int(b) >> 1


def init_weights(
    n_inputs: int,
    params: LayerParams,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    r"""Initial weights chosen by ``params.init``, seeded by ``params.seed``.

    ``"normal"``: :math:`W_{\mu i} \sim \mathcal N(0, 1)`, as the public
    implementations of the fast algorithm do. ``"sphere"``: the same draw with
    each row rescaled to p-norm ``params.R``. Drawn in float64 on the CPU and
    then converted, so CPU and CUDA runs start from the same weights.

    Returns
    -------
    torch.Tensor, shape (K, n_inputs)
    """
    params.validate(n_inputs)
    gen = torch.Generator().manual_seed(_seeds(params.seed)[0])
    W = torch.randn(params.K, n_inputs, generator=gen, dtype=torch.float64)  # (K, N)
    if params.init == "sphere":
        W *= params.R / row_norms(W, p=params.p).unsqueeze(1)
    return W.to(dtype=dtype, device=device)


def _activation(I: torch.Tensor, params: LayerParams) -> torch.Tensor:
    """g (B, K) from the drive I (B, K), in the form ``params.g_form``."""
    if params.g_form == "ranking":
        # The steady-state order of h is the order of I: no solve needed.
        return learning_activation(I, form="ranking", delta=params.delta, k=params.k)
    ss = solve_steady_state(I, w_inh=params.w_inh, n=params.n)
    return learning_activation(
        ss.h, form="threshold", h_star=params.h_star, delta=params.delta
    )


def _apply_step(
    W: torch.Tensor,
    Wp: torch.Tensor,
    V: torch.Tensor,
    params: LayerParams,
    eta: float,
    normalise: bool,
) -> None:
    """One minibatch update of ``W`` (K, N) in place; keeps ``Wp = signed_power(W)``.

    Only rows with some nonzero g change: at most 2B of them in the ranking
    form. Restricting the outer product and the update to those rows saves
    about half of the arithmetic at K = 2000, B = 100, and lets ``Wp`` be
    refreshed row by row instead of recomputed.
    """
    I = V @ Wp.T  # (B, K)
    g = _activation(I, params)  # (B, K)
    rows = (g != 0).any(dim=0).nonzero().squeeze(1)  # (r,)
    if rows.numel() == 0:
        return

    # dW_mu = sum_b g_b,mu (R^p v_b - I_b,mu W_mu), on the touched rows only.
    gs = g[:, rows]  # (B, r)
    dW = gs.T @ V  # (r, N)
    if params.R != 1.0:
        dW.mul_(params.R**params.p)
    dW.sub_((gs * I[:, rows]).sum(dim=0).unsqueeze(1) * W[rows])

    if normalise:
        dW.mul_(eta / dW.abs().max().clamp(min=_NORM_FLOOR))
    else:
        dW.mul_(eta)
    # Rows are unique, so this equals index_add_, which measured ~1 ms a call
    # (OpenMP start-up) even for tiny K.
    W[rows] += dW
    Wp[rows] = signed_power(W[rows], params.p)


def step(
    W: torch.Tensor,
    V: torch.Tensor,
    params: LayerParams,
    *,
    eta: float,
    normalise: bool = True,
) -> torch.Tensor:
    r"""Weights after one minibatch update (see the module docstring).

    Parameters
    ----------
    W : torch.Tensor, shape (K, N)
        Current weights; not modified.
    V : torch.Tensor, shape (B, N)
        Minibatch of inputs, same dtype and device as ``W``.
    params : LayerParams
        Supplies ``p``, ``k``, ``delta``, ``R``, ``g_form`` and, for the
        threshold form, ``w_inh``, ``n`` and ``h_star``.
    eta : float
        Learning rate of this step, :math:`\eta_t \ge 0`.
    normalise : bool, default True
        Scale the summed update so that its largest :math:`|\delta W|` is
        ``eta``; otherwise apply ``eta * dW``.

    Returns
    -------
    torch.Tensor, shape (K, N)
        New weights.
    """
    _check_weights(W, params, V.shape[-1] if V.ndim == 2 else None)
    if V.ndim != 2 or V.dtype != W.dtype or V.device != W.device:
        raise ValueError(
            f"V must be a 2-D tensor (B, N) with W's dtype {W.dtype} and device "
            f"{W.device}, got shape {tuple(V.shape)}, {V.dtype}, {V.device}"
        )
    if not (isinstance(eta, int | float) and math.isfinite(eta) and eta >= 0):
        raise ValueError(f"eta must be a finite number >= 0, got {eta!r}")
    W_new = W.detach().clone()
    _apply_step(W_new, signed_power(W_new, params.p), V, params, eta, normalise)
    return W_new


def _check_weights(W: torch.Tensor, params: LayerParams, n_inputs: int | None) -> None:
    if not isinstance(W, torch.Tensor) or W.dtype not in _DTYPES:
        raise TypeError(
            f"W must be a float32 or float64 torch.Tensor, got "
            f"{getattr(W, 'dtype', type(W).__name__)}"
        )
    expected = (params.K, n_inputs if n_inputs is not None else W.shape[-1])
    if W.ndim != 2 or tuple(W.shape) != expected:
        raise ValueError(
            f"W must have shape (K, N) = {expected} (K from params.K, N pixels "
            f"of the input), got {tuple(W.shape)}"
        )


def _as_inputs(X: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate the training images X (M, N) in [0, 1]; return a CPU tensor."""
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(X)
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a numpy array or torch.Tensor, got {type(X)}")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"X must have shape (M, N) with one flattened image per row, got "
            f"{tuple(X.shape)}; flatten images with X.reshape(len(X), -1)"
        )
    if not X.is_floating_point():
        raise TypeError(
            f"X must be floating point with pixels in [0, 1], got {X.dtype}; "
            "for uint8 images pass X / 255"
        )
    lo, hi = float(X.min()), float(X.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi > 1:
        raise ValueError(
            f"X must hold pixels in [0, 1], got values in [{lo}, {hi}]; "
            "for 0-255 images pass X / 255"
        )
    return X


def train_fast(
    W0: torch.Tensor | None,
    X: torch.Tensor | np.ndarray,
    params: LayerParams,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    normalise: bool = True,
    shuffle: bool = True,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    start_epoch: int = 0,
) -> FastResult:
    r"""Train the first layer with the fast minibatch algorithm.

    The algorithm is in the module docstring: per minibatch, drive
    :math:`I = v\,(\mathrm{sign}(W)|W|^{p-1})^T`, learning activation ``g``
    (``params.g_form``), summed update
    :math:`\delta W = g^T (R^p v) - \mathrm{diag}(\sum_b g I) W`, scaled to a
    largest entry :math:`\eta_t` (or multiplied by :math:`\eta_t` when
    ``normalise=False``), :math:`\eta_t = \eta (1 - e/E)` in epoch ``e``.

    Parameters
    ----------
    W0 : torch.Tensor or None, shape (K, N)
        Initial weights (copied, never modified). ``None`` draws them with
        :func:`init_weights` (``params.init``, ``params.seed``).
    X : torch.Tensor or numpy.ndarray, shape (M, N)
        Training images, one flattened image per row, pixels in [0, 1].
    params : LayerParams
        Model and schedule: ``K``, ``p``, ``k``, ``delta``, ``R``, ``g_form``
        (with ``w_inh``, ``n``, ``h_star`` for ``"threshold"``), ``eta``,
        ``anneal``, ``epochs``, ``seed``, ``batch_size``, ``init``.
    batch_size : int, optional
        Images per minibatch; default ``params.batch_size``. The last batch of
        an epoch holds the remainder, so every image is presented once.
    dtype : torch.dtype, default torch.float32
        ``torch.float32`` or ``torch.float64``.
    device : str or torch.device, default "cpu"
        ``"cpu"`` or a CUDA device.
    normalise : bool, default True
        Scale each update by its largest entry (the published algorithm).
        ``False`` applies :math:`\eta_t \delta W`: with ``batch_size=1`` this is
        one Euler step of :math:`\tau_L \dot W = g (R^p v - I W)` per
        presentation, the Brian2 engine's update.
    shuffle : bool, default True
        Present the images in a new random order each epoch (seeded by
        ``params.seed``); ``False`` keeps the order of ``X``.
    progress : bool, default False
        Show a tqdm bar per epoch.
    callback : callable, optional
        ``callback(epoch, W)`` after each epoch (``epoch`` counts from 0); ``W``
        is the live tensor, copy it to keep it.
    start_epoch : int, default 0
        Resume: ``W0`` holds the weights after ``start_epoch`` epochs of this
        run; the shuffling stream is advanced past them, so the result is
        bitwise that of the uninterrupted run. Rows of ``norms`` for the skipped
        epochs are NaN.

    Returns
    -------
    FastResult

    Raises
    ------
    TypeError, ValueError
        For inputs of the wrong type, shape, dtype or range, naming them.
    NotImplementedError
        From the steady-state solver for unsupported ``n``, ``w_inh`` (threshold
        form only).

    Notes
    -----
    On the CPU a run is bitwise reproducible for a given seed, thread count and
    torch build. On CUDA, floating-point summation order may differ between
    runs.
    """
    # Validate everything before any work.
    Xc = _as_inputs(X)
    M, N = Xc.shape
    params.validate(N)
    if batch_size is None:
        batch_size = params.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device} requested but CUDA is not available; use device='cpu'"
        )
    if W0 is not None:
        _check_weights(W0, params, N)
    if isinstance(start_epoch, bool) or not isinstance(start_epoch, int):
        raise TypeError(f"start_epoch must be an integer, got {start_epoch!r}")
    if not 0 <= start_epoch <= params.epochs:
        raise ValueError(
            f"start_epoch must be in 0..{params.epochs}, got {start_epoch}"
        )
    if start_epoch > 0 and W0 is None:
        raise ValueError("start_epoch > 0 needs W0, the weights to resume from")
    if params.g_form == "threshold":
        # Raises now, not mid-run, for a w_inh or n the solver does not support.
        solve_steady_state(torch.zeros(1, params.K), w_inh=params.w_inh, n=params.n)
    if batch_size > M:
        logger.warning(
            "batch_size %d exceeds the %d training images; each epoch is one "
            "batch of %d. Lower batch_size to update more often.",
            batch_size,
            M,
            M,
        )

    # From here W, Wp and X live on the device in the training dtype.
    if W0 is None:
        W = init_weights(N, params, dtype=dtype, device=device)
    else:
        W = W0.detach().to(dtype=dtype, device=device).clone()
    Wp = signed_power(W, params.p)  # (K, N), kept in step with W
    Xd = Xc.to(dtype=dtype, device=device)  # (M, N)
    order_gen = torch.Generator().manual_seed(_seeds(params.seed)[1])
    norms = torch.full((params.epochs + 1, params.K), math.nan, dtype=torch.float64)
    norms[start_epoch] = row_norms(W, p=params.p).cpu()
    n_batches = math.ceil(M / batch_size)
    logger.info(
        "fast training: K=%d N=%d M=%d epochs=%d batch=%d g=%s p=%g k=%d "
        "delta=%g eta=%g anneal=%s normalise=%s dtype=%s device=%s",
        params.K,
        N,
        M,
        params.epochs,
        batch_size,
        params.g_form,
        params.p,
        params.k,
        params.delta,
        params.eta,
        params.anneal,
        normalise,
        str(dtype).removeprefix("torch."),
        device,
    )

    wall = 0.0
    for epoch in range(params.epochs):
        eta_t = (
            params.eta * (1.0 - epoch / params.epochs) if params.anneal else params.eta
        )
        order = torch.randperm(M, generator=order_gen) if shuffle else None
        if epoch < start_epoch:
            continue  # resumed: this epoch's shuffle drawn, its work already done
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=n_batches,
                desc=f"epoch {epoch + 1}/{params.epochs}",
                unit="batch",
                leave=False,
            )
        t0 = time.perf_counter()
        for b in range(n_batches):
            if order is None:
                V = Xd[b * batch_size : (b + 1) * batch_size]  # (B, N)
            else:
                V = Xd[order[b * batch_size : (b + 1) * batch_size].to(device)]
            _apply_step(W, Wp, V, params, eta_t, normalise)
            if bar is not None:
                bar.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        wall += dt
        if bar is not None:
            bar.close()

        norms[epoch + 1] = row_norms(W, p=params.p).cpu()
        logger.info(
            "epoch %d/%d: eta=%.4g, %.0f images/s, row p-norm mean %.4g "
            "(min %.4g, max %.4g)",
            epoch + 1,
            params.epochs,
            eta_t,
            M / dt if dt > 0 else math.inf,
            float(norms[epoch + 1].mean()),
            float(norms[epoch + 1].min()),
            float(norms[epoch + 1].max()),
        )
        if callback is not None:
            callback(epoch, W)

    logger.info("fast training done: %.2f s, %d presentations", wall, M * params.epochs)
    return FastResult(
        W=W,
        norms=norms,
        wall_s=wall,
        presentations=M * (params.epochs - start_epoch),
        batch_size=batch_size,
        normalise=normalise,
        dtype=str(dtype).removeprefix("torch."),
    )
