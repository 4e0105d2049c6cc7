"""Load MNIST-format data sets: a directory of four IDX files.

MNIST and Fashion-MNIST ship the same four files, each plain or gzipped::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte
"""

import logging
import os
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import DatasetError
from .idx import read_idx_with_digest

logger = logging.getLogger(__name__)

__all__ = [
    "FASHION_MNIST_DEFAULT_DIR",
    "IDX_FILES",
    "load_fashion_mnist",
    "load_idx_dir",
    "load_mnist",
]

#: (split, role) -> file name without the optional ``.gz`` suffix.
IDX_FILES: dict[tuple[str, str], str] = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

#: Where Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST.
FASHION_MNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")


def load_idx_dir(
    directory: str | os.PathLike[str], *, name: str | None = None
) -> Dataset:
    """Load a data set stored as four MNIST-format IDX files in one directory.

    Parameters
    ----------
    directory : str or path-like
        Holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each either plain
        or with a ``.gz`` suffix. ``~`` is expanded.
    name : str, optional
        Name of the data set. Default: the directory's name.

    Returns
    -------
    Dataset
        Images flattened to rows of float32 in [0, 1] (byte values divided by 255),
        labels as int64, ``image_shape`` from the image files' dimensions, and the
        SHA-256 of each file as stored.

    Raises
    ------
    DatasetError
        If the directory or one of the files is missing (the message lists the names
        looked for), a file is not valid IDX, the images are not unsigned bytes with
        at least two dimensions, the labels are not a 1-D array of unsigned bytes, an
        image file and its label file hold different counts, or the training and test
        images differ in shape.

    Notes
    -----
    Where both ``name`` and ``name.gz`` exist, the plain file is read.
    """
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DatasetError(
            f"IDX data directory {directory} does not exist or is not a directory"
        )
    name = directory.resolve().name if name is None else name

    # Find all four files before reading any, so one error lists every gap.
    paths = {}
    missing = []
    for key, stem in IDX_FILES.items():
        candidates = [directory / stem, directory / f"{stem}.gz"]
        found = [p for p in candidates if p.is_file()]
        if found:
            paths[key] = found[0]
        else:
            missing.append(" or ".join(p.name for p in candidates))
    if missing:
        raise DatasetError(
            f"IDX data directory {directory} lacks {len(missing)} of the 4 files; "
            f"looked for: {'; '.join(missing)}"
        )

    # Read and check each split; pixels become float32 in [0, 1].
    files: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    image_shapes: dict[str, tuple[int, ...]] = {}
    for split in ("train", "test"):
        images_path = paths[(split, "images")]
        labels_path = paths[(split, "labels")]
        images, files[images_path.name] = read_idx_with_digest(images_path)
        labels, files[labels_path.name] = read_idx_with_digest(labels_path)
        if images.dtype != np.uint8 or images.ndim < 2:
            raise DatasetError(
                f"image file {images_path} holds a {images.ndim}-D {images.dtype} "
                "array; expected unsigned bytes (type 0x08) with at least 2 "
                "dimensions (images x pixels...)"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DatasetError(
                f"label file {labels_path} holds a {labels.ndim}-D {labels.dtype} "
                "array; expected a 1-D array of unsigned bytes (type 0x08)"
            )
        if images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{images_path.name} holds {images.shape[0]} images but "
                f"{labels_path.name} holds {labels.shape[0]} labels (in {directory}); "
                "expected one label per image"
            )
        image_shapes[split] = images.shape[1:]
        x = images.reshape(images.shape[0], -1).astype(np.float32)  # (n, N)
        x /= 255.0
        arrays[f"x_{split}"] = x
        arrays[f"y_{split}"] = labels.astype(np.int64)
    if image_shapes["train"] != image_shapes["test"]:
        raise DatasetError(
            f"in {directory}, training images have shape {image_shapes['train']} but "
            f"test images {image_shapes['test']}; expected the same shape"
        )

    dataset = Dataset(
        name=name,
        image_shape=image_shapes["train"],
        files=files,
        source=str(directory),
        **arrays,
    )
    logger.info(
        "loaded %s from %s: %d training and %d test images of %s pixels",
        name,
        directory,
        dataset.n_train,
        dataset.n_test,
        "x".join(str(d) for d in dataset.image_shape),
    )
    return dataset


def load_mnist(directory: str | os.PathLike[str]) -> Dataset:
    """Load MNIST from a directory of its four IDX files.

    Parameters
    ----------
    directory : str or path-like
        Holds the four MNIST IDX files, plain or gzipped; see :func:`load_idx_dir`.

    Returns
    -------
    Dataset
        Named ``"mnist"``: 60,000 training and 10,000 test images of 28 x 28 for the
        original release.

    Raises
    ------
    DatasetError
        As :func:`load_idx_dir`.
    """
    return load_idx_dir(directory, name="mnist")


def load_fashion_mnist(directory: str | os.PathLike[str] | None = None) -> Dataset:
    """Load Fashion-MNIST from a directory of its four IDX files.

    Parameters
    ----------
    directory : str or path-like, optional
        Holds the four Fashion-MNIST IDX files, plain or gzipped. Default:
        ``/usr/share/datasets/fashion-mnist``, where Debian's
        ``dataset-fashion-mnist`` package installs them.

    Returns
    -------
    Dataset
        Named ``"fashion-mnist"``: 60,000 training and 10,000 test images of 28 x 28.

    Raises
    ------
    DatasetError
        If `directory` is None and the default directory does not exist, or as
        :func:`load_idx_dir`.
    """
    if directory is None:
        if not FASHION_MNIST_DEFAULT_DIR.is_dir():
            raise DatasetError(
                f"Fashion-MNIST was not found at {FASHION_MNIST_DEFAULT_DIR}, where "
                "Debian's dataset-fashion-mnist package installs it; install that "
                "package or pass the directory holding its four IDX files"
            )
        directory = FASHION_MNIST_DEFAULT_DIR
        logger.info("reading Fashion-MNIST from its default place, %s", directory)
    return load_idx_dir(directory, name="fashion-mnist")
