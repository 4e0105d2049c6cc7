"""Download MNIST and Fashion-MNIST into a local cache, resumably and verified.

Each data set is its four gzipped IDX files, fetched from public mirrors tried in
order and checked against SHA-256 digests written in this module. A file is
downloaded into ``<file>.part``, continued with an HTTP Range request when a
``.part`` is already there, and renamed into place only once its digest matches.

The digests are those of the files as the original sites distribute them
(``yann.lecun.com`` for MNIST, Zalando Research for Fashion-MNIST), which every
mirror below serves byte for byte. Copies recompressed by someone else decompress to
the same IDX data but have other digests: the ``.gz`` files of Debian's
``dataset-fashion-mnist`` package are such copies, and are refused here.
:func:`~hebbsim.datasets.load_idx_dir` reads either kind.
"""

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import DatasetError

logger = logging.getLogger(__name__)

__all__ = ["DOWNLOADS", "MIRRORS", "default_cache_dir", "download"]

#: Data set -> base URLs, tried in this order; a file name is appended to each.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        # TensorFlow's copy; yann.lecun.com itself often refuses scripted clients.
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        # PyTorch's copy, used by torchvision.
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        # Zalando's own bucket; its website endpoint speaks plain HTTP only.
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

#: Data set -> file name -> hex SHA-256 of the file as distributed (gzipped).
DOWNLOADS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
        ),
    },
}

#: Environment variable naming the cache directory.
CACHE_ENV = "HEBBSIM_DATA"

_CHUNK = 1 << 16  # bytes per read; small enough for a smooth progress bar
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _TransferError(Exception):
    """One URL failed (HTTP error, network error, dropped connection)."""


def default_cache_dir() -> Path:
    """The download cache: ``$HEBBSIM_DATA`` if set, else ``~/.cache/hebbsim``.

    Returns
    -------
    pathlib.Path
        The directory (it may not exist yet).
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "hebbsim"


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    progress: bool = False,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download a data set's files into the cache, verifying each one.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
        The data set.
    cache_dir : str or path-like, optional
        Cache root; the files go to ``<cache_dir>/<name>/``. Default:
        :func:`default_cache_dir` (``$HEBBSIM_DATA``, else ``~/.cache/hebbsim``).
    base_url : str, optional
        An http(s) URL to fetch from instead of the mirrors in :data:`MIRRORS`; each
        file is requested as ``base_url`` + ``/`` + its name.
    progress : bool, default False
        Show a tqdm progress bar per file on stderr.
    checksums : mapping of str to str, optional
        File name -> hex SHA-256: the files to fetch and their digests. Default:
        the four files of `name` in :data:`DOWNLOADS`. For a private mirror of
        other bytes, and for tests.
    timeout : float, unit s, default 60
        Socket timeout of each connection attempt and read.

    Returns
    -------
    pathlib.Path
        The directory ``<cache>/<name>``, ready for
        :func:`~hebbsim.datasets.load_idx_dir` (or :func:`load_mnist`).

    Raises
    ------
    DatasetError
        If `name` is unknown, `base_url` is not http(s), a digest in `checksums` is
        not 64 hex digits, the cache directory cannot be created, every URL of a
        file failed (the message lists each URL and why; what arrived stays in the
        ``.part`` file for the next call to resume), or a downloaded file's digest
        differs from the expected one (the ``.part`` file is deleted and the
        message names the file, the expected and the received digest).

    Notes
    -----
    A file already in the cache with the expected digest is not fetched again; one
    with another digest is fetched again and replaced. Mirrors serve identical
    bytes, so a transfer cut off on one mirror resumes from the next. A server
    that ignores the Range header (answering 200 with the whole file) makes the
    download start over. Two processes downloading into the same cache at once
    may corrupt each other's ``.part`` file; the digest check then rejects it.
    """
    # Check every argument before touching the network or the disk.
    if name not in DOWNLOADS:
        accepted = ", ".join(repr(n) for n in DOWNLOADS)
        raise DatasetError(f"cannot download {name!r}: known data sets are {accepted}")
    table = dict(DOWNLOADS[name] if checksums is None else checksums)
    for filename, digest in table.items():
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise DatasetError(
                f"checksums[{filename!r}] = {digest!r}; expected a SHA-256 digest "
                "of 64 lowercase hex digits"
            )
    if base_url is None:
        bases = MIRRORS[name]
    else:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https"):
            raise DatasetError(
                f"base_url {base_url!r} has scheme {scheme!r}; expected an http:// "
                "or https:// URL"
            )
        bases = (base_url,)
    root = Path(cache_dir).expanduser() if cache_dir is not None else None
    directory = (root if root is not None else default_cache_dir()) / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"cannot create the download directory {directory}: {err.strerror or err}"
        ) from err

    logger.info("downloading %s into %s", name, directory)
    for filename, expected in table.items():
        _fetch(
            filename,
            expected,
            bases=bases,
            directory=directory,
            progress=progress,
            timeout=timeout,
        )
    return directory


