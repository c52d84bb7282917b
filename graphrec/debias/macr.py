r"""MACR: model-agnostic counterfactual reasoning (Wei et al., KDD 2021).

Besides the recommender's matching score :math:`\hat y_k = s(u, i)` (any
encoder's), an item branch and a user branch read the same representations:
:math:`\hat y_i = w_I^\top e_i` and :math:`\hat y_u = w_U^\top e_u` (linear,
no bias, Xavier-initialised, as the official code). Training fuses them,

.. math::
    \hat y_{ui} = \hat y_k \cdot \sigma(\hat y_i) \cdot \sigma(\hat y_u),

and optimises the multi-task loss

.. math::
    L = L_O(\hat y_{ui}) + \alpha\, L_I(\hat y_i) + \beta\, L_U(\hat y_u)

where :math:`L_O` is the trainer's loss on the fused scores (BCE in the
paper; BPR also works) and :math:`L_I`, :math:`L_U` are binary cross-entropies
of the branches with the pair's label (1 for the positive, 0 for each
negative): per example, :math:`L_I = -\log\sigma(\hat y_{i^+}) + \frac1k\sum_j -\log(1-\sigma(\hat y_{i^-_j}))`
and, the user being the same for the positive and its negatives,
:math:`L_U = -\log\sigma(\hat y_u) - \log(1 - \sigma(\hat y_u))`. They are logged
as ``macr_item`` (:math:`\alpha L_I`) and ``macr_user`` (:math:`\beta L_U`).

Counterfactual inference removes the direct effect of item popularity (and
user conformity) on the ranking:

.. math::
    \hat y_k \cdot \sigma(\hat y_i) \cdot \sigma(\hat y_u) - c \cdot \sigma(\hat y_i) \cdot \sigma(\hat y_u),

with :math:`c` the reference matching score (``c = 0`` ranks by the factual
training score). Defaults follow the official code: :math:`\alpha = \beta =
10^{-3}` and ``c = 10`` (its ``--c`` default); the paper tunes ``c`` on
validation data (its README runs use 30–40 for MF with BCE).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor, nn

from ..data.dataset import RecDataset
from ..losses import bce_loss
from ..models.base import Recommender
from . import arguments
from .base import Debiaser, ScoredBatch, TrainingScores, representation_dim

__all__ = ["MACR"]


class MACR(Debiaser):
    """User and item branches over the model's representations; see the module docstring.

    Args:
        dataset: unused (every debiaser is built from the dataset and the model).
        model: the encoder; its representation width sizes the branches
            (``output_dim``, else ``embedding_dim``).
        alpha: weight of the item-branch loss (>= 0).
        beta: weight of the user-branch loss (>= 0).
        c: the counterfactual reference score subtracted at inference (>= 0).
    """

    name = "macr"

    def __init__(
        self,
        dataset: Optional[RecDataset],
        model: Recommender,
        *,
        alpha: float = 1e-3,
        beta: float = 1e-3,
        c: float = 10.0,
    ) -> None:
        super().__init__()
        options = self.validate(alpha=alpha, beta=beta, c=c)
        self.alpha, self.beta, self.c = options["alpha"], options["beta"], options["c"]
        self.dim = representation_dim(model)
        self.item_branch = nn.Linear(self.dim, 1, bias=False)
        self.user_branch = nn.Linear(self.dim, 1, bias=False)
        self.reset_parameters()

    @staticmethod
    def validate(*, alpha: Any, beta: Any, c: Any) -> Dict[str, float]:
        """The options checked (errors name the key and the allowed values)."""
        return {
            "alpha": arguments.number("macr", "alpha", alpha, low=0.0),
            "beta": arguments.number("macr", "beta", beta, low=0.0),
            "c": arguments.number("macr", "c", c, low=0.0),
        }

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.item_branch.weight)
        nn.init.xavier_uniform_(self.user_branch.weight)

    def item_logits(self, item_emb: Tensor) -> Tensor:
        r""":math:`\hat y_i`, one per row (the last dimension is the representation)."""
        return self.item_branch(item_emb).squeeze(-1)

    def user_logits(self, user_emb: Tensor) -> Tensor:
        r""":math:`\hat y_u`, one per row."""
        return self.user_branch(user_emb).squeeze(-1)

    def training_scores(self, batch: ScoredBatch) -> TrainingScores:
        user = self.user_logits(batch.user_emb)  # [b]
        positive_item = self.item_logits(batch.positive_emb)  # [b]
        negative_item = self.item_logits(batch.negative_emb)  # [b, k]
        user_gate = torch.sigmoid(user)
        positive = batch.positive_score * torch.sigmoid(positive_item) * user_gate
        negative = batch.negative_score * torch.sigmoid(negative_item) * user_gate.unsqueeze(1)
        terms: Dict[str, Tensor] = {}
        if self.alpha:
            terms["macr_item"] = self.alpha * bce_loss(positive_item.float(), negative_item.float()).mean()
        if self.beta:
            user = user.float()
            terms["macr_user"] = self.beta * bce_loss(user, user.unsqueeze(1)).mean()
        return TrainingScores(positive, negative, terms)

    def ranking_scores(self, scores: Tensor, users: Tensor, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        gate = torch.sigmoid(self.user_logits(user_emb[users])).unsqueeze(1) * torch.sigmoid(
            self.item_logits(item_emb)
        ).unsqueeze(0)
        return (scores - self.c) * gate

    def extra_repr(self) -> str:
        return f"dim={self.dim}, alpha={self.alpha}, beta={self.beta}, c={self.c}"
