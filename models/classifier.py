r"""The supervised top layer, trained with Adam on frozen first-layer features.

With first-layer weights ``W`` (:math:`W`, shape (K, N)) and an input ``v``
(:math:`v`, N pixels in [0, 1]), the hidden features are

.. math:: I_\mu = \sum_i \mathrm{sign}(W_{\mu i}) |W_{\mu i}|^{p-1} v_i, \qquad
          f(I) = \max(I, 0)^n,

and the ten outputs are :math:`c_\alpha = \tanh(\beta \sum_\mu S_{\alpha\mu}
f(I_\mu))` with learnable ``S`` (:math:`S`, shape (C, K)) and no bias, as in
Krotov & Hopfield (PNAS 2019). The loss of one example with label ``y`` is
:math:`\sum_\alpha |c_\alpha - t_\alpha|^m` with :math:`t_\alpha = +1` for
:math:`\alpha = y` and :math:`-1` otherwise. Symbols map to arguments: ``p`` =
:math:`p`, ``n`` = :math:`n`, ``beta`` = :math:`\beta`, ``m`` = :math:`m`.

Since ``W`` is frozen, :math:`f(I)` is computed once for the whole training and
test sets; each epoch is then a (B, K) x (K, C) product per minibatch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .fast import signed_power
from .params import ClassifierParams

logger = logging.getLogger(__name__)

# Rows of X pushed through the first layer at once: bounds the (B, K) temporary
# to about 100 MB for K = 2000 in float32 while keeping the matmul efficient.
_FEATURE_CHUNK = 8192


@dataclass
class ClassifierResult:
    """Outcome of :func:`train_classifier`, :func:`train_probe` or the backprop
    baseline (:func:`hebbsim.models.backprop.train_backprop`).

    Attributes
    ----------
    train_error, test_error : float
        Fraction of misclassified examples (argmax of the outputs != label) of
        the selected state, in [0, 1]; ``train_error`` is over the training part
        (the training set less the validation set).
    history : dict of str to numpy.ndarray
        One value per epoch run: ``loss`` (mean over the epoch's minibatches of
        the training loss), ``running_train_error`` (over the minibatches, as
        the weights moved), ``train_error`` (the whole training part after the
        epoch; not recorded by the backprop baseline), ``val_error``,
        ``test_error`` (recorded for the curves, never used to select) and
        ``lr``.
    S : numpy.ndarray, float32, shape (C, K)
        Trained top-layer weights of the selected epoch.
    wall_time_s : float, unit s
        Wall time of feature computation and training.
    params : ClassifierParams
        The parameters used.
    val_error : float
        Validation error of the selected state; NaN without validation.
    best_epoch : int
        Selected epoch, from 1: the lowest validation error (earliest on ties),
        or the last epoch without validation.
    n_train, n_val : int
        Sizes of the training and validation parts.
    extra : dict
        Further arrays of the model (the probe's bias and standardisation, the
        baseline's ``W``).
    """

    train_error: float
    test_error: float
    history: dict[str, np.ndarray]
    S: np.ndarray
    wall_time_s: float
    params: ClassifierParams
    val_error: float = float("nan")
    best_epoch: int = 0
    n_train: int = 0
    n_val: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def drive(
    W: np.ndarray | torch.Tensor,
    X: np.ndarray | torch.Tensor,
    *,
    p: float,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    r"""The p-metric drive :math:`I = X (\mathrm{sign}(W) |W|^{p-1})^T`.

    Parameters
    ----------
    W : array or Tensor, shape (K, N)
        First-layer weights, dimensionless.
    X : array or Tensor, shape (B, N)
        Inputs, one per row.
    p : float
        Lebesgue exponent, >= 1 (``p = 2`` is the plain dot product).
    dtype : torch.dtype, default torch.float32
        Precision of the computation and of the result.
    device : str or torch.device, default "cpu"
        Where to compute.

    Returns
    -------
    torch.Tensor, shape (B, K)
        :math:`I_{b\mu}`.
    """
    W_t, X_t = _as_matrices(W, X, dtype=dtype, device=device)
    _check_exponent("p", p, minimum=1.0)
    W_eff = signed_power(W_t, p)  # (K, N), the first layer's own definition
    out = torch.empty(X_t.shape[0], W_t.shape[0], dtype=dtype, device=device)
    for start in range(0, X_t.shape[0], _FEATURE_CHUNK):
        out[start : start + _FEATURE_CHUNK] = (
            X_t[start : start + _FEATURE_CHUNK] @ W_eff.T
        )
    return out


def features(
    W: np.ndarray | torch.Tensor,
    X: np.ndarray | torch.Tensor,
    *,
    p: float,
    n: float,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    r"""Hidden features :math:`f(I) = \max(I, 0)^n` of the p-metric drive.

    Parameters
    ----------
    W : array or Tensor, shape (K, N)
        First-layer weights, dimensionless.
    X : array or Tensor, shape (B, N)
        Inputs, one per row (pixels in [0, 1] for the published setting).
    p : float
        Lebesgue exponent of the drive, >= 1; take it from the weight file.
    n : float
        Exponent of the rectified power, > 0.
    dtype : torch.dtype, default torch.float32
        Precision of the computation and of the result.
    device : str or torch.device, default "cpu"
        Where to compute.

    Returns
    -------
    torch.Tensor, shape (B, K)
        :math:`f(I_{b\mu})`, non-negative.

    Raises
    ------
    ValueError
        If the shapes disagree, an entry is not finite, or ``p`` or ``n`` is out
        of range.
    """
    _check_exponent("n", n, minimum=0.0, strict=True)
    I = drive(W, X, p=p, dtype=dtype, device=device)  # noqa: E741  (B, K)
    return torch.clamp_min(I, 0.0).pow(n)


class TopLayer(torch.nn.Module):
    r"""Outputs :math:`c = \tanh(\beta\, f S^T)` of the supervised layer.

    Parameters
    ----------
    K : int
        Number of hidden features.
    n_classes : int, default 10
        Number of outputs C.
    beta : float
        Gain :math:`\beta` inside tanh, > 0.
    init_std : float, default 0.0
        Standard deviation of the initial entries of ``S`` (zero starts every
        output at c = 0, where the loss is the same for all labels).
    generator : torch.Generator, optional
        Source of the initial ``S``.
    dtype : torch.dtype, default torch.float32
        Precision of ``S``.

    Attributes
    ----------
    S : torch.nn.Parameter, shape (C, K)
        Learnable weights :math:`S_{\alpha\mu}`.
    """

    def __init__(
        self,
        K: int,
        n_classes: int = 10,
        *,
        beta: float,
        init_std: float = 0.0,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if K < 1 or n_classes < 2:
            raise ValueError(f"need K >= 1 and n_classes >= 2, got {K}, {n_classes}")
        _check_exponent("beta", beta, minimum=0.0, strict=True)
        self.beta = float(beta)
        S = torch.randn(n_classes, K, generator=generator, dtype=dtype) * init_std
        self.S = torch.nn.Parameter(S)

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        """Map features ``F`` of shape (B, K) to outputs ``c`` of shape (B, C)."""
        return torch.tanh(self.beta * (F @ self.S.T))

    def extra_repr(self) -> str:
        return f"K={self.S.shape[1]}, n_classes={self.S.shape[0]}, beta={self.beta}"


def top_layer_loss(c: torch.Tensor, y: torch.Tensor, *, m: float) -> torch.Tensor:
    r"""Mean over examples of :math:`\sum_\alpha |c_\alpha - t_\alpha|^m`.

    Parameters
    ----------
    c : torch.Tensor, shape (B, C)
        Outputs in [-1, 1].
    y : torch.Tensor of int, shape (B,)
        Labels in [0, C).
    m : float
        Loss exponent, >= 1.

    Returns
    -------
    torch.Tensor, scalar
    """
    t = -torch.ones_like(c)
    t[torch.arange(c.shape[0], device=c.device), y] = 1.0  # (B, C)
    return (c - t).abs().pow(m).sum(dim=1).mean()


def validation_size(n_train: int, val_size: int) -> int:
    """Examples carved for validation from ``n_train``: ``min(val_size, n_train // 6)``.

    The cap keeps five sixths of a small training set for training: MNIST's
    60000 give the usual 10000, the embedded 5000 give 833.
    """
    return min(int(val_size), int(n_train) // 6)


def validation_split(
    y: np.ndarray, *, val_size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Split training indices into a training part and a validation part.

    The split is stratified: class :math:`c`, with :math:`n_c` of the
    :math:`n` examples, gives :math:`\lfloor v\, n_c / n \rfloor` of the
    :math:`v` = ``validation_size(n, val_size)`` validation examples, and the
    remaining ones go to the classes with the largest fractional parts
    (largest remainder), so the validation set has the class proportions of the
    training set. Which examples of a class are taken is a permutation seeded
    by ``seed`` through NumPy's ``default_rng``, independent of any other
    random state.

    Parameters
    ----------
    y : numpy.ndarray of int, shape (n,)
        Training labels.
    val_size : int
        Requested validation size, >= 0; capped at ``n // 6``.
    seed : int, default 0
        Seed of the split.

    Returns
    -------
    train_idx, val_idx : numpy.ndarray of int64
        Sorted, disjoint indices into ``y`` whose union is ``arange(n)``.

    Raises
    ------
    ValueError
        If ``y`` is not one-dimensional or ``val_size`` or ``seed`` is negative.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional labels, got shape {y.shape}")
    if isinstance(val_size, bool) or not isinstance(val_size, int | np.integer):
        raise TypeError(f"val_size must be an integer, got {val_size!r}")
    if val_size < 0 or seed < 0:
        raise ValueError(
            f"val_size and seed must be >= 0, got val_size={val_size!r}, seed={seed!r}"
        )
    n = y.shape[0]
    v = validation_size(n, val_size)
    if v == 0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)

    # Per-class quotas by largest remainder; they sum to v exactly.
    classes, counts = np.unique(y, return_counts=True)
    exact = v * counts / n
    quota = np.floor(exact).astype(np.int64)
    short = v - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1

    rng = np.random.default_rng(seed)
    chosen = []
    for c, q in zip(classes, quota, strict=True):
        members = np.flatnonzero(y == c)
        chosen.append(rng.permutation(members)[:q])
    val_idx = np.sort(np.concatenate(chosen)).astype(np.int64)
    mask = np.ones(n, dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx


def fit_with_validation(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    params: ClassifierParams,
    *,
    lr: float,
    generator: torch.Generator,
    exact_train_history: bool = True,
    desc: str = "training",
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], int, dict[str, float]]:
    """Train ``model`` with Adam; keep the state of the best validation epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a (B, ...) batch of ``splits["train"][0]`` to scores (B, C) whose
        argmax is the prediction.
    loss_fn : callable
        ``loss_fn(scores, labels)``, a scalar to minimise.
    splits : dict
        ``"train"``, ``"val"`` and ``"test"`` to ``(X, y)``; ``"val"`` and
        ``"test"`` may be empty.
    params : ClassifierParams
        Epochs, minibatch size, ``lr_final`` and ``patience``.
    lr : float
        Initial Adam learning rate, annealed linearly to ``params.lr_final``.
    generator : torch.Generator
        Source of the minibatch order.
    exact_train_history : bool, default True
        Evaluate the whole training part after every epoch (history
        ``train_error``); otherwise only the running error over the epoch's
        minibatches is recorded, and the exact one once at the end.
    desc : str
        Label of the log lines and progress bar.
    progress : bool, default False
        Show a tqdm bar over epochs.

    Returns
    -------
    history : dict of str to numpy.ndarray
        Per epoch: ``loss``, ``running_train_error``, ``val_error``,
        ``test_error``, ``lr`` and, with ``exact_train_history``,
        ``train_error``.
    best_epoch : int
        The selected epoch, counted from 1: the lowest validation error, the
        earliest on ties; the last epoch when there is no validation set.
    errors : dict of str to float
        ``train``, ``val`` and ``test`` errors of the selected state, which is
        loaded into ``model``.

    Notes
    -----
    The test error is recorded every epoch for the learning curves only; it
    never influences the selection or the stopping.
    """
    X_train, Y_train = splits["train"]
    has_val = splits["val"][0].shape[0] > 0
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    keys = ["loss", "running_train_error", "val_error", "test_error", "lr"]
    if exact_train_history:
        keys.append("train_error")
    history: dict[str, list[float]] = {key: [] for key in keys}
    best_val, best_epoch, best_state = math.inf, 0, None
    epochs: Any = range(params.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=desc, unit="epoch")

    for epoch in epochs:
        lr_t = _annealed(lr, params, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr_t
        model.train()
        order = torch.randperm(X_train.shape[0], generator=generator)
        total, batches, wrong = 0.0, 0, 0
        for start in range(0, X_train.shape[0], params.batch_size):
            idx = order[start : start + params.batch_size].to(X_train.device)
            scores = model(X_train[idx])
            loss = loss_fn(scores, Y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
            wrong += int((scores.detach().argmax(dim=1) != Y_train[idx]).sum())
        model.eval()
        val_error = _error(model, *splits["val"])
        test_error = _error(model, *splits["test"])
        history["loss"].append(total / batches)
        history["running_train_error"].append(wrong / X_train.shape[0])
        history["val_error"].append(val_error)
        history["test_error"].append(test_error)
        history["lr"].append(lr_t)
        if exact_train_history:
            history["train_error"].append(_error(model, X_train, Y_train))

        # Selection looks at the validation error alone.
        if not has_val or val_error < best_val:
            best_val, best_epoch = val_error, epoch + 1
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        logger.info(
            "%s epoch %d/%d: loss %.4g, running train error %.4f, val error %.4f, "
            "lr %.3g",
            desc,
            epoch + 1,
            params.epochs,
            total / batches,
            wrong / X_train.shape[0],
            val_error,
            lr_t,
        )
        if progress:
            epochs.set_postfix(loss=f"{total / batches:.3g}", val=f"{val_error:.4f}")
        if params.patience and epoch + 1 - best_epoch >= params.patience:
            logger.info(
                "%s: no better validation error in %d epochs; stopping at epoch %d",
                desc,
                params.patience,
                epoch + 1,
            )
            break

    model.load_state_dict(best_state)
    model.eval()
    errors = {
        "train": _error(model, X_train, Y_train),
        "val": _error(model, *splits["val"]),
        "test": _error(model, *splits["test"]),
    }
    return {k: np.asarray(v) for k, v in history.items()}, best_epoch, errors


def train_classifier(
    W: np.ndarray | torch.Tensor,
    p: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    params: ClassifierParams | None = None,
    n_classes: int = 10,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> ClassifierResult:
    r"""Train the top layer on frozen first-layer weights; report the errors.

    Parameters
    ----------
    W : array or Tensor, shape (K, N)
        First-layer weights (e.g. ``load_weights(path).W``).
    p : float
        Lebesgue exponent of the drive (``load_weights(path).params.p``).
    x_train, x_test : numpy.ndarray, shape (B, N)
        Inputs, pixels in [0, 1]. The validation set is carved from
        ``x_train`` (:func:`validation_split`).
    y_train, y_test : numpy.ndarray of int, shape (B,)
        Labels in [0, n_classes).
    params : ClassifierParams, optional
        ``n``, ``m``, ``beta``, learning-rate schedule, epochs, minibatch size,
        seed, ``val_size``, ``split_seed`` and ``patience``; the defaults when
        omitted.
    n_classes : int, default 10
        Number of outputs C.
    device : str or torch.device, default "cpu"
        Where to train.
    progress : bool, default False
        Show a tqdm bar over epochs.

    Returns
    -------
    ClassifierResult
        Errors and ``S`` of the epoch with the lowest validation error.

    Raises
    ------
    ValueError, TypeError
        If shapes disagree, inputs are not finite, or a label is outside
        [0, n_classes); checked before any work.

    Notes
    -----
    Adam's learning rate goes linearly from ``params.lr`` in the first epoch to
    ``params.lr_final`` in the last. Minibatches are drawn in an order set by
    ``params.seed`` through a private ``torch.Generator``; on the CPU two runs with
    the same inputs and thread count give the same ``S``. ``S`` starts at zero.
    """
    params, W_np, x_train, y_train, x_test, y_test = _check_inputs(
        W, p, x_train, y_train, x_test, y_test, params, n_classes
    )
    start_time = time.perf_counter()
    train_idx, val_idx = validation_split(
        y_train, val_size=params.val_size, seed=params.split_seed
    )
    logger.info(
        "training top layer: K=%d, %d train / %d validation / %d test examples, %s",
        W_np.shape[0],
        train_idx.size,
        val_idx.size,
        x_test.shape[0],
        params,
    )

    # f(I) is fixed while S learns, so it is computed once: (B, K) per split.
    splits = _feature_splits(
        W_np, p, params.n, x_train, y_train, x_test, y_test, train_idx, val_idx, device
    )

    # From here on, randomness comes only from this generator.
    generator = torch.Generator().manual_seed(params.seed)
    model = TopLayer(
        W_np.shape[0], n_classes, beta=params.beta, generator=generator
    ).to(device)
    history, best_epoch, errors = fit_with_validation(
        model,
        lambda c, y: top_layer_loss(c, y, m=params.m),
        splits,
        params,
        lr=params.lr,
        generator=generator,
        desc="top layer",
        progress=progress,
    )
    return finish_result(
        "top layer",
        S=model.S,
        history=history,
        best_epoch=best_epoch,
        errors=errors,
        start_time=start_time,
        params=params,
        n_train=train_idx.size,
        n_val=val_idx.size,
    )


class SoftmaxProbe(torch.nn.Module):
    r"""Multinomial logistic regression on standardised features.

    Scores :math:`z = A\,(F - \bar F) / s_F + b`, with the mean
    :math:`\bar F` and standard deviation :math:`s_F` (floored at 1e-12) of
    each feature over the training part, fixed buffers; ``A`` (C, K) and ``b``
    (C,) start at zero and are learned under the cross-entropy loss.
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clamp_min(1e-12))
        self.linear = torch.nn.Linear(mean.shape[0], n_classes, dtype=mean.dtype)
        torch.nn.init.zeros_(self.linear.weight)
        torch.nn.init.zeros_(self.linear.bias)

    def forward(self, F: torch.Tensor) -> torch.Tensor:
        """Scores (B, C) of features ``F`` (B, K)."""
        return self.linear((F - self.mean) / self.std)


def train_probe(
    W: np.ndarray | torch.Tensor,
    p: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    params: ClassifierParams | None = None,
    n_classes: int = 10,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> ClassifierResult:
    r"""A softmax probe on the same features :math:`f(I)` as the top layer.

    Arguments as :func:`train_classifier`. Uses ``params.n`` (the features),
    ``params.probe_lr`` (annealed to ``params.lr_final``), ``epochs``,
    ``batch_size``, ``seed``, ``val_size``, ``split_seed`` and ``patience``;
    ``beta`` and ``m`` do not apply. The model is :class:`SoftmaxProbe`,
    trained with Adam on the mean cross-entropy; the same validation split and
    selection rule as :func:`train_classifier` apply.

    Returns
    -------
    ClassifierResult
        ``S`` holds the probe's weights ``A`` (C, K), acting on standardised
        features; ``extra`` holds ``bias`` (C,), ``mean`` and ``std`` (K,).
    """
    params, W_np, x_train, y_train, x_test, y_test = _check_inputs(
        W, p, x_train, y_train, x_test, y_test, params, n_classes
    )
    start_time = time.perf_counter()
    train_idx, val_idx = validation_split(
        y_train, val_size=params.val_size, seed=params.split_seed
    )
    splits = _feature_splits(
        W_np, p, params.n, x_train, y_train, x_test, y_test, train_idx, val_idx, device
    )
    F_train = splits["train"][0]
    generator = torch.Generator().manual_seed(params.seed)
    model = SoftmaxProbe(F_train.mean(dim=0), F_train.std(dim=0), n_classes).to(device)
    history, best_epoch, errors = fit_with_validation(
        model,
        torch.nn.functional.cross_entropy,
        splits,
        params,
        lr=params.probe_lr,
        generator=generator,
        desc="softmax probe",
        progress=progress,
    )
    return finish_result(
        "softmax probe",
        S=model.linear.weight,
        history=history,
        best_epoch=best_epoch,
        errors=errors,
        start_time=start_time,
        params=params,
        n_train=train_idx.size,
        n_val=val_idx.size,
        extra={
            "bias": model.linear.bias.detach().cpu().numpy().copy(),
            "mean": model.mean.cpu().numpy().copy(),
            "std": model.std.cpu().numpy().copy(),
        },
    )


def finish_result(
    name: str,
    *,
    S: torch.Tensor,
    history: dict,
    best_epoch: int,
    errors: dict[str, float],
    start_time: float,
    params: ClassifierParams,
    n_train: int,
    n_val: int,
    extra: dict | None = None,
) -> ClassifierResult:
    """Log the outcome of a fit_with_validation run and package it.

    Shared by the top layer, the softmax probe and the backprop baseline.
    """
    wall = time.perf_counter() - start_time
    logger.info(
        "%s trained in %.1f s: epoch %d selected, train error %.4f, val error "
        "%.4f, test error %.4f",
        name,
        wall,
        best_epoch,
        errors["train"],
        errors["val"],
        errors["test"],
    )
    return ClassifierResult(
        train_error=errors["train"],
        test_error=errors["test"],
        history=history,
        S=S.detach().cpu().numpy().copy(),
        wall_time_s=wall,
        params=params,
        val_error=errors["val"],
        best_epoch=best_epoch,
        n_train=int(n_train),
        n_val=int(n_val),
        extra=extra or {},
    )


def _check_inputs(
    W: Any,
    p: float,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    params: ClassifierParams | None,
    n_classes: int,
) -> tuple[ClassifierParams, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    params = ClassifierParams() if params is None else params
    if not isinstance(params, ClassifierParams):
        raise TypeError(
            f"params must be a ClassifierParams, got {type(params).__name__}"
        )
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
    _check_exponent("p", p, minimum=1.0)
    x_train, y_train = _check_split("train", x_train, y_train, n_classes)
    x_test, y_test = _check_split("test", x_test, y_test, n_classes, allow_empty=True)
    W_np = W.detach().cpu().numpy() if isinstance(W, torch.Tensor) else np.asarray(W)
    if W_np.ndim != 2 or W_np.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"W must have shape (K, N) with N = {x_train.shape[1]} (the inputs' "
            f"width), got shape {W_np.shape}"
        )
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(
            f"x_test has {x_test.shape[1]} columns but x_train has {x_train.shape[1]}"
        )
    if not np.all(np.isfinite(W_np)):
        raise ValueError("W has non-finite entries")
    return params, W_np, x_train, y_train, x_test, y_test


def _feature_splits(
    W: np.ndarray,
    p: float,
    n: float,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    device: str | torch.device,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    F_all = features(W, x_train, p=p, n=n, device=device)  # (B_train, K)
    F_test = features(W, x_test, p=p, n=n, device=device)  # (B_test, K)
    if not torch.isfinite(F_all).all():
        raise ValueError(
            f"features f(I) = max(I, 0)^{n} overflow float32; lower n or rescale W"
        )
    Y_all = torch.as_tensor(y_train, device=device)
    tr = torch.as_tensor(train_idx, device=device)
    va = torch.as_tensor(val_idx, device=device)
    return {
        "train": (F_all[tr], Y_all[tr]),
        "val": (F_all[va], Y_all[va]),
        "test": (F_test, torch.as_tensor(y_test, device=device)),
    }


def _annealed(lr: float, params: ClassifierParams, epoch: int) -> float:
    if params.epochs == 1:
        return lr
    fraction = epoch / (params.epochs - 1)
    return lr + (params.lr_final - lr) * fraction


@torch.no_grad()
def _error(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    if X.shape[0] == 0:
        return float("nan")
    wrong = 0
    for start in range(0, X.shape[0], _FEATURE_CHUNK):
        scores = model(X[start : start + _FEATURE_CHUNK])
        wrong += int((scores.argmax(dim=1) != y[start : start + _FEATURE_CHUNK]).sum())
    return wrong / X.shape[0]


def _as_matrices(
    W: Any, X: Any, *, dtype: torch.dtype, device: str | torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    W_t = torch.as_tensor(np.asarray(W) if not torch.is_tensor(W) else W)
    X_t = torch.as_tensor(np.asarray(X) if not torch.is_tensor(X) else X)
    W_t = W_t.to(device=device, dtype=dtype)
    X_t = X_t.to(device=device, dtype=dtype)
    if W_t.ndim != 2:
        raise ValueError(f"W must have shape (K, N), got shape {tuple(W_t.shape)}")
    if X_t.ndim != 2 or X_t.shape[1] != W_t.shape[1]:
        raise ValueError(
            f"X must have shape (B, N) with N = {W_t.shape[1]} (the columns of W), "
            f"got shape {tuple(X_t.shape)}"
        )
    return W_t, X_t


def _check_exponent(
    name: str, value: float, *, minimum: float, strict: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"{name} must be a number, got {value!r}")
    bad = value <= minimum if strict else value < minimum
    if not math.isfinite(value) or bad:
        relation = ">" if strict else ">="
        raise ValueError(
            f"{name} must be finite and {relation} {minimum}, got {value!r}"
        )


def _check_split(
    split: str,
    x: Any,
    y: Any,
    n_classes: int,
    *,
    allow_empty: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise ValueError(f"x_{split} must have shape (B, N), got shape {x.shape}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x_{split} must be numeric, got dtype {x.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"y_{split} must have shape ({x.shape[0]},) to match x_{split}, got "
            f"shape {y.shape}"
        )
    if y.dtype.kind not in "iu":
        raise TypeError(f"y_{split} must hold integer labels, got dtype {y.dtype}")
    if x.shape[0] == 0 and not allow_empty:
        raise ValueError(f"x_{split} is empty")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"x_{split} has non-finite entries")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)]
        raise ValueError(
            f"y_{split} has label(s) {np.unique(bad)[:5].tolist()} outside "
            f"[0, {n_classes}); pass n_classes= to match the data"
        )
    return x, y.astype(np.int64)
