"""Read and write IDX files, the binary format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, one big-endian ``uint32`` per dimension, then the
values in C order, big-endian. The magic number is two zero bytes, a type code and the
number of dimensions. Files are often shipped gzipped; the reader recognises gzip by its
first two bytes (``1f 8b``), whatever the file is called.
"""

import gzip
import hashlib
import logging
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["IDX_TYPES", "read_idx", "write_idx"]

#: IDX type code -> big-endian NumPy dtype, as defined with the MNIST release.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_TYPE_NAMES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_ACCEPTED_TYPES = ", ".join(
    f"0x{code:02X} ({name})" for code, name in _TYPE_NAMES.items()
)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzipped or not, into a NumPy array.

    Parameters
    ----------
    path : str or path-like
        The file. It is decompressed when it starts with the gzip magic bytes
        ``1f 8b``, whether or not its name ends in ``.gz``.

    Returns
    -------
    numpy.ndarray
        A writable array with the file's shape and its element type in native byte
        order: ``uint8`` for type code ``0x08`` (MNIST images and labels), ``int8``,
        ``int16``, ``int32``, ``float32`` or ``float64`` for the others.

    Raises
    ------
    DatasetError
        If the file cannot be read, is empty, is a damaged or truncated gzip stream,
        does not start with a valid IDX magic number, or holds a number of bytes that
        does not match its declared dimensions. The message names the path.
    """
    array, _ = read_idx_with_digest(path)
    return array


def read_idx_with_digest(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """Read an IDX file as :func:`read_idx` does, and hash the bytes as stored.

    Parameters
    ----------
    path : str or path-like
        The file, gzipped or not.

    Returns
    -------
    array : numpy.ndarray
        The values, as returned by :func:`read_idx`.
    sha256 : str
        Hex SHA-256 of the file's bytes as stored (compressed, if it is gzipped), so
        it can be compared with published checksums of the ``.gz`` files.

    Raises
    ------
    DatasetError
        As :func:`read_idx`.
    """
    path = Path(path)
    try:
        stored = path.read_bytes()
    except OSError as err:
        raise DatasetError(
            f"cannot read IDX file {path}: {err.strerror or err}"
        ) from err
    digest = hashlib.sha256(stored).hexdigest()
    if not stored:
        raise DatasetError(f"IDX file {path} is empty; expected an IDX header and data")

    # From here on `data` holds the uncompressed IDX bytes.
    if stored[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(stored)
        except EOFError as err:
            raise DatasetError(
                f"gzip file {path} is truncated ({len(stored)} bytes stored): the "
                "compressed stream ends before its end marker; download it again"
            ) from err
        except (OSError, zlib.error) as err:
            raise DatasetError(
                f"gzip file {path} is damaged ({err}); download it again"
            ) from err
        logger.debug("decompressed %s: %d -> %d bytes", path, len(stored), len(data))
        if not data:
            raise DatasetError(
                f"IDX file {path} decompresses to nothing; expected an IDX header "
                "and data"
            )
    else:
        data = stored

    return _parse_idx(data, path), digest


def _parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Check an uncompressed IDX byte string against its header and decode it."""
    # The magic number: two zero bytes, a known type code, a dimension count.
    if len(data) < 4:
        raise DatasetError(
            f"IDX file {path} is {len(data)} bytes long, too short for the 4-byte "
            "IDX magic number"
        )
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(
            f"{path} is not an IDX file: its magic number starts with bytes "
            f"{data[0]:02x} {data[1]:02x}, expected 00 00 (or gzip's 1f 8b)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise DatasetError(
            f"IDX file {path} has type code 0x{code:02X}; expected one of "
            f"{_ACCEPTED_TYPES}"
        )
    if ndim == 0:
        raise DatasetError(
            f"IDX file {path} declares 0 dimensions; expected at least 1"
        )

    # The dimensions: one big-endian uint32 each.
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(
            f"IDX file {path} declares {ndim} dimensions, which need a "
            f"{header_len}-byte header, but holds only {len(data)} bytes"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))

    # The payload must hold exactly prod(shape) values; a longer file is as suspect
    # as a shorter one (a wrong header or two files concatenated).
    dtype = IDX_TYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header_len
    if found != expected:
        dims = " x ".join(str(d) for d in shape)
        raise DatasetError(
            f"IDX file {path} declares dimensions {dims} of {_TYPE_NAMES[code]} "
            f"values, which need {expected} data bytes, but holds {found}; the file "
            "is truncated or its header is wrong"
        )

    values = np.frombuffer(data, dtype, offset=header_len).reshape(shape)
    return values.astype(dtype.newbyteorder("="), copy=True)


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Write an array as an IDX file.

    Parameters
    ----------
    path : str or path-like
        The file to write; it is overwritten.
    array : numpy.ndarray
        At least one dimension, each below 2**32, of dtype ``uint8``, ``int8``,
        ``int16``, ``int32``, ``float32`` or ``float64``.
    compress : bool, optional
        Gzip the file. Default: when `path` ends in ``.gz``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    DatasetError
        If the array's dtype has no IDX type code or its shape cannot be stored.

    Notes
    -----
    Compressed files carry a zero modification time, so the same array always gives
    the same bytes.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        accepted = ", ".join(str(d) for d in codes)
        raise DatasetError(
            f"cannot write {path}: IDX has no type for dtype {array.dtype}; "
            f"expected one of {accepted}"
        )
    if array.ndim == 0 or array.ndim > 255 or max(array.shape) >= 2**32:
        raise DatasetError(
            f"cannot write {path}: shape {array.shape} cannot be stored in IDX; "
            "expected 1 to 255 dimensions, each below 2**32"
        )

    header = bytes([0, 0, codes[native], array.ndim])
    header += np.asarray(array.shape, dtype=">u4").tobytes()
    data = (
        header + np.ascontiguousarray(array, dtype=IDX_TYPES[codes[native]]).tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    logger.debug("wrote IDX file %s: shape %s, %d bytes", path, array.shape, len(data))
    return path
