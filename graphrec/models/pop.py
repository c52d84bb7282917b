r"""Most-popular baseline: every user gets the items ranked by training popularity.

.. math::
    s(u, i) = n_i = |\{(u', i) \in \text{train}\}|

Not trained by gradient descent (``trainable = False``): ``fit(train)`` counts.
So that the trainer and the evaluator treat it like any model, ``forward``
returns a rank-1 factorisation of the score matrix, ``user_emb = 1``
(``[num_users, 1]``) and ``item_emb = n`` (``[num_items, 1]``), on which the
default ``score`` and ``full_scores`` (inner products) give exactly :math:`n_i`.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..data.interactions import Interactions
from .base import Recommender

__all__ = ["Pop"]


class Pop(Recommender):
    """Item popularity, the same ranking for every user.

    ``item_count`` (a buffer, so it is saved in ``state_dict`` and follows
    ``.to(device)``) holds the training interactions per item; repeated
    (user, item) pairs count each time, as every interaction does.
    """

    trainable = False

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__(num_users, num_items)
        self.register_buffer("item_count", torch.zeros(self.num_items))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def reset_parameters(self) -> None:
        """Forget the counts (back to the unfitted state)."""
        self.item_count.zero_()
        self.fitted.fill_(False)

    def fit(self, train: Interactions) -> "Pop":
        """Count ``train``'s interactions per item; returns ``self``."""
        if train.num_items != self.num_items:
            raise ValueError(f"train has {train.num_items} items, the model {self.num_items}")
        item = torch.from_numpy(train.item).to(self.item_count.device)
        counts = torch.bincount(item, minlength=self.num_items)
        self.item_count.copy_(counts.to(self.item_count.dtype))
        self.fitted.fill_(True)
        return self

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        """``(ones [num_users, 1], item_count [num_items, 1])``: inner products give popularity."""
        if not bool(self.fitted):
            raise RuntimeError("Pop is not fitted: call fit(train) first")
        count = self.item_count.unsqueeze(1)
        return count.new_ones(self.num_users, 1), count
