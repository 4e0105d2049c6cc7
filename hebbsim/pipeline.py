"""The main job as library functions: train the first layer, classify, report.

The CLI (:mod:`hebbsim.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .models.params import ClassifierParams, LayerParams

logger = logging.getLogger(__name__)

ENGINES = ("brian2", "fast")


def train_layer(
    dataset: Any,
    params: LayerParams,
    *,
    engine: str = "brian2",
    device: str = "cpu",
    threads: int | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the first layer on ``dataset.x_train`` and optionally save it.

    Parameters
    ----------
    dataset : hebbsim.datasets.Dataset
        Training data.
    params : LayerParams
        Layer parameters.
    engine : {"brian2", "fast"}
        ``"brian2"``: the continuous-time network (threshold form of g);
        ``"fast"``: the batched PyTorch algorithm.
    device : str
        ``"cpu"``, ``"cuda"`` or (Brian2 only) ``"runtime"``.
    threads : int, optional
        OpenMP threads of the Brian2 C++ target.
    out : path, optional
        HDF5 file to write (see :mod:`hebbsim.models.export`).
    progress : bool
        Progress bars.

    Returns
    -------
    W : ndarray, shape (K, N)
    info : dict
        ``history``, ``wall_time_s``, ``epochs_done`` and, for Brian2,
        ``build_time_s``.
    """
    from .models.export import dataset_identity, save_weights

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    params.validate(n_inputs=dataset.n_inputs)
    if out is not None:
        _check_writable(Path(out).parent)
    t0 = time.perf_counter()
    if engine == "brian2":
        from .simulator.train import train_brian2

        res = train_brian2(
            dataset.x_train, params, device=device, threads=threads, progress=progress
        )
        W, history = res.W, res.history
        info = {"build_time_s": res.build_time_s}
    else:
        from .models.fast import train_fast

        torch_device = "cuda" if device == "cuda" else "cpu"
        res = train_fast(
            None, dataset.x_train, params, device=torch_device, progress=progress
        )
        W = res.W.detach().cpu().double().numpy()
        history = {"pnorm": res.norms.numpy()}
        info = {}
    wall = time.perf_counter() - t0
    info.update(history=history, wall_time_s=wall, epochs_done=params.epochs)
    if out is not None:
        save_weights(
            out,
            W,
            params=params,
            dataset=dataset_identity(dataset),
            engine=engine,
            device=device,
            epochs_done=params.epochs,
            wall_time_s=wall,
            history=history,
        )
        logger.info("wrote %s", out)
    return W, info


def _check_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK):
        raise ValueError(f"output directory {directory} is not writable")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it in place."""
    path = Path(path)
    _check_writable(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def classify(
    W: np.ndarray,
    p: float,
    dataset: Any,
    params: ClassifierParams,
    *,
    progress: bool = False,
):
    """Train the top layer on frozen weights ``W``; return a ClassifierResult."""
    from .models.classifier import train_classifier

    if W.shape[1] != dataset.n_inputs:
        raise ValueError(
            f"the weights have {W.shape[1]} inputs per unit but the images of "
            f"{dataset.name!r} have {dataset.n_inputs} pixels"
        )
    return train_classifier(
        W,
        p,
        dataset.x_train,
        dataset.y_train,
        dataset.x_test,
        dataset.y_test,
        params=params,
        n_classes=max(10, dataset.n_classes),
        progress=progress,
    )


def report_markdown(summary: dict[str, Any]) -> str:
    """A short human-readable report of a run (Markdown)."""
    lp = summary["layer_params"]
    lines = [
        "# hebbsim run report",
        "",
        f"- data set: {summary['dataset']} ({summary['n_train']} train, "
        f"{summary['n_test']} test images)",
        f"- first layer: engine {summary['engine']} on {summary['device']}, "
        f"K = {lp['K']}, p = {lp['p']}, g form {lp['g_form']}, "
        f"{lp['epochs']} epochs, {summary['layer_wall_time_s']:.1f} s",
        f"- classifier: {summary['classifier_epochs']} epochs, "
        f"{summary['classifier_wall_time_s']:.1f} s",
        "",
        "| split | error |",
        "|---|---|",
        f"| train | {100 * summary['train_error']:.2f}% |",
        f"| test | {100 * summary['test_error']:.2f}% |",
        "",
        f"Weights: `{summary['weights']}`; figure: `{summary['figure']}`.",
        "",
        "Parameters (JSON):",
        "",
        "```json",
        json.dumps({"layer": lp, "classifier": summary["classifier_params"]}, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)
