"""Load CIFAR-10 from its official Python batch directory.

The "CIFAR-10 python version" archive unpacks to ``cifar-10-batches-py/``::

    data_batch_1 ... data_batch_5   10,000 training images each
    test_batch                      10,000 test images
    batches.meta                    the 10 class names

Each batch is a pickled dict: ``b"data"``, a uint8 array of shape (10000, 3072) whose
rows hold the 1,024 red, then 1,024 green, then 1,024 blue values of a 32 x 32
image, each plane row-major; ``b"labels"``, a list of 10,000 ints in 0-9; and
``b"batch_label"``, ``b"filenames"``. ``batches.meta`` holds ``b"label_names"``.

The batches are read with a restricted unpickler (see :class:`_BatchUnpickler`): a
pickle can name any importable callable and call it while loading, so plain
:func:`pickle.load` on a damaged or hostile file could run arbitrary code.
"""

import codecs
import hashlib
import io
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import Dataset
from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["CIFAR10_FILES", "FLATTEN_MODES", "load_cifar10", "read_cifar_batch"]

#: The files of the official Python batch directory, in the order they are read.
CIFAR10_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
)

#: Accepted values of ``flatten``: luminance or interleaved RGB.
FLATTEN_MODES = ("grey", "colour")

_SIDE = 32
_PLANE = _SIDE * _SIDE  # pixels per colour plane
_ROW = 3 * _PLANE  # bytes per image in a batch

# ITU-R BT.601 luma weights, as used by most RGB-to-grey conversions; they sum to 1,
# so a grey value stays within the range of its channels.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode``, which protocol-2 pickles use for bytes."""
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"_codecs.encode with encoding {encoding!r}; only latin1 is allowed"
        )
    return codecs.encode(text, "latin1")


# Everything a CIFAR-10 batch refers to by name. Dicts, lists, bytes, str and ints
# are built by pickle opcodes without a name; numpy arrays need their
# reconstructors, found here from numpy itself so that both numpy.core (numpy 1,
# Python 2 era pickles) and numpy._core (numpy 2) names resolve to them.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]
_FROMBUFFER = np.ndarray.__reduce_ex__(np.zeros(1, np.uint8), 5)[0]
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("_codecs", "encode"): _latin1_encode,
}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names a CIFAR-10 batch needs.

    ``find_class`` is the one place where a pickle reaches outside plain data;
    refusing every name but numpy's array reconstructors (and a latin1-only
    ``_codecs.encode``) leaves a hostile file nothing to call.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}, which a CIFAR-10 batch never needs; "
                "refusing to load it"
            ) from None


