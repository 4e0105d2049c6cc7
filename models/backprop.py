r"""The backprop baseline: the same network trained end to end.

Krotov & Hopfield (PNAS 2019) compare their two-stage network with the same
architecture trained end to end by backpropagation. Here both layers are
learned together with Adam. Symbols and arguments: weights ``W``
(:math:`W`, K x N), top-layer weights ``S`` (:math:`S`, C x K), inputs
:math:`v` (rows of ``x``), ``p`` (:math:`p`), ``params.n`` (:math:`n`),
``params.beta`` (:math:`\beta`), ``params.m`` (:math:`m`):

.. math:: I_\mu = \sum_i \mathrm{sign}(W_{\mu i}) |W_{\mu i}|^{p-1} v_i, \quad
          c_\alpha = \tanh\Big(\beta \sum_\mu S_{\alpha\mu}
          \max(I_\mu, 0)^n\Big), \quad
          L = \sum_\alpha |c_\alpha - t_\alpha|^m,

the forward pass of :func:`hebbsim.models.classifier.features` followed by
:class:`hebbsim.models.classifier.TopLayer`, with targets :math:`t = \pm 1`.
The validation split, learning-rate schedule and selection rule are those of
:func:`hebbsim.models.classifier.train_classifier`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from .classifier import (
    ClassifierResult,
    _check_inputs,
    finish_result,
    fit_with_validation,
    top_layer_loss,
    validation_split,
)
from .fast import init_weights
from .params import ClassifierParams, LayerParams

logger = logging.getLogger(__name__)


class BackpropNet(torch.nn.Module):
    r"""Both layers of the network as one differentiable module.

    Parameters
    ----------
    W : torch.Tensor, shape (K, N)
        Initial first-layer weights (copied).
    n_classes : int
        Number of outputs C.
    p : float
        Lebesgue exponent of the drive, >= 2.
    n : float
        Exponent of :math:`f(I) = \max(I, 0)^n`, > 0.
    beta : float
        Gain inside tanh, > 0.
    S : torch.Tensor, optional, shape (C, K)
        Initial top-layer weights (copied); zeros when omitted.

    Attributes
    ----------
    W : torch.nn.Parameter, shape (K, N)
    S : torch.nn.Parameter, shape (C, K)
    """

    def __init__(
        self,
        W: torch.Tensor,
        n_classes: int,
        *,
        p: float,
        n: float,
        beta: float,
        S: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if p < 2 or n <= 0 or beta <= 0:
            raise ValueError(
                f"need p >= 2, n > 0 and beta > 0, got p={p!r}, n={n!r}, beta={beta!r}"
            )
        self.p, self.n, self.beta = float(p), float(n), float(beta)
        self.W = torch.nn.Parameter(W.detach().clone())
        if S is None:
            S = torch.zeros(n_classes, W.shape[0], dtype=W.dtype, device=W.device)
        if tuple(S.shape) != (n_classes, W.shape[0]):
            raise ValueError(
                f"S must have shape (n_classes, K) = ({n_classes}, {W.shape[0]}), "
                f"got {tuple(S.shape)}"
            )
        self.S = torch.nn.Parameter(S.detach().clone().to(W.dtype))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Outputs ``c`` (B, C) of inputs ``X`` (B, N)."""
        # W|W| for p = 3 is about ten times cheaper than pow on the CPU and has
        # the same gradient 2|W|.
        if self.p == 3.0:
            W_eff = self.W * self.W.abs()
        else:
            W_eff = torch.sign(self.W) * self.W.abs().pow(self.p - 1.0)  # (K, N)
        I = X @ W_eff.T  # noqa: E741  (B, K)
        F = torch.clamp_min(I, 0.0).pow(self.n)  # (B, K)
        return torch.tanh(self.beta * (F @ self.S.T))  # (B, C)


