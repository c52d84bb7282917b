r"""Matrix factorisation trained with BPR (Rendle et al., UAI 2009).

.. math::
    s(u, i) = \langle e_u, e_i \rangle

with free user and item embedding tables; the graph is not used. It is the
``MF-BPR`` baseline of the NGCF, LightGCN, KGAT and KGIN papers (the loss, BPR
or another, is the trainer's choice).
"""
from __future__ import annotations

from typing import Tuple

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from .base import Recommender

__all__ = ["MF"]


class MF(Recommender):
    """User and item embedding tables, scored by inner product.

    Args:
        num_users, num_items: table sizes.
        embedding_dim: embedding size ``d`` (64 in the LightGCN and NGCF papers).
        init_std: the tables are drawn from ``N(0, init_std^2)``; 0.1 as in
            LightGCN's comparison (its ``MF`` and ``LightGCN`` share one init).
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, init_std: float = 0.1) -> None:
        super().__init__(num_users, num_items)
        if embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        if init_std <= 0:
            raise ValueError(f"init_std must be positive, got {init_std}")
        self.embedding_dim = int(embedding_dim)
        self.init_std = float(init_std)
        self.user_embedding = nn.Embedding(self.num_users, self.embedding_dim)
        self.item_embedding = nn.Embedding(self.num_items, self.embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user_embedding.weight, std=self.init_std)
        nn.init.normal_(self.item_embedding.weight, std=self.init_std)

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        """The tables themselves, ``[num_users, d]`` and ``[num_items, d]`` (``graph`` is unused)."""
        return self.user_embedding.weight, self.item_embedding.weight

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        """Rows of the tables (for MF, layer 0 is the output)."""
        return self.user_embedding(users), self.item_embedding(items)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, embedding_dim={self.embedding_dim}, init_std={self.init_std}"
