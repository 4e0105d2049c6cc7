"""Training the first layer with the Brian2 engine: epochs over a built network.

The network is built and compiled once per training run; each epoch re-runs the
compiled program with the current weights, a new presentation order and the
learning-rate range of that epoch (``run_args``), so no epoch recompiles.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..models.params import LayerParams
from .layer import BrianLayer

logger = logging.getLogger(__name__)

# A presentation counts as settled when tau |dh/dt| of every learning unit is
# below this fraction of the largest |h| among them.
SETTLED_RTOL = 1e-3


def initial_weights(params: LayerParams, n_inputs: int) -> np.ndarray:
    """Initial weights ``W ~ N(0, 1)``, shape (K, N), from ``params.seed``.

    Rows start well outside the p-sphere of radius R; the rows that win early
    shrink towards it, which hands the competition to other units (a row started
    on the sphere tends to win every image). With ``params.init == "sphere"``
    each row is rescaled onto the sphere instead.
    """
    rng = np.random.default_rng(params.seed)
    W = rng.standard_normal((params.K, n_inputs))
    if params.init == "sphere":
        norms = (np.abs(W) ** params.p).sum(axis=1, keepdims=True) ** (1 / params.p)
        W *= params.R / norms
    return W


def pnorms(W: np.ndarray, p: float) -> np.ndarray:
    """Row p-norms :math:`(\\sum_i |W_{\\mu i}|^p)^{1/p}`, shape (K,)."""
    return (np.abs(W) ** p).sum(axis=1) ** (1 / p)


@dataclass
class TrainResult:
    """Outcome of a training run.

    Attributes
    ----------
    W : ndarray, shape (K, N)
        Final weights.
    history : dict of ndarray
        ``pnorm`` (E + 1, K): row p-norms before training and after each epoch;
        ``active_mean`` (E,): mean number of units with h > 0 per presentation;
        ``unsettled`` (E,): presentations whose learning units had not settled;
        ``max_residual`` (E,): largest tau |dh/dt| seen in the epoch;
        ``epoch_time_s`` (E,): wall time of each epoch.
    epochs_done : int
    wall_time_s : float
        Whole run including the build, seconds.
    build_time_s : float
    """

    W: np.ndarray
    history: dict[str, np.ndarray]
    epochs_done: int
    wall_time_s: float
    build_time_s: float


def learning_rates(params: LayerParams, epoch: int) -> tuple[float, float]:
    """Learning rate at the start and end of ``epoch`` (0-based).

    Annealed linearly from ``eta`` to 0 over the whole run when ``anneal``.
    """
    if not params.anneal:
        return params.eta, params.eta
    E = params.epochs
    return params.eta * (1 - epoch / E), params.eta * (1 - (epoch + 1) / E)


def train_brian2(
    x_train: np.ndarray,
    params: LayerParams,
    *,
    device: str = "cpu",
    threads: int | None = None,
    W0: np.ndarray | None = None,
    start_epoch: int = 0,
    directory: str | Path | None = None,
    progress: bool = False,
    on_epoch: Callable[[int, np.ndarray, dict], None] | None = None,
) -> TrainResult:
    """Train the first layer with the Brian2 engine.

    Parameters
    ----------
    x_train : ndarray, shape (M, N)
        Training images, values in [0, 1].
    params : LayerParams
        Model and training parameters (``epochs``, ``eta``, ``seed`` ...).
    device : {"cpu", "cuda", "runtime"}
        Brian2 target.
    threads : int, optional
        OpenMP threads for ``device="cpu"``.
    W0 : ndarray, shape (K, N), optional
        Starting weights (to resume); default :func:`initial_weights`.
    start_epoch : int
        First epoch to run (to resume); the presentation order and learning rate
        of each epoch depend only on the seed and the epoch number.
    directory : path, optional
        Standalone project directory.
    progress : bool
        Show a progress bar over epochs.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, W, history)`` after each epoch (checkpoints).

    Returns
    -------
    TrainResult
    """
    t_start = time.perf_counter()
    x_train = np.asarray(x_train, dtype=np.float64)
    M, N = x_train.shape
    params.validate(n_inputs=N)
    if not 0 <= start_epoch <= params.epochs:
        raise ValueError(
            f"start_epoch must be in 0..{params.epochs}, got {start_epoch}"
        )
    W = initial_weights(params, N) if W0 is None else np.array(W0, dtype=np.float64)
    if W.shape != (params.K, N):
        raise ValueError(f"W0 must have shape ({params.K}, {N}), got {W.shape}")
    logger.info(
        "training Brian2 layer: K=%d N=%d images=%d epochs=%d..%d device=%s",
        params.K,
        N,
        M,
        start_epoch,
        params.epochs,
        device,
    )
    layer = BrianLayer(
        params,
        x_train,
        n_presentations=M,
        device=device,
        threads=threads,
        directory=directory,
    )
    history: dict[str, list] = {
        "pnorm": [pnorms(W, params.p)],
        "active_mean": [],
        "unsettled": [],
        "max_residual": [],
        "epoch_time_s": [],
    }
    epochs = range(start_epoch, params.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="first layer (brian2)", unit="epoch")
    for epoch in epochs:
        order = presentation_order(params.seed, epoch, M)
        eta0, eta1 = learning_rates(params, epoch)
        W, log = layer.present(W, order, eta_start=eta0, eta_end=eta1)
        if not np.all(np.isfinite(W)):
            raise ValueError(
                f"the weights diverged in epoch {epoch + 1} (eta = {params.eta}): "
                f"the update eta g (R^p v - I W) overshoots once eta I > 2; lower "
                f"eta (the Brian2 default is 0.01)"
            )
        counts = log.active_counts()
        resid = log.max_residual()
        scale = np.zeros(M)
        np.maximum.at(scale, log.presentation, np.abs(log.h))
        unsettled = int(np.sum(resid > SETTLED_RTOL * np.maximum(scale, 1e-12)))
        history["pnorm"].append(pnorms(W, params.p))
        history["active_mean"].append(float(counts.mean()))
        history["unsettled"].append(unsettled)
        history["max_residual"].append(float(resid.max(initial=0.0)))
        history["epoch_time_s"].append(log.wall_time_s)
        logger.info(
            "epoch %d/%d: %.0f presentations/s, %.2f active units on average, "
            "%d of %d presentations silent, mean row p-norm %.3f",
            epoch + 1,
            params.epochs,
            M / max(log.wall_time_s, 1e-9),
            counts.mean(),
            int(np.sum(counts == 0)),
            M,
            history["pnorm"][-1].mean(),
        )
        if unsettled:
            logger.warning(
                "epoch %d: %d of %d presentations had not settled (tau |dh/dt| > "
                "%g |h|); increase settle_tau",
                epoch + 1,
                unsettled,
                M,
                SETTLED_RTOL,
            )
        if on_epoch is not None:
            on_epoch(epoch, W, {k: np.asarray(v) for k, v in history.items()})
    return TrainResult(
        W=W,
        history={k: np.asarray(v) for k, v in history.items()},
        epochs_done=params.epochs,
        wall_time_s=time.perf_counter() - t_start,
        build_time_s=layer.build_time_s,
    )


def presentation_order(seed: int, epoch: int, n_images: int) -> np.ndarray:
    """The shuffled image order of one epoch, a function of (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(n_images)
