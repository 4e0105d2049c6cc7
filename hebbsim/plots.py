"""Figures: the weight grid and the settling traces of hidden units."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path

logger = logging.getLogger(__name__)


def weight_grid(
    W: np.ndarray,
    image_shape: tuple[int, ...],
    path: str | os.PathLike[str],
    *,
    max_units: int = 100,
    title: str | None = None,
) -> Path:
    """Draw the receptive fields (rows of W) as images in a grid; save a PNG.

    Each tile is scaled to its own largest ``|W|`` with a diverging colour map,
    red positive and blue negative, so the sign structure of every unit reads the
    same whatever its norm.

    Parameters
    ----------
    W : ndarray, shape (K, N)
        Weights; ``N`` must equal the product of ``image_shape`` (or of its
        first two entries times 3 for colour images, drawn as grey).
    image_shape : tuple of int
        Shape of one image, e.g. ``(28, 28)``.
    path : path
        PNG to write (written to a temporary file, then renamed into place).
    max_units : int
        Units drawn, the first ``max_units`` rows.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    W = np.asarray(W)
    shape = tuple(int(s) for s in image_shape)
    if int(np.prod(shape)) != W.shape[1]:
        raise ValueError(
            f"image_shape {shape} has {int(np.prod(shape))} pixels but W has "
            f"{W.shape[1]} columns"
        )
    if len(shape) == 3:  # colour: average the channels for display
        tiles = W.reshape(-1, *shape).mean(axis=-1)
    else:
        tiles = W.reshape(-1, *shape)
    n = min(max_units, tiles.shape[0])
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.4))
    axes = np.atleast_1d(axes).ravel()
    for ax in axes:
        ax.axis("off")
    for mu in range(n):
        lim = float(np.abs(tiles[mu]).max()) or 1.0
        axes[mu].imshow(tiles[mu], cmap="bwr", vmin=-lim, vmax=lim)
    fig.suptitle(title or f"first-layer weights, {n} of {W.shape[0]} units")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | os.PathLike[str]) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)
    return path


def trace_plot(tr, path: str | os.PathLike[str], *, n_show: int = 4) -> Path:
    """Plot h(t) of the most driven recorded units for each image; save a PNG.

    The learning threshold h* is drawn dashed, each unit's final (steady) h as
    a dot at the right edge, and h = 0 in grey.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    B = tr.h.shape[0]
    fig, axes = plt.subplots(1, B, figsize=(4.2 * B, 3.4), squeeze=False)
    for b, ax in enumerate(axes[0]):
        order = np.argsort(-tr.I[b])[:n_show]
        for j in order:
            (line,) = ax.plot(tr.t_ms, tr.h[b, j], lw=1.2, label=f"unit {tr.units[j]}")
            ax.plot(tr.t_ms[-1], tr.h_final[b, j], "o", color=line.get_color())
        ax.axhline(tr.h_star, ls="--", color="k", lw=0.8, label="h*")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.set_xlabel("time (ms)")
        ax.set_title(f"image {b}")
        top = float(np.max(tr.h_final[b, order]))
        ax.set_ylim(-1.5 * max(top, tr.h_star), 1.6 * max(top, tr.h_star))
        ax.legend(fontsize=7, loc="upper right")
    axes[0][0].set_ylabel("h (dimensionless)")
    fig.suptitle("hidden units settling under global inhibition")
    fig.tight_layout()
    return _save(fig, path)


def pnorm_plot(
    pnorm: np.ndarray, R: float, path: str | os.PathLike[str], *, p: float
) -> Path:
    """Plot the rows' p-norms after each epoch against the target radius R.

    Parameters
    ----------
    pnorm : ndarray, shape (E + 1, K)
        Row p-norms before training (row 0) and after each epoch.
    R : float
        Radius of the p-sphere the rule drives each row to.
    path : path
        PNG to write.
    p : float
        Lebesgue exponent, for the labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pnorm = np.asarray(pnorm)
    epochs = np.arange(pnorm.shape[0])
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    lo, med, hi = np.percentile(pnorm, [10, 50, 90], axis=1)
    ax.fill_between(epochs, lo, hi, alpha=0.3, label="10th to 90th percentile")
    ax.plot(epochs, med, "o-", label="median row")
    ax.axhline(R, ls="--", color="k", lw=0.8, label=f"R = {R:g}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"row {p:g}-norm (dimensionless)")
    ax.set_title("rows converging to the p-sphere")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
