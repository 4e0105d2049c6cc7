"""``hebbsim download``: fetch MNIST or Fashion-MNIST into the local cache.

A thin layer over :func:`hebbsim.datasets.download`. Wire it into the main parser
with ``add_parser(sub)``; the subcommand sets ``func=cmd_download``.
"""

from __future__ import annotations

import argparse
import sys

# Kept here rather than imported so that --help needs no data-set code.
_NAMES = ("mnist", "fashion-mnist")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``download`` subcommand to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        What ``ArgumentParser.add_subparsers`` returned.

    Returns
    -------
    argparse.ArgumentParser
        The new subparser, its ``func`` default set to :func:`cmd_download`.
    """
    p = sub.add_parser(
        "download",
        help="download MNIST or Fashion-MNIST into the local cache, verified",
        description="Download the four gzipped IDX files of a data set from its "
        "public mirrors (or --base-url), resuming interrupted downloads and "
        "checking each file's SHA-256, into CACHE/NAME. Prints that directory, "
        "which --data mnist:DIR or fashion-mnist:DIR then reads.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("name", choices=_NAMES, help="data set to download")
    p.add_argument(
        "--cache-dir",
        default=None,
        help="cache root (default: $HEBBSIM_DATA, else ~/.cache/hebbsim)",
    )
    p.add_argument(
        "--base-url",
        default=None,
        help="fetch from this http(s) URL instead of the public mirrors "
        "(default: the mirrors, in order)",
    )
    p.set_defaults(func=cmd_download)
    return p


def cmd_download(args: argparse.Namespace) -> int:
    """Run ``hebbsim download`` and print the directory holding the files.

    Parameters
    ----------
    args : argparse.Namespace
        ``name``, ``cache_dir`` and ``base_url`` as parsed by :func:`add_parser`.

    Returns
    -------
    int
        0 on success; failures raise :class:`~hebbsim.datasets.DatasetError`, a
        ``ValueError``, which the main command turns into one line and status 2.
    """
    from .datasets import download

    directory = download(
        args.name,
        cache_dir=args.cache_dir,
        base_url=args.base_url,
        progress=sys.stderr.isatty(),
    )
    print(directory)
    return 0
