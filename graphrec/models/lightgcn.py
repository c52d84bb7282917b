r"""LightGCN (He et al., "LightGCN: Simplifying and Powering Graph Convolution
Network for Recommendation", SIGIR 2020).

.. math::
    E^{(0)} = \begin{pmatrix} E_U \\ E_I \end{pmatrix}, \qquad
    E^{(k+1)} = \hat A E^{(k)}, \qquad
    E = \sum_{k=0}^{K} \alpha_k E^{(k)}, \quad \alpha_k = \frac{1}{K+1}

with :math:`\hat A = D^{-1/2} A D^{-1/2}` the symmetrically normalised
user-item adjacency of the training graph
(:func:`graphrec.graph.normalized_adjacency`). No feature transform, no
non-linearity, no self-loop: the only parameters are the layer-0 embeddings.

Each layer is one CSR product through :func:`~graphrec.models.propagation.symmetric_spmm`,
whose backward is one more product with the same cached matrix, instead of
PyG's gather/scatter message passing (``torch_geometric.nn.models.LightGCN``,
which computes the same embeddings and is the reference of the tests).
"""
from __future__ import annotations

from typing import Tuple

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from .base import Recommender
from .propagation import AdjacencyCache, symmetric_spmm

__all__ = ["LightGCN"]


class LightGCN(Recommender):
    r"""LightGCN encoder over the user-item graph.

    Args:
        num_users, num_items: node counts.
        embedding_dim: embedding size ``d`` (64 in the paper).
        num_layers: propagation depth ``K`` (3 in the paper); 0 gives MF.
        init_std: layer-0 embeddings are drawn from ``N(0, init_std^2)``
            (0.1 in the paper's official code).

    ``forward(graph)`` returns ``([num_users, d], [num_items, d])``. The
    adjacency of ``graph`` is built on the embeddings' device at the first call
    and reused until another graph, device or dtype is passed or
    ``reset_parameters()`` is called.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        init_std: float = 0.1,
    ) -> None:
        super().__init__(num_users, num_items)
        if embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        if init_std <= 0:
            raise ValueError(f"init_std must be positive, got {init_std}")
        self.embedding_dim = int(embedding_dim)
        self.num_layers = int(num_layers)
        self.init_std = float(init_std)
        # One table, users then items: E^(0) is the weight itself (no concatenation per step).
        self.embedding = nn.Embedding(self.num_users + self.num_items, self.embedding_dim)
        self._adjacency = AdjacencyCache()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        self._adjacency.clear()

    @property
    def user_embedding(self) -> Tensor:
        """Layer-0 user embeddings, ``[num_users, d]`` (a view of the table)."""
        return self.embedding.weight[: self.num_users]

    @property
    def item_embedding(self) -> Tensor:
        """Layer-0 item embeddings, ``[num_items, d]`` (a view of the table)."""
        return self.embedding.weight[self.num_users :]

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        weight = self.embedding.weight
        adjacency = self._adjacency.get(
            graph, self.num_users, self.num_items, device=weight.device, dtype=weight.dtype
        )
        x = weight
        total = weight
        for _ in range(self.num_layers):  # K sparse products, K small
            x = symmetric_spmm(adjacency, x)
            total = total + x
        out = total / (self.num_layers + 1)
        return out[: self.num_users], out[self.num_users :]

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        """Layer-0 rows ``E^(0)`` of the batch (the paper's L2 penalty applies to these)."""
        return self.embedding(users), self.embedding(items + self.num_users)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, embedding_dim={self.embedding_dim}, "
            f"num_layers={self.num_layers}, init_std={self.init_std}"
        )
