"""Writing files so that an interruption never leaves a half-written one.

Every output of hebbsim (HDF5 files, reports, figures) is written under a hidden
temporary name in the target's directory and renamed into place, which POSIX
makes atomic within one file system.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    Parameters
    ----------
    path : path
        The file to create or replace. Its directory is created if missing.
    suffix : str
        Suffix of the temporary name, for writers that infer the format from it
        (matplotlib: ``".png"``).

    Notes
    -----
    On any exception, KeyboardInterrupt included, the temporary file is removed
    and an existing ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    logger.info("wrote %s", path)
    return Path(path)
