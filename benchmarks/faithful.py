"""Benchmark of the Brian2 engine: presentations per second, build time, memory.

Trains the first layer for one pass over MNIST training images (K = 2000,
N = 784 by default) with the C++ standalone target and prints, side by side in
the same run, the baseline (the plain Brian2 formulation: summed variable for the
pool, learn condition on g; one thread) and the optimised network with one and
two OpenMP threads. For each: build time (code
generation and compilation, reported apart), presentations per second, the peak
resident memory of the simulation binary and of this Python process, and with
``--profile`` Brian2's profiling summary (time per code object).

    .venv/bin/python benchmarks/faithful.py --limit 5000 --profile

The binary's peak memory is VmHWM read from /proc while it runs (polled every
20 ms, the last reading before it exits).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _binary_peak_rss_mib(directory: Path, stop: threading.Event, out: list) -> None:
    target = str(directory / "main")
    peak = 0
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
                if exe != target:
                    continue
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
            except OSError:
                continue
        time.sleep(0.02)
    out.append(peak / 1024)


def run_one(
    X, params, threads: int, directory: Path, profile: bool, reference: bool
) -> dict:
    import brian2

    from hebbsim.simulator.layer import BrianLayer
    from hebbsim.simulator.train import initial_weights

    layer = BrianLayer(
        params,
        X,
        n_presentations=len(X),
        threads=threads,
        directory=directory,
        profile=profile,
        reference=reference,
    )
    W0 = initial_weights(params, X.shape[1])
    stop, peak = threading.Event(), []
    watcher = threading.Thread(
        target=_binary_peak_rss_mib, args=(directory.resolve(), stop, peak)
    )
    watcher.start()
    t0 = time.perf_counter()
    W, log = layer.present(W0, np.arange(len(X)), eta_start=params.eta, eta_end=0.0)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    summary = str(brian2.profiling_summary(layer.net, show=12)) if profile else ""
    return {
        "formulation": "reference" if reference else "optimised",
        "threads": threads,
        "build_s": layer.build_time_s,
        "run_s": wall,
        "rate": len(X) / wall,
        "binary_peak_mib": peak[0] if peak else float("nan"),
        "active_mean": float(log.active_counts().mean()),
        "profile": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/mnist"))
    parser.add_argument("--K", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=5000, help="images presented")
    parser.add_argument("--threads", default="0,2", help="OpenMP threads to compare")
    parser.add_argument("--settle-tau", type=float, default=None)
    parser.add_argument("--dt-tau", type=float, default=None)
    parser.add_argument("--g-form", default="threshold")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the baseline: the plain Brian2 formulation, one thread",
    )
    parser.add_argument("--workdir", default="/tmp/hebbsim-bench")
    args = parser.parse_args()

    from hebbsim.datasets import load_mnist
    from hebbsim.models.params import LayerParams

    ds = load_mnist(args.data)
    X = ds.x_train[: args.limit].astype(np.float64)
    changes = {"K": args.K, "g_form": args.g_form}
    if args.settle_tau is not None:
        changes["settle_tau"] = args.settle_tau
    if args.dt_tau is not None:
        changes["dt_tau"] = args.dt_tau
    params = LayerParams(**changes)
    print(
        f"machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"workload: MNIST, {len(X)} presentations, K = {params.K}, N = {X.shape[1]}, "
        f"{params.steps_per_presentation} steps per presentation "
        f"(settle_tau {params.settle_tau}, dt_tau {params.dt_tau}), g {params.g_form}"
    )
    rows = []
    variants = [(False, int(t)) for t in args.threads.split(",")]
    if not args.no_reference:
        variants.insert(0, (True, 0))
    for reference, threads in variants:
        name = f"{'reference' if reference else 'optimised'}-threads{threads}"
        res = run_one(
            X, params, threads, Path(args.workdir) / name, args.profile, reference
        )
        rows.append(res)
        if res["profile"]:
            print(f"\nprofile, {name}:\n{res['profile']}")
    py_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        "| formulation | threads | build (s) | presentations/s | "
        "binary peak RSS (MiB) |"
    )
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['formulation']} | {r['threads'] or 1} | {r['build_s']:.1f} | "
            f"{r['rate']:.0f} | {r['binary_peak_mib']:.0f} |"
        )
    print(f"\nPython process peak RSS: {py_peak:.0f} MiB")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