def train_backprop(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    K: int,
    p: float,
    params: ClassifierParams | None = None,
    W0: np.ndarray | torch.Tensor | None = None,
    n_classes: int = 10,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> ClassifierResult:
    r"""Train ``W`` and ``S`` end to end with Adam; select on validation error.

    Parameters
    ----------
    x_train, x_test : numpy.ndarray, shape (B, N)
        Inputs, pixels in [0, 1]; the validation set is carved from ``x_train``
        exactly as :func:`hebbsim.models.classifier.train_classifier` does.
    y_train, y_test : numpy.ndarray of int, shape (B,)
        Labels in [0, n_classes).
    K : int
        Hidden units, >= 1.
    p : float
        Lebesgue exponent of the drive, >= 2.
    params : ClassifierParams, optional
        ``n``, ``m``, ``beta``, ``lr`` (for both ``W`` and ``S``), ``lr_final``,
        ``epochs``, ``batch_size``, ``seed``, ``val_size``, ``split_seed``,
        ``patience``.
    W0 : array or Tensor, shape (K, N), optional
        Initial ``W``. By default each row is drawn from N(0, 1) and rescaled
        to unit p-norm (``init="sphere"`` of the fast engine, seeded by
        ``params.seed``): the norm the unsupervised rule converges to, so the
        features start at the two-stage network's scale.
    n_classes : int, default 10
        Number of outputs C.
    device : str or torch.device, default "cpu"
        Where to train.
    progress : bool, default False
        Show a tqdm bar over epochs.

    Returns
    -------
    ClassifierResult
        Errors of the selected epoch; ``S`` and ``extra["W"]`` (K, N) hold its
        weights. History has no per-epoch ``train_error`` (a full pass over the
        training part would cost a third of an epoch); ``running_train_error``
        stands in.

    Raises
    ------
    ValueError, TypeError
        For bad shapes, labels or parameters, before any training.

    Notes
    -----
    Float32 throughout. One epoch over 50000 MNIST images at K = 2000 costs
    about three first-layer forward passes (forward, and the gradients with
    respect to ``W`` and to the input of ``S``).
    """
    if isinstance(K, bool) or not isinstance(K, int) or K < 1:
        raise ValueError(f"K must be an integer >= 1, got {K!r}")
    W_dummy = np.zeros((1, np.asarray(x_train).shape[-1]))
    params, _, x_train, y_train, x_test, y_test = _check_inputs(
        W_dummy, p, x_train, y_train, x_test, y_test, params, n_classes
    )
    if p < 2:
        raise ValueError(f"p must be >= 2 (Lebesgue exponent), got {p!r}")
    N = x_train.shape[1]
    if W0 is None:
        layer = LayerParams(K=K, p=float(p), k=2, init="sphere", seed=params.seed)
        W_init = init_weights(N, layer, dtype=torch.float32, device=device)
    else:
        W_init = torch.as_tensor(np.asarray(W0) if not torch.is_tensor(W0) else W0)
        W_init = W_init.to(dtype=torch.float32, device=device)
        if tuple(W_init.shape) != (K, N):
            raise ValueError(
                f"W0 must have shape (K, N) = ({K}, {N}), got {tuple(W_init.shape)}"
            )
    start_time = time.perf_counter()
    train_idx, val_idx = validation_split(
        y_train, val_size=params.val_size, seed=params.split_seed
    )
    logger.info(
        "backprop baseline: K=%d, p=%g, %d train / %d validation / %d test, %s",
        K,
        p,
        train_idx.size,
        val_idx.size,
        x_test.shape[0],
        params,
    )

    # All splits live on the device as float32: (B, N) each.
    X_all = torch.as_tensor(x_train, dtype=torch.float32, device=device)
    Y_all = torch.as_tensor(y_train, device=device)
    tr = torch.as_tensor(train_idx, device=device)
    va = torch.as_tensor(val_idx, device=device)
    splits = {
        "train": (X_all[tr], Y_all[tr]),
        "val": (X_all[va], Y_all[va]),
        "test": (
            torch.as_tensor(x_test, dtype=torch.float32, device=device),
            torch.as_tensor(y_test, device=device),
        ),
    }
    generator = torch.Generator().manual_seed(params.seed)
    model = BackpropNet(W_init, n_classes, p=float(p), n=params.n, beta=params.beta).to(
        device
    )
    history, best_epoch, errors = fit_with_validation(
        model,
        lambda c, y: top_layer_loss(c, y, m=params.m),
        splits,
        params,
        lr=params.lr,
        generator=generator,
        exact_train_history=False,
        desc="backprop",
        progress=progress,
    )
    return finish_result(
        "backprop baseline",
        S=model.S,
        history=history,
        best_epoch=best_epoch,
        errors=errors,
        start_time=start_time,
        params=params,
        n_train=train_idx.size,
        n_val=val_idx.size,
        extra={"W": model.W.detach().cpu().numpy().copy()},
    )
