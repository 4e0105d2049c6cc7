"""Figures: the weight grid and the settling traces of hidden units."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

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
    import tempfile

    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    logger.info("wrote %s", path)
    return path
