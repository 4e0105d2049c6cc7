"""Activity traces: how the hidden units settle for chosen images.

The Brian2 network runs with plasticity switched off (``eta = 0``) and a
StateMonitor on the chosen units; the recorded series is cut into one block per
presentation.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..models.params import LayerParams
from .layer import BrianLayer, effective_weights

logger = logging.getLogger(__name__)


@dataclass
class Traces:
    """Settling traces of hidden units, one block per image.

    Attributes
    ----------
    t_ms : ndarray, shape (S,)
        Time since the start of the presentation, in ms (monitor samples at the
        start of each step).
    units : ndarray of int, shape (U,)
        Recorded hidden units.
    h, r : ndarray, shape (B, U, S)
        Hidden state and rate (dimensionless).
    I : ndarray, shape (B, U)
        Drive of each unit for each image (dimensionless).
    h_final : ndarray, shape (B, U)
        h at the end of the presentation.
    h_star : float
        Learning threshold.
    """

    t_ms: np.ndarray
    units: np.ndarray
    h: np.ndarray
    r: np.ndarray
    I: np.ndarray
    h_final: np.ndarray
    h_star: float


def simulate_traces(
    W: np.ndarray,
    params: LayerParams,
    images: np.ndarray,
    *,
    units: list[int] | None = None,
    n_top: int = 5,
    device: str = "cpu",
) -> Traces:
    """Present ``images`` to a network with weights ``W`` and record the settling.

    Parameters
    ----------
    W : ndarray, shape (K, N)
        Weights (unchanged: plasticity is off).
    params : LayerParams
        Dynamics (``tau_ms``, ``settle_tau``, ``dt_tau``, ``w_inh``, ``n``).
    images : ndarray, shape (B, N)
        Images to present, in order.
    units : list of int, optional
        Units to record; default the union of the ``n_top`` units with the
        largest drive for each image.
    n_top : int
        Units per image when ``units`` is not given.
    device : str
        Brian2 target.

    Returns
    -------
    Traces
    """
    images = np.asarray(images, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if images.ndim != 2 or images.shape[1] != W.shape[1]:
        raise ValueError(
            f"images must have shape (B, {W.shape[1]}) to match W, got {images.shape}"
        )
    I_all = images @ effective_weights(W, params.p).T  # (B, K)
    if units is None:
        top = np.argsort(-I_all, axis=1)[:, :n_top]
        units = sorted(set(top.ravel().tolist()))
    units = [int(u) for u in units]
    if not units or min(units) < 0 or max(units) >= W.shape[0]:
        raise ValueError(f"units must be in 0..{W.shape[0] - 1}, got {units}")
    B = images.shape[0]
    layer = BrianLayer(
        params.replace(K=W.shape[0]),
        images,
        n_presentations=B,
        device=device,
        record_units=units,
    )
    _, log = layer.present(W, np.arange(B), eta_start=0.0, eta_end=0.0)
    rec = layer.traces()
    S = params.steps_per_presentation
    h = rec["h"].reshape(len(units), B, S).transpose(1, 0, 2)
    r = rec["r"].reshape(len(units), B, S).transpose(1, 0, 2)
    t_ms = np.arange(S) * params.dt_tau * params.tau_ms
    # The monitor samples before each step's update; the value after the last
    # update is the steady state the learn event sees. Active units report it
    # in the log; for inactive ones one more Euler step from the last sample is
    # below the residual shown.
    h_final = h[:, :, -1].copy()
    for b, mu, hv in zip(log.presentation, log.unit, log.h, strict=True):
        if mu in units:
            h_final[b, units.index(mu)] = hv
    return Traces(
        t_ms=t_ms,
        units=np.asarray(units),
        h=h,
        r=r,
        I=I_all[:, units],
        h_final=h_final,
        h_star=params.h_star,
    )


def save_traces(path: str | os.PathLike[str], tr: Traces, *, attrs: dict) -> Path:
    """Write traces to HDF5 (temporary file, then renamed into place)."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = "hebbsim-traces"
        f.attrs["format_version"] = 1
        for k, v in attrs.items():
            f.attrs[k] = v
        d = f.create_dataset("t", data=tr.t_ms)
        d.attrs["units"] = "ms"
        d.attrs["description"] = "time since presentation start"
        for name, arr, desc in (
            ("h", tr.h, "hidden state, (image, unit, time)"),
            ("r", tr.r, "rate r(h), (image, unit, time)"),
            ("I", tr.I, "drive, (image, unit)"),
            ("h_final", tr.h_final, "h at the end of the presentation"),
        ):
            d = f.create_dataset(name, data=arr)
            d.attrs["units"] = "1"
            d.attrs["description"] = desc
        f.create_dataset("units", data=tr.units).attrs["units"] = "1"
    logger.info("wrote %s", path)
    return Path(path)