def _fetch(
    filename: str,
    expected: str,
    *,
    bases: tuple[str, ...],
    directory: Path,
    progress: bool,
    timeout: float,
) -> None:
    """Make ``directory/filename`` a verified copy, downloading it if needed."""
    target = directory / filename
    part = directory / f"{filename}.part"
    if target.is_file():
        found = _sha256(target)
        if found == expected:
            logger.info("%s is already in the cache and verified", target)
            return
        logger.warning(
            "%s has SHA-256 %s, expected %s; downloading it again",
            target,
            found,
            expected,
        )

    # A .part left complete by an interrupted rename needs no network.
    if not (part.is_file() and _sha256(part) == expected):
        failures = []
        for base in bases:
            url = base.rstrip("/") + "/" + urllib.parse.quote(filename)
            try:
                _transfer(url, part, progress=progress, timeout=timeout)
            except _TransferError as err:
                logger.info("could not download %s: %s", url, err)
                failures.append(f"{url}: {err}")
                continue
            break
        else:
            kept = part.stat().st_size if part.is_file() else 0
            raise DatasetError(
                f"could not download {filename} from any URL ({'; '.join(failures)}); "
                f"{kept} bytes kept in {part}; run again to resume"
            )
        found = _sha256(part)
        if found != expected:
            part.unlink(missing_ok=True)
            raise DatasetError(
                f"downloaded {filename} has SHA-256 {found}, expected {expected}; "
                f"the download was deleted. The mirror serves other bytes: try "
                "another base URL"
            )

    os.replace(part, target)
    logger.info("downloaded and verified %s", target)


def _transfer(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Append the rest of `url` to `part`, or rewrite it if Range is ignored."""
    from hebbsim import __version__

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"hebbsim/{__version__} (Python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            # The .part is as long as the file or longer, yet did not verify: it is
            # not a prefix of this file. Start over.
            logger.info("%s refused to resume at byte %d; restarting", url, offset)
            part.unlink(missing_ok=True)
            return _transfer(url, part, progress=progress, timeout=timeout)
        raise _TransferError(f"HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or err
        raise _TransferError(f"{type(err).__name__}: {reason}") from err

    with response:
        # 206 continues the .part; anything else is the whole file from byte 0.
        length = response.headers.get("Content-Length")
        if offset and response.status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if match is None or int(match[1]) != offset:
                raise _TransferError(
                    f"asked to resume at byte {offset}, the server answered "
                    f"Content-Range {response.headers.get('Content-Range')!r}"
                )
            total = int(match[3]) if match[3] != "*" else None
            mode = "ab"
        else:
            if offset:
                logger.info(
                    "%s ignored the range request (status %d); downloading from the "
                    "start",
                    url,
                    response.status,
                )
            offset = 0
            total = int(length) if length and length.isdigit() else None
            mode = "wb"

        received = offset
        bar_args = dict(total=total, initial=offset, desc=part.name[: -len(".part")])
        try:
            with part.open(mode) as out, _progress_bar(progress, **bar_args) as bar:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as err:
                        raise _TransferError(
                            f"connection lost after {received} bytes "
                            f"({type(err).__name__}: {err})"
                        ) from err
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except OSError as err:
            # Network errors became _TransferError above; this is the local disk.
            raise DatasetError(f"cannot write {part}: {err.strerror or err}") from err
    if total is not None and received < total:
        raise _TransferError(f"connection closed after {received} of {total} bytes")


@contextmanager
def _progress_bar(enabled: bool, **kwargs: Any) -> Iterator[Any]:
    """A tqdm byte counter when enabled, else an object that ignores updates."""
    if not enabled:
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    with tqdm(unit="B", unit_scale=True, unit_divisor=1024, **kwargs) as bar:
        yield bar


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