def read_cifar_batch(
    path: str | os.PathLike[str],
) -> tuple[dict[str, Any], str]:
    """Unpickle one CIFAR-10 file safely.

    Parameters
    ----------
    path : str or path-like
        A batch (``data_batch_1``, ``test_batch``, ...) or ``batches.meta``.

    Returns
    -------
    contents : dict of str to object
        The pickled dict, with keys decoded from bytes to str (``"data"``,
        ``"labels"``, ``"label_names"``, ...); values as stored.
    sha256 : str
        Hex SHA-256 of the file's bytes.

    Raises
    ------
    DatasetError
        If the file cannot be read, is not a pickle, is truncated, refers to
        anything but numpy arrays and plain data, or does not hold a dict.

    Notes
    -----
    The pickles of the official archive were written by Python 2; their str
    values load as bytes (``encoding="bytes"``), as the CIFAR-10 page advises.
    """
    path = Path(path)
    try:
        stored = path.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"cannot read CIFAR-10 file {path}: {err.strerror or err}"
        ) from err
    digest = hashlib.sha256(stored).hexdigest()

    # Unpickle from memory: a damaged length field then fails at the end of the
    # buffer instead of asking the file system for gigabytes.
    try:
        contents = _BatchUnpickler(io.BytesIO(stored), encoding="bytes").load()
    except Exception as err:
        # Damaged pickles raise nearly anything (UnpicklingError, EOFError,
        # ValueError, TypeError, KeyError, IndexError, MemoryError, ...); all mean
        # the same to the caller.
        raise DatasetError(
            f"CIFAR-10 file {path} is damaged or not a CIFAR-10 pickle: "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(contents, dict):
        raise DatasetError(
            f"CIFAR-10 file {path} holds a pickled {type(contents).__name__}; "
            "expected a dict"
        )
    decoded = {}
    for key, value in contents.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        decoded[key] = value
    return decoded, digest


def load_cifar10(
    directory: str | os.PathLike[str], *, flatten: str = "grey"
) -> Dataset:
    """Load CIFAR-10 from the official Python batch directory.

    Parameters
    ----------
    directory : str or path-like
        ``cifar-10-batches-py``, holding ``data_batch_1`` to ``data_batch_5``,
        ``test_batch`` and ``batches.meta``. ``~`` is expanded.
    flatten : {"grey", "colour"}, default "grey"
        How an image becomes a row of N pixels:

        - ``"grey"``: luminance ``0.299 R + 0.587 G + 0.114 B`` per pixel, N = 1024,
          ``image_shape`` (32, 32), row-major;
        - ``"colour"``: all three channels, N = 3072, ``image_shape`` (32, 32, 3),
          pixel-major with the channels interleaved: ``x[n, 3 * (32 * r + c) + ch]``
          is channel ``ch`` (0 R, 1 G, 2 B) of row ``r``, column ``c``, so
          ``x[n].reshape(32, 32, 3)`` is the image in height x width x channel
          order. The batches store channel-major planes; this reorders them.

    Returns
    -------
    Dataset
        Named ``"cifar10"``: 50,000 training and 10,000 test images, pixels
        (byte values divided by 255) in [0, 1], labels 0-9, and the SHA-256 of all
        seven files.

    Raises
    ------
    DatasetError
        If `flatten` is not ``"grey"`` or ``"colour"``, the directory or any of the
        seven files is missing (one message lists them all), a file is damaged or
        unsafe (see :func:`read_cifar_batch`), a batch lacks ``data`` or ``labels``,
        its data is not uint8 of shape (n, 3072), its labels do not number n or
        fall outside the class names of ``batches.meta``.
    """
    if flatten not in FLATTEN_MODES:
        raise DatasetError(
            f"flatten must be 'grey' or 'colour' for CIFAR-10, got {flatten!r}"
        )
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise DatasetError(
            f"CIFAR-10 directory {directory} does not exist or is not a directory; "
            "expected the unpacked cifar-10-batches-py folder"
        )
    missing = [name for name in CIFAR10_FILES if not (directory / name).is_file()]
    if missing:
        raise DatasetError(
            f"CIFAR-10 directory {directory} lacks {len(missing)} of the "
            f"{len(CIFAR10_FILES)} files: {', '.join(missing)}"
        )

    # The class names bound the labels.
    files: dict[str, str] = {}
    meta, files["batches.meta"] = read_cifar_batch(directory / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or not names:
        raise DatasetError(
            f"CIFAR-10 file {directory / 'batches.meta'} has no list 'label_names' "
            f"(found {type(names).__name__}); expected the class names"
        )
    logger.debug("CIFAR-10 classes: %s", names)

    # Read the batches; images stay bytes until the end, to keep memory low.
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for name in CIFAR10_FILES[:-1]:
        split = "test" if name == "test_batch" else "train"
        data, labels, files[name] = _read_images(directory / name, len(names))
        parts[split].append((data, labels))

    arrays: dict[str, np.ndarray] = {}
    for split, batches in parts.items():
        data = np.concatenate([d for d, _ in batches])  # (n, 3072) uint8
        arrays[f"x_{split}"] = _flatten(data, flatten)
        arrays[f"y_{split}"] = np.concatenate([y for _, y in batches])
    image_shape = (_SIDE, _SIDE) if flatten == "grey" else (_SIDE, _SIDE, 3)
    dataset = Dataset(
        name="cifar10",
        image_shape=image_shape,
        files=files,
        source=str(directory),
        **arrays,
    )
    logger.info(
        "loaded cifar10 (%s) from %s: %d training and %d test images of %s pixels",
        flatten,
        directory,
        dataset.n_train,
        dataset.n_test,
        "x".join(str(d) for d in image_shape),
    )
    return dataset


def _read_images(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Read and check one batch: uint8 data (n, 3072), int64 labels (n,), sha256."""
    contents, digest = read_cifar_batch(path)
    for key in ("data", "labels"):
        if key not in contents:
            raise DatasetError(
                f"CIFAR-10 batch {path} has no {key!r} entry; found keys "
                f"{sorted(map(str, contents))}"
            )
    data = contents["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        found = (
            f"a {data.ndim}-D {data.dtype} array"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise DatasetError(
            f"CIFAR-10 batch {path}: 'data' is {found}; expected a uint8 array of "
            f"shape (n, {_ROW})"
        )
    if data.shape[1] != _ROW:
        raise DatasetError(
            f"CIFAR-10 batch {path}: 'data' has {data.shape[1]} values per image; "
            f"expected {_ROW} (3 planes of 32 x 32)"
        )
    try:
        labels = np.asarray(contents["labels"])
        valid = labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer)
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise DatasetError(f"CIFAR-10 batch {path}: 'labels' is not a list of integers")
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(
            f"CIFAR-10 batch {path} holds {data.shape[0]} images but "
            f"{labels.shape[0]} labels; expected one label per image"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(
            f"CIFAR-10 batch {path} holds labels in [{labels.min()}, "
            f"{labels.max()}]; expected 0 to {n_classes - 1} (one per class name in "
            "batches.meta)"
        )
    return data, labels.astype(np.int64), digest


def _flatten(data: np.ndarray, flatten: str) -> np.ndarray:
    """Turn channel-major uint8 rows (n, 3072) into float32 rows in [0, 1]."""
    planes = data.reshape(data.shape[0], 3, _PLANE)  # (n, 3, 1024): R, G, B
    if flatten == "grey":
        # Channel by channel: one float32 plane at a time, not all three (600 MB
        # for the training set).
        grey = planes[:, 0] * _LUMA[0]  # (n, 1024) float32
        grey += planes[:, 1] * _LUMA[1]
        grey += planes[:, 2] * _LUMA[2]
        grey /= np.float32(255.0)
        # The weights sum to 1 only up to float32 rounding.
        return np.clip(grey, 0.0, 1.0, out=grey)
    rgb = planes.transpose(0, 2, 1).reshape(data.shape[0], _ROW)  # (n, 3072)
    return rgb.astype(np.float32) / np.float32(255.0)
