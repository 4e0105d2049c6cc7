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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .params import ClassifierParams

logger = logging.getLogger(__name__)

# Rows of X pushed through the first layer at once: bounds the (B, K) temporary
# to about 100 MB for K = 2000 in float32 while keeping the matmul efficient.
_FEATURE_CHUNK = 8192


@dataclass
class ClassifierResult:
    """Outcome of :func:`train_classifier`.

    Attributes
    ----------
    train_error, test_error : float
        Fraction of misclassified examples (argmax of ``c`` != label) after the
        last epoch, in [0, 1].
    history : dict of str to numpy.ndarray
        One value per epoch: ``loss`` (mean over training examples of
        :math:`\\sum_\\alpha |c_\\alpha - t_\\alpha|^m`, averaged over the epoch's
        minibatches), ``train_error``, ``test_error`` and ``lr``.
    S : numpy.ndarray, float32, shape (C, K)
        Trained top-layer weights.
    wall_time_s : float, unit s
        Wall time of feature computation and training.
    params : ClassifierParams
        The parameters used.
    """

    train_error: float
    test_error: float
    history: dict[str, np.ndarray]
    S: np.ndarray
    wall_time_s: float
    params: ClassifierParams


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
    W_eff = torch.sign(W_t) * W_t.abs().pow(p - 1.0)  # (K, N)
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
        Inputs, pixels in [0, 1].
    y_train, y_test : numpy.ndarray of int, shape (B,)
        Labels in [0, n_classes).
    params : ClassifierParams, optional
        ``n``, ``m``, ``beta``, learning-rate schedule, epochs, minibatch size
        and seed; the defaults when omitted.
    n_classes : int, default 10
        Number of outputs C.
    device : str or torch.device, default "cpu"
        Where to train.
    progress : bool, default False
        Show a tqdm bar over epochs.

    Returns
    -------
    ClassifierResult

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
    start_time = time.perf_counter()
    logger.info(
        "training top layer: K=%d, %d train / %d test examples, %s",
        W_np.shape[0],
        x_train.shape[0],
        x_test.shape[0],
        params,
    )

    # f(I) is fixed while S learns, so it is computed once: (B_train, K), (B_test, K).
    F_train = features(W_np, x_train, p=p, n=params.n, device=device)
    F_test = features(W_np, x_test, p=p, n=params.n, device=device)
    if not torch.isfinite(F_train).all():
        raise ValueError(
            f"features f(I) = max(I, 0)^{params.n} overflow float32; lower n or "
            f"rescale W"
        )
    Y_train = torch.as_tensor(y_train, device=device)
    Y_test = torch.as_tensor(y_test, device=device)

    # From here on, randomness comes only from this generator.
    generator = torch.Generator().manual_seed(params.seed)
    model = TopLayer(
        W_np.shape[0], n_classes, beta=params.beta, generator=generator
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr)
    history: dict[str, list[float]] = {
        "loss": [],
        "train_error": [],
        "test_error": [],
        "lr": [],
    }
    epochs: Any = range(params.epochs)
    if progress:
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc="top layer", unit="epoch")

    for epoch in epochs:
        lr = _annealed_lr(params, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(F_train.shape[0], generator=generator).to(device)
        total, batches = 0.0, 0
        for start in range(0, F_train.shape[0], params.batch_size):
            idx = order[start : start + params.batch_size]
            loss = top_layer_loss(model(F_train[idx]), Y_train[idx], m=params.m)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        train_error = _error(model, F_train, Y_train)
        test_error = _error(model, F_test, Y_test)
        history["loss"].append(total / batches)
        history["train_error"].append(train_error)
        history["test_error"].append(test_error)
        history["lr"].append(lr)
        logger.debug(
            "epoch %d: loss %.4g, train error %.4f, test error %.4f",
            epoch + 1,
            total / batches,
            train_error,
            test_error,
        )
        if progress:
            epochs.set_postfix(
                loss=f"{total / batches:.3g}",
                train=f"{train_error:.3f}",
                test=f"{test_error:.3f}",
            )

    wall = time.perf_counter() - start_time
    logger.info(
        "top layer trained in %.1f s: train error %.4f, test error %.4f",
        wall,
        history["train_error"][-1],
        history["test_error"][-1],
    )
    return ClassifierResult(
        train_error=history["train_error"][-1],
        test_error=history["test_error"][-1],
        history={key: np.asarray(values) for key, values in history.items()},
        S=model.S.detach().cpu().numpy().copy(),
        wall_time_s=wall,
        params=params,
    )


def _annealed_lr(params: ClassifierParams, epoch: int) -> float:
    if params.epochs == 1:
        return params.lr
    fraction = epoch / (params.epochs - 1)
    return params.lr + (params.lr_final - params.lr) * fraction


@torch.no_grad()
def _error(model: TopLayer, F: torch.Tensor, y: torch.Tensor) -> float:
    if F.shape[0] == 0:
        return float("nan")
    return (model(F).argmax(dim=1) != y).float().mean().item()


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
