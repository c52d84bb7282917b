"""The contract every recommender model follows.

A model is an ``nn.Module`` built from the sizes in the heterogeneous graph
(:meth:`Recommender.from_graph`) and hyper-parameters given as keyword
arguments. The shared trainer and the evaluator call only the methods below,
so any model trains with any loss and any debiaser:

- ``forward(graph) -> (user_emb, item_emb)``: representations of every user
  and every item after propagation over ``graph`` (the ``HeteroData`` of
  :func:`graphrec.graph.build`, training edges only).
- ``score(user_emb, item_emb)``: the score of aligned rows (pairs), default the
  inner product ``<e_u, e_i>``.
- ``full_scores(users, user_emb, item_emb)``: scores of ``users`` against every
  item, ``[len(users), num_items]``, default ``E_U[users] @ E_I^T``.
- ``initial_embeddings(users, items)``: the layer-0 (ego) embeddings of a
  batch, on which the trainer puts LightGCN's L2 penalty.
- ``auxiliary_loss(graph, generator=...)``: an extra loss term added once per
  batch (KGAT's TransR KG loss, KGIN's independence regulariser), or ``None``.
- ``begin_epoch(graph, epoch)``: called before each training epoch's first
  batch (KGAT refreshes its attention there); by default nothing.

Models that are not trained by gradient descent (``pop``, ``itemknn``) set
``trainable = False`` and compute their state in ``fit(train)``.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..data.interactions import Interactions


class Recommender(nn.Module):
    """Base class of graphrec's models; see the module docstring for the contract."""

    trainable: bool = True

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__()
        if num_users <= 0 or num_items <= 0:
            raise ValueError(f"a model needs users and items, got {num_users} users and {num_items} items")
        self.num_users = int(num_users)
        self.num_items = int(num_items)

    @classmethod
    def from_graph(cls, graph: HeteroData, **hyperparameters: Any) -> "Recommender":
        """A model sized for ``graph`` (node counts, relation counts)."""
        return cls(num_users=graph["user"].num_nodes, num_items=graph["item"].num_nodes, **hyperparameters)

    def reset_parameters(self) -> None:
        """Re-initialise every parameter (and clear cached graph structures)."""
        raise NotImplementedError

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        """Scores of aligned rows: ``s(u, i) = <e_u, e_i>``; broadcasting over leading dims."""
        return (user_emb * item_emb).sum(dim=-1)

    def full_scores(self, users: Tensor, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        """``[len(users), num_items]`` scores of ``users`` against every item."""
        return user_emb[users] @ item_emb.t()

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        """Layer-0 embeddings of a batch's users and items (for the L2 penalty)."""
        raise NotImplementedError

    def auxiliary_loss(self, graph: HeteroData, *, generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        """An extra loss term per training batch, or ``None`` (the default)."""
        return None

    def begin_epoch(self, graph: HeteroData, epoch: int) -> None:
        """Work done once per training epoch, before its first batch (default: none)."""

    def fit(self, train: Interactions) -> "Recommender":
        """Closed-form state of a non-trainable model (``trainable = False``)."""
        raise TypeError(f"{type(self).__name__} is trained by gradient descent, not fit()")

    def extra_repr(self) -> str:
        return f"num_users={self.num_users}, num_items={self.num_items}"
