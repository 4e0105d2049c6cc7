"""Unattended reproduction sweeps: run a TOML list of runs, resume after a kill.

A sweep file (``results/reproduction/sweep.toml``) lists runs as ``[[run]]``
tables::

    [[run]]
    name = "mnist-k2000"            # output folder <results_dir>/<name>/
    kind = "two-stage"              # or "backprop"
    dataset = "mnist:../shared/data/mnist"   # hebbsim.datasets.load_dataset spec
    published_test_error = 0.0146   # optional, for the report (or goal_test_error)
    probe = true                    # two-stage: also fit the softmax probe
    [run.layer]                     # LayerParams fields (two-stage); engine "fast"
    engine = "fast"
    K = 2000
    [run.classifier]                # ClassifierParams fields
    lr = 1e-3

For ``kind = "backprop"`` the ``[run.layer]`` table gives ``K`` and ``p`` of the
network trained end to end (:mod:`hebbsim.models.backprop`).

Each run writes into ``<results_dir>/<name>/``: ``weights.h5`` (the first layer,
:func:`hebbsim.models.export.save_weights`, with the p-norm history), then
``result.json`` (errors, wall times, parameters, learning curves), last. Every
file is written under a temporary name and renamed into place, so a file that
exists is complete. A run whose ``result.json`` records the same configuration
is skipped; a run with a complete ``weights.h5`` of the same layer parameters
but no ``result.json`` resumes at the top layer; anything else restarts the run
from scratch, removing leftover temporary files first.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_text_atomic
from .models.params import ClassifierParams, LayerParams

logger = logging.getLogger(__name__)

KINDS = ("two-stage", "backprop")
RESULT_NAME = "result.json"
WEIGHTS_NAME = "weights.h5"
# Version of result.json; bump when its meaning changes so old runs rerun.
RESULT_VERSION = 1
_RUN_KEYS = {
    "name",
    "kind",
    "dataset",
    "layer",
    "classifier",
    "probe",
    "published_test_error",
    "published_train_error",
    "goal_test_error",
    "note",
}


def load_sweep(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and validate a sweep file; return its runs with defaults filled in.

    Parameters
    ----------
    path : str or os.PathLike
        TOML file with ``[[run]]`` tables (module docstring).

    Returns
    -------
    list of dict
        One per run: ``name``, ``kind``, ``dataset``, ``layer`` (dict of
        LayerParams fields plus ``engine``), ``classifier`` (dict of
        ClassifierParams fields), ``probe`` (bool) and the optional published
        figures.

    Raises
    ------
    ValueError
        If the file is not valid TOML, has no runs, a run lacks ``name`` or
        ``dataset``, names repeat, a key or parameter is unknown or invalid;
        the message names the file and the run.
    """
    path = Path(path)
    try:
        config = tomllib.loads(path.read_text())
    except OSError as err:
        raise ValueError(f"cannot read sweep file {path}: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"sweep file {path} is not valid TOML: {err}") from err
    runs = config.get("run")
    if not isinstance(runs, list) or not runs:
        raise ValueError(f"sweep file {path} has no [[run]] tables")
    out, seen = [], set()
    for i, raw in enumerate(runs):
        where = f"sweep file {path}, run {i + 1}"
        unknown = sorted(set(raw) - _RUN_KEYS)
        if unknown:
            raise ValueError(
                f"{where}: unknown key(s) {unknown}; known: {sorted(_RUN_KEYS)}"
            )
        for key in ("name", "dataset"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ValueError(f"{where}: {key!r} must be a non-empty string")
        name = raw["name"]
        if "/" in name or name.startswith("."):
            raise ValueError(f"{where}: name {name!r} must be a plain folder name")
        if name in seen:
            raise ValueError(f"{where}: the name {name!r} is used twice")
        seen.add(name)
        kind = raw.get("kind", "two-stage")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {KINDS}, got {kind!r}")
        layer = dict(raw.get("layer", {}))
        engine = layer.pop("engine", "fast")
        if engine != "fast":
            raise ValueError(
                f"{where}: layer engine must be 'fast' in a sweep, got {engine!r}; "
                f"Brian2 runs are too slow for K = 2000 on a CPU"
            )
        try:
            layer_params = LayerParams.from_dict(layer)
            classifier_params = ClassifierParams.from_dict(raw.get("classifier", {}))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where} ({name}): {err}") from err
        run = {
            "name": name,
            "kind": kind,
            "dataset": raw["dataset"],
            "layer": {"engine": engine, **json.loads(layer_params.to_json())},
            "classifier": json.loads(classifier_params.to_json()),
            "probe": bool(raw.get("probe", kind == "two-stage")),
        }
        for key in (
            "published_test_error",
            "published_train_error",
            "goal_test_error",
            "note",
        ):
            if key in raw:
                run[key] = raw[key]
        out.append(run)
    return out


def run_sweep(
    sweep: str | os.PathLike[str],
    results_dir: str | os.PathLike[str],
    *,
    only: Sequence[str] | None = None,
    loader: Callable[[str], Any] | None = None,
    threads: int | None = 1,
) -> list[dict[str, Any]]:
    """Run every run of a sweep file that is not complete; return all results.

    Parameters
    ----------
    sweep : str or os.PathLike
        The sweep file (see :func:`load_sweep`).
    results_dir : str or os.PathLike
        Where the run folders go (created if missing).
    only : sequence of str, optional
        Run names to consider; the others are left alone.
    loader : callable, optional
        ``loader(spec)`` returning a :class:`hebbsim.datasets.Dataset`; default
        :func:`hebbsim.datasets.load_dataset`. Tests pass synthetic data here.
    threads : int or None, default 1
        ``torch.set_num_threads`` for the runs; None leaves it alone.

    Returns
    -------
    list of dict
        The ``result.json`` contents of the runs considered, in sweep order.

    Raises
    ------
    ValueError
        For a bad sweep file or an ``only`` name that is not in it.
    """
    import torch

    runs = load_sweep(sweep)
    names = [run["name"] for run in runs]
    if only:
        missing = sorted(set(only) - set(names))
        if missing:
            raise ValueError(f"run(s) {missing} are not in {sweep}; it has {names}")
        runs = [run for run in runs if run["name"] in set(only)]
    if loader is None:
        from .datasets import load_dataset as loader
    if threads is not None:
        torch.set_num_threads(threads)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    results, cache = [], {}
    for run in runs:
        out = results_dir / run["name"]
        done = _completed(out, run)
        if done is not None:
            logger.info("run %s is complete; skipping it", run["name"])
            results.append(done)
            continue
        if run["dataset"] not in cache:
            cache = {run["dataset"]: loader(run["dataset"])}  # one data set in memory
        results.append(run_one(run, cache[run["dataset"]], out))
    return results


def run_one(
    run: dict[str, Any], dataset: Any, out: str | os.PathLike[str]
) -> dict[str, Any]:
    """Run one sweep entry on ``dataset``; write its folder ``out``; return results.

    Parameters
    ----------
    run : dict
        One entry of :func:`load_sweep`.
    dataset : hebbsim.datasets.Dataset
        The data named by ``run["dataset"]``.
    out : str or os.PathLike
        The run's folder (created if missing).

    Returns
    -------
    dict
        What is written to ``out/result.json``: ``config`` (the run),
        ``dataset``, ``machine``, ``layer`` (first-layer wall time and whether
        it was reused), ``classifier`` and, with the probe, ``probe`` (errors,
        selected epoch, sizes, wall time, history), ``wall_time_s`` (first
        layer plus top layer, or the backprop training).

    Notes
    -----
    A complete ``weights.h5`` whose ``LayerParams`` equal the run's is reused;
    the first layer is trained on all training images (no labels), the top
    layer on the training part of the validation split.
    """
    import torch

    from .models.export import dataset_identity, load_weights, save_weights

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(out)
    layer = LayerParams.from_dict(
        {k: v for k, v in run["layer"].items() if k != "engine"}
    )
    cparams = ClassifierParams.from_dict(run["classifier"])
    n_classes = max(2, dataset.n_classes)
    args = (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test)
    result: dict[str, Any] = {
        "result_version": RESULT_VERSION,
        "config": run,
        "dataset": {
            "name": dataset.name,
            "n_train": dataset.n_train,
            "n_test": dataset.n_test,
            "source": dataset.source,
        },
        "machine": {
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    logger.info("run %s (%s) on %s", run["name"], run["kind"], dataset.name)

    if run["kind"] == "two-stage":
        from .models.classifier import train_classifier, train_probe
        from .models.fast import train_fast

        # First layer: reuse a complete file with the same parameters.
        weights = out / WEIGHTS_NAME
        W, layer_wall, reused = None, 0.0, False
        if weights.exists():
            try:
                wf = load_weights(weights)
                if wf.params == layer and wf.W.shape[1] == dataset.n_inputs:
                    W, layer_wall, reused = wf.W, float(wf.attrs["wall_time_s"]), True
                    logger.info("reusing the first layer in %s", weights)
            except ValueError as err:
                logger.warning(
                    "ignoring %s (%s); retraining the first layer", weights, err
                )
        if W is None:
            t0 = time.perf_counter()
            res = train_fast(None, dataset.x_train, layer)
            layer_wall = time.perf_counter() - t0
            W = res.W.detach().cpu().double().numpy()
            save_weights(
                weights,
                W,
                params=layer,
                dataset=dataset_identity(dataset),
                engine="fast",
                device="cpu",
                epochs_done=layer.epochs,
                wall_time_s=layer_wall,
                history={"pnorm": res.norms.numpy()},
            )
        result["layer"] = {
            "wall_time_s": layer_wall,
            "reused": reused,
            "weights": WEIGHTS_NAME,
        }

        top = train_classifier(W, layer.p, *args, params=cparams, n_classes=n_classes)
        result["classifier"] = _summary(top)
        if run["probe"]:
            probe = train_probe(W, layer.p, *args, params=cparams, n_classes=n_classes)
            result["probe"] = _summary(probe)
        result["wall_time_s"] = layer_wall + top.wall_time_s
    else:
        from .models.backprop import train_backprop

        res = train_backprop(
            *args, K=layer.K, p=layer.p, params=cparams, n_classes=n_classes
        )
        result["classifier"] = _summary(res)
        save_weights(
            out / WEIGHTS_NAME,
            res.extra["W"].astype(np.float64),
            params=layer.replace(epochs=cparams.epochs),
            dataset=dataset_identity(dataset),
            engine="backprop",
            device="cpu",
            epochs_done=len(res.history["loss"]),
            wall_time_s=res.wall_time_s,
        )
        result["layer"] = {"wall_time_s": 0.0, "reused": False, "weights": WEIGHTS_NAME}
        result["wall_time_s"] = res.wall_time_s

    _write_json_atomic(out / RESULT_NAME, result)
    logger.info(
        "run %s done: test error %.4f, %.0f s",
        run["name"],
        result["classifier"]["test_error"],
        result["wall_time_s"],
    )
    return result


def _summary(res: Any) -> dict[str, Any]:
    return {
        "train_error": res.train_error,
        "val_error": _finite_or_none(res.val_error),
        "test_error": res.test_error,
        "best_epoch": res.best_epoch,
        "epochs_run": int(len(res.history["loss"])),
        "n_train": res.n_train,
        "n_val": res.n_val,
        "wall_time_s": res.wall_time_s,
        "history": {
            k: [_finite_or_none(x) for x in v.tolist()] for k, v in res.history.items()
        },
    }


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _completed(out: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    path = out / RESULT_NAME
    if not path.exists():
        return None
    try:
        done = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if done.get("result_version") != RESULT_VERSION or done.get("config") != run:
        logger.warning(
            "%s was made with another configuration; rerunning %s", path, run["name"]
        )
        return None
    return done


def _remove_temporaries(out: Path) -> None:
    # Hidden files are temporaries of an interrupted write (save_weights,
    # _write_json_atomic and the figures all write ".<name>.*" then rename).
    for tmp in out.glob(".*"):
        if tmp.is_file():
            logger.info("removing %s left by an interrupted run", tmp)
            tmp.unlink()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
