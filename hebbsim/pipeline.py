"""The main job as library functions: train the first layer, classify, report.

The CLI (:mod:`hebbsim.cli`) is a thin layer over these functions.
"""

from __future__ import annotations

import json
import logging
import os
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
    checkpoint_every: int = 1,
    resume: bool = False,
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
        ``"brian2"``: the continuous-time network; ``"fast"``: the batched
        PyTorch algorithm.
    device : str
        ``"cpu"``, ``"cuda"`` or (Brian2 only) ``"runtime"``.
    threads : int, optional
        OpenMP threads of the Brian2 C++ target.
    out : path, optional
        HDF5 file to write (see :mod:`hebbsim.models.export`).
    checkpoint_every : int
        With ``out``, write ``OUT.ckpt.h5`` (same format) every this many epochs;
        0 never. It is removed once ``out`` is written.
    resume : bool
        Continue from ``OUT.ckpt.h5``. The presentation order and learning rate
        of an epoch depend only on the seed and the epoch, so a resumed run ends
        with the weights of an uninterrupted one.
    progress : bool
        Progress bars.

    Returns
    -------
    W : ndarray, shape (K, N)
    info : dict
        ``history``, ``wall_time_s``, ``epochs_done`` and, for Brian2,
        ``build_time_s``.

    Raises
    ------
    ValueError
        For an unknown engine, an unwritable output directory, ``resume`` without
        a checkpoint, or a checkpoint made with other parameters or data.
    """
    from .models.export import dataset_identity, load_weights, save_weights

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}")
    params.validate(n_inputs=dataset.n_inputs)
    identity = dataset_identity(dataset)
    ckpt = None if out is None else Path(str(out) + ".ckpt.h5")
    if out is not None:
        _check_writable(Path(out).parent)
    elif resume:
        raise ValueError("resume needs out, the file whose checkpoint to continue")

    # From here on: start_epoch epochs are done and W0 holds their weights.
    start_epoch, W0, done_history = 0, None, {}
    if resume:
        if not ckpt.exists():
            raise ValueError(
                f"cannot resume: no checkpoint {ckpt}; run without --resume to start"
            )
        wf = load_weights(ckpt)
        if wf.params != params or wf.attrs.get("engine") != engine:
            raise ValueError(
                f"cannot resume from {ckpt}: it was made with engine "
                f"{wf.attrs.get('engine')!r} and {wf.params}, not {engine!r} and "
                f"{params}"
            )
        if wf.dataset.get("files") != identity["files"]:
            raise ValueError(f"cannot resume from {ckpt}: it was trained on other data")
        start_epoch = int(wf.attrs["epochs_done"])
        W0, done_history = wf.W, wf.history
        logger.info("resuming from %s after epoch %d", ckpt, start_epoch)

    t0 = time.perf_counter()

    def save(path, W, epochs_done, history):
        save_weights(
            path,
            W,
            params=params,
            dataset=identity,
            engine=engine,
            device=device,
            epochs_done=epochs_done,
            wall_time_s=time.perf_counter() - t0,
            history=history,
        )

    def on_epoch(epoch, W, history):
        if (
            ckpt is not None
            and checkpoint_every
            and (epoch + 1) % checkpoint_every == 0
        ):
            if epoch + 1 < params.epochs:
                merged = _merge_history(done_history, history, start_epoch)
                save(ckpt, np.asarray(W), epoch + 1, merged)
                logger.info("checkpoint after epoch %d: %s", epoch + 1, ckpt)

    if engine == "brian2":
        from .simulator.train import train_brian2

        res = train_brian2(
            dataset.x_train,
            params,
            device=device,
            threads=threads,
            W0=W0,
            start_epoch=start_epoch,
            progress=progress,
            on_epoch=on_epoch,
        )
        W, history = res.W, res.history
        info = {"build_time_s": res.build_time_s}
    else:
        import torch

        from .models.fast import init_weights, row_norms, train_fast

        torch_device = "cuda" if device == "cuda" else "cpu"
        # The engine's own initialisation, drawn here so that the first row of
        # the norm history is known to the checkpoints too.
        W0_t = (
            init_weights(dataset.n_inputs, params)
            if W0 is None
            else torch.as_tensor(W0, dtype=torch.float32)
        )
        norms = [row_norms(W0_t, p=params.p).double().numpy()]

        def fast_epoch(epoch, Wt):
            norms.append(row_norms(Wt, p=params.p).cpu().double().numpy())
            W_np = Wt.detach().cpu().double().numpy()
            on_epoch(epoch, W_np, {"pnorm": np.asarray(norms)})

        res = train_fast(
            W0_t,
            dataset.x_train,
            params,
            device=torch_device,
            progress=progress,
            callback=fast_epoch,
            start_epoch=start_epoch,
        )
        W = res.W.detach().cpu().double().numpy()
        history = {"pnorm": res.norms.numpy()[start_epoch:]}
        info = {}
    wall = time.perf_counter() - t0
    history = _merge_history(done_history, history, start_epoch)
    info.update(history=history, wall_time_s=wall, epochs_done=params.epochs)
    if out is not None:
        save(out, W, params.epochs, history)
        logger.info("wrote %s", out)
        if ckpt is not None:
            ckpt.unlink(missing_ok=True)
    return W, info


def _merge_history(
    done: dict[str, np.ndarray], new: dict[str, np.ndarray], start_epoch: int
) -> dict[str, np.ndarray]:
    """Join the history of a checkpoint with that of the epochs run since.

    ``pnorm`` has a row per epoch boundary (the new part repeats the checkpoint's
    last row first); the other entries have one value per epoch.
    """
    if start_epoch == 0 or not done:
        return {k: np.asarray(v) for k, v in new.items()}
    merged = {}
    for key, value in new.items():
        value = np.asarray(value)
        if key not in done:
            merged[key] = value
        elif key == "pnorm":
            merged[key] = np.concatenate([done[key], value[1:]])
        else:
            merged[key] = np.concatenate([done[key], value])
    return merged


def _check_writable(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if not os.access(directory, os.W_OK):
        raise ValueError(f"output directory {directory} is not writable")


def classify(
    W: np.ndarray,
    p: float,
    dataset: Any,
    params: ClassifierParams,
    *,
    R: float = 1.0,
    progress: bool = False,
):
    """Train the top layer on frozen weights ``W``; return a ClassifierResult.

    Warns when the rows of ``W`` are far from the p-sphere of radius ``R``: the
    top layer's gain ``beta`` assumes converged rows, and the drive of rows
    still near their N(0, 1) start saturates ``tanh`` (the fast engine needs
    tens of epochs on small data sets to get there).
    """
    from .models.classifier import train_classifier
    from .simulator.train import pnorms

    norms = pnorms(W, p)
    if np.median(norms) > 1.5 * R:
        logger.warning(
            "the first layer has not converged: median row %g-norm %.3g, sphere "
            "radius R = %g; the top layer will saturate. Train more epochs",
            p,
            float(np.median(norms)),
            R,
        )

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
