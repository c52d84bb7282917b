r"""Pairwise and listwise training losses over sampled negatives, per example.

Every loss takes the scores of a batch's positives ``positive`` (shape ``[B]``)
and of their sampled negatives ``negative`` (shape ``[B, k]``, ``k >= 1``) and
returns the unreduced loss of each example, shape ``[B]``; the debiaser
reduces it (:meth:`graphrec.debias.Debiaser.loss`, default the mean). With
:math:`s^+_b` the positive's score and :math:`s^-_{bj}` the negatives':

- ``bpr`` (Rendle et al. 2009; LightGCN):
  :math:`\ell_b = \frac1k \sum_j -\log \sigma(s^+_b - s^-_{bj})`
- ``bce`` (binary cross-entropy, positives labelled 1, negatives 0):
  :math:`\ell_b = -\log \sigma(s^+_b) + \frac1k \sum_j -\log(1 - \sigma(s^-_{bj}))`
- ``softmax`` (sampled softmax / InfoNCE with temperature :math:`\tau`):
  :math:`\ell_b = -\log \frac{e^{s^+_b/\tau}}{e^{s^+_b/\tau} + \sum_j e^{s^-_{bj}/\tau}}`

:math:`-\log\sigma(x)` is computed as ``softplus(-x)`` and :math:`-\log(1-\sigma(x))`
as ``softplus(x)``, which never overflow. The LightGCN L2 penalty on the
batch's layer-0 embeddings is :func:`l2_penalty`.
"""
from __future__ import annotations

import functools
import operator
from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bpr_loss", "bpr_pair_loss", "bce_loss", "softmax_loss", "l2_penalty", "LOSSES", "loss_function"]

LossFunction = Callable[[Tensor, Tensor], Tensor]


def _check(positive: Tensor, negative: Tensor) -> None:
    if negative.dim() != 2 or positive.dim() != 1 or negative.size(0) != positive.size(0):
        raise ValueError(
            f"expected positive scores [B] and negative scores [B, k], "
            f"got {list(positive.shape)} and {list(negative.shape)}"
        )


def bpr_pair_loss(positive: Tensor, negative: Tensor) -> Tensor:
    """BPR of every (positive, negative) pair, unreduced ``[B, k]``: ``softplus(s_neg - s_pos)``
    (for a caller that weights each pair, e.g. IPS's relevance estimator)."""
    _check(positive, negative)
    return F.softplus(negative - positive.unsqueeze(1))


def bpr_loss(positive: Tensor, negative: Tensor) -> Tensor:
    """Bayesian personalised ranking, averaged over the ``k`` negatives: ``mean_j softplus(s_neg - s_pos)``."""
    return bpr_pair_loss(positive, negative).mean(dim=1)


def bce_loss(positive: Tensor, negative: Tensor) -> Tensor:
    """Binary cross-entropy: ``softplus(-s_pos) + mean_j softplus(s_neg)``."""
    _check(positive, negative)
    return F.softplus(-positive) + F.softplus(negative).mean(dim=1)


def softmax_loss(positive: Tensor, negative: Tensor, temperature: float = 1.0) -> Tensor:
    """Sampled softmax: cross-entropy of the positive among ``[s_pos, s_neg...] / temperature``."""
    _check(positive, negative)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = torch.cat([positive.unsqueeze(1), negative], dim=1) / temperature
    return torch.logsumexp(logits, dim=1) - logits[:, 0]


def l2_penalty(*embeddings: Tensor, weight_decay: float, batch_size: int) -> Tensor:
    r"""LightGCN's L2 term on a batch's layer-0 embeddings:
    ``weight_decay * 0.5 * sum_t ||e_t||^2 / batch_size`` (squared Frobenius norms,
    e.g. of ``u0``, ``p0`` and ``n0``); unlike Adam's ``weight_decay`` it only
    shrinks the rows the batch touches."""
    squared = functools.reduce(operator.add, [embedding.float().pow(2).sum() for embedding in embeddings])
    return squared * (0.5 * weight_decay / batch_size)


LOSSES: Dict[str, Callable[..., Tensor]] = {"bpr": bpr_loss, "bce": bce_loss, "softmax": softmax_loss}


def loss_function(name: str, *, temperature: float = 1.0) -> LossFunction:
    """The per-example loss ``name`` (``bpr``, ``bce``, ``softmax``) as ``f(positive, negative)``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    if name == "softmax":
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return functools.partial(softmax_loss, temperature=temperature)
    return LOSSES[name]
