"""Normalise the images of a data set: per-image unit norm or training-mean centring.

Every reader returns pixels in [0, 1], which is what the model of the design expects
(``v`` scaled to [0, 1]). :func:`normalise_dataset` derives a new :class:`Dataset`
from one of those, and the new data set records what was done in its ``normalise``
field.
"""

import dataclasses
import logging

import numpy as np

from .dataset import NORMALISE_MODES, Dataset
from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["NORMALISE_MODES", "check_normalise", "normalise_dataset"]


def check_normalise(normalise: object) -> str:
    """Return `normalise` if it names a known mode, else raise :class:`DatasetError`.

    Parameters
    ----------
    normalise : object
        Should be one of :data:`NORMALISE_MODES`.

    Returns
    -------
    str
        `normalise`, unchanged.

    Raises
    ------
    DatasetError
        If `normalise` is not one of ``"none"``, ``"unit"``, ``"center"``.
    """
    if not isinstance(normalise, str) or normalise not in NORMALISE_MODES:
        accepted = ", ".join(repr(m) for m in NORMALISE_MODES)
        raise DatasetError(f"normalise must be one of {accepted}; got {normalise!r}")
    return normalise


def normalise_dataset(dataset: Dataset, normalise: str) -> Dataset:
    r"""Return a copy of `dataset` with its images normalised.

    Parameters
    ----------
    dataset : Dataset
        A data set with pixels in [0, 1] (``dataset.normalise == "none"``).
    normalise : {"none", "unit", "center"}
        - ``"none"``: `dataset` itself is returned, pixels in [0, 1].
        - ``"unit"``: each image :math:`v` (a row of ``x_train`` or ``x_test``)
          becomes :math:`v / \lVert v \rVert_2`, so every image has unit Euclidean
          norm. All-zero images stay zero. Pixels stay in [0, 1].
        - ``"center"``: the mean image of the *training* set,
          :math:`\bar v_i = \frac{1}{n_{train}} \sum_n v_{n i}`, is subtracted from
          every training and test image. Pixels then lie in [-1, 1], no longer in
          [0, 1].

    Returns
    -------
    Dataset
        A new data set with the same name, labels, shape, files and source, and
        ``normalise`` set to the mode applied.

    Raises
    ------
    DatasetError
        If `normalise` is not a known mode, or `dataset` is already normalised
        (normalising twice would hide what the data are).

    Notes
    -----
    The design scales the input ``v`` to [0, 1]; ``"center"`` leaves that range
    and gives negative pixels, which the drive ``I`` then weighs like any others.
    The test set is centred with the training mean, never its own, so that no
    information flows from test to training data.
    """
    check_normalise(normalise)
    if normalise == "none":
        return dataset
    if dataset.normalise != "none":
        raise DatasetError(
            f"data set {dataset.name!r} is already normalised "
            f"({dataset.normalise!r}); normalise the raw [0, 1] data instead"
        )

    if normalise == "unit":
        x_train, x_test = _unit_rows(dataset.x_train), _unit_rows(dataset.x_test)
    else:
        # float64 accumulation: a float32 sum over 60,000 rows loses about 3 digits.
        mean = dataset.x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
        x_train = dataset.x_train - mean  # (n_train, N)
        x_test = dataset.x_test - mean  # (n_test, N)

    logger.info("normalised %s: %s", dataset.name, normalise)
    return dataclasses.replace(
        dataset, x_train=x_train, x_test=x_test, normalise=normalise
    )


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Divide each row by its L2 norm; all-zero rows stay zero. x: (n, N) float32."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))  # (n,)
    if x.size:
        # Rounding can put a float32 norm a hair below the largest pixel, which
        # would give a value just above 1; the norm is never below that pixel.
        norms = np.maximum(norms, x.max(axis=1))
    norms[norms == 0] = 1.0
    return (x / norms[:, None]).astype(np.float32, copy=False)
