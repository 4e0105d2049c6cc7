"""Run the reproduction sweep unattended and regenerate its report.

Usage (from the repository root)::

    .venv/bin/python benchmarks/reproduce.py results/reproduction/sweep.toml
    .venv/bin/python benchmarks/reproduce.py results/reproduction/sweep.toml \\
        --only mnist-k2000
    .venv/bin/python benchmarks/reproduce.py results/reproduction/sweep.toml \\
        --report-only

Outputs go into the folder of the sweep file, one folder per run, and
``REPORT.md`` beside it. Completed runs are skipped and an interrupted run
resumes (see :mod:`hebbsim.reproduce`). Runs use one torch thread unless
``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="sweep TOML file")
    parser.add_argument("--only", nargs="+", metavar="RUN", help="run names to run")
    parser.add_argument(
        "--report-only", action="store_true", help="only regenerate REPORT.md"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )

    from hebbsim.report import regenerate_report
    from hebbsim.reproduce import run_sweep

    results_dir = args.sweep.parent
    try:
        if not args.report_only:
            run_sweep(args.sweep, results_dir, only=args.only, threads=args.threads)
        regenerate_report(results_dir)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
