r"""NGCF (Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019).

Layer :math:`l \to l+1`, the matrix form of the paper's Eq. (7):

.. math::
    E^{(l+1)} = \mathrm{LeakyReLU}\Big( (L + I)\, E^{(l)} W_1^{(l)} + b_1^{(l)}
              + \big( (L E^{(l)}) \odot E^{(l)} \big) W_2^{(l)} + b_2^{(l)} \Big)

with :math:`L = D^{-1/2} A D^{-1/2}` the symmetrically normalised user-item
adjacency (the paper's Laplacian, the same matrix LightGCN propagates with),
negative slope 0.2, and the output the concatenation of every layer,

.. math::
    e = \big[\, e^{(0)} \,\|\, \bar e^{(1)} \,\|\, \cdots \,\|\, \bar e^{(K)} \big],
    \qquad \bar e^{(l)} = e^{(l)} / \lVert e^{(l)} \rVert_2 ,

so an embedding has ``d * (K + 1)`` coordinates.

Choices taken from the authors' TensorFlow code (xiangwang1223/neural_graph_collaborative_filtering,
``NGCF/NGCF.py`` and ``utility/parser.py``), which produced the published numbers:

- **L2 normalisation**: each propagated layer is L2-normalised *for the output
  only*; the next layer propagates the un-normalised :math:`E^{(l)}`. Layer 0
  enters the output as it is.
- **Message dropout** on each layer's output after the activation (before the
  normalisation, so it also reaches the next layer), ratio 0.1 per layer
  (the README's ``--mess_dropout [0.1,0.1,0.1]``; the code passes ``1 - ratio``
  as TF's keep probability).
- **Node dropout** is *off* by default: the code's ``--node_dropout_flag``
  defaults to 0 (its ratio, ``--node_dropout [0.1]``, only acts with the flag).
- **Init**: Xavier-uniform for the user table, the item table, every
  :math:`W` and every bias (biases as ``[1, d]`` matrices), as the code's
  ``xavier_initializer``. The biases are the code's ``b_gc``/``b_bi``
  (the paper's equations omit them).
- LeakyReLU slope 0.2 (``tf.nn.leaky_relu``'s default).

Deliberate differences from that code, both documented trade-offs:

- the code applies two LeakyReLUs, ``LeakyReLU(side W_1 + b_1) + LeakyReLU((E ⊙ side) W_2 + b_2)``,
  and propagates with the row-normalised :math:`D^{-1}(A + I)` (``adj_type='norm'``);
  here the paper's Eq. (7) is followed with the symmetric :math:`L`, so that the
  propagation is the cached symmetric CSR product of
  :mod:`~graphrec.models.propagation` (a row-normalised matrix is not symmetric).
- node dropout follows the paper's definition, "randomly block a node and
  discard all its outgoing messages": each node is dropped with probability
  ``node_dropout`` (one draw per forward, shared by all layers) and the
  survivors are scaled by ``1 / (1 - p)``, i.e. :math:`L \operatorname{diag}(m) / (1-p)`.
  The code instead drops single nonzeros of the matrix (edge dropout). Masking
  rows of :math:`E` before the product keeps the matrix symmetric and cached.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from .base import Recommender
from .propagation import AdjacencyCache, symmetric_spmm

__all__ = ["NGCF"]


def _check_ratio(name: str, value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return float(value)


class NGCF(Recommender):
    """NGCF encoder; see the module docstring for the formula and the defaults' sources.

    Args:
        num_users, num_items: node counts.
        embedding_dim: layer width ``d`` (64 in the paper); outputs have
            ``d * (num_layers + 1)`` columns (:attr:`output_dim`).
        num_layers: ``K`` (3 in the paper).
        message_dropout: dropout ratio on each layer's output (0.1).
        node_dropout: probability of dropping a node's outgoing messages in a
            forward pass (0.0: off, as the official code's default).
        negative_slope: LeakyReLU slope (0.2).
        bias: add the biases ``b_1``, ``b_2`` (the official code has them).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        message_dropout: float = 0.1,
        node_dropout: float = 0.0,
        negative_slope: float = 0.2,
        bias: bool = True,
    ) -> None:
        super().__init__(num_users, num_items)
        if embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be positive, got {embedding_dim}")
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.embedding_dim = int(embedding_dim)
        self.num_layers = int(num_layers)
        self.message_dropout = _check_ratio("message_dropout", message_dropout)
        self.node_dropout = _check_ratio("node_dropout", node_dropout)
        self.negative_slope = float(negative_slope)
        self.bias = bool(bias)
        self.embedding = nn.Embedding(self.num_users + self.num_items, self.embedding_dim)
        d = self.embedding_dim
        # W_1 acts on (L + I) E, W_2 on the bi-interaction (L E) ⊙ E.
        self.neighbor_transforms = nn.ModuleList(nn.Linear(d, d, bias=bias) for _ in range(num_layers))
        self.interaction_transforms = nn.ModuleList(nn.Linear(d, d, bias=bias) for _ in range(num_layers))
        self._adjacency = AdjacencyCache()
        self.reset_parameters()

    @property
    def output_dim(self) -> int:
        """Columns of the output embeddings: ``embedding_dim * (num_layers + 1)``."""
        return self.embedding_dim * (self.num_layers + 1)

    def reset_parameters(self) -> None:
        # Users and items as two Xavier tables (fan = rows + d each), as in the official code.
        nn.init.xavier_uniform_(self.embedding.weight.data[: self.num_users])
        nn.init.xavier_uniform_(self.embedding.weight.data[self.num_users :])
        for linear in (*self.neighbor_transforms, *self.interaction_transforms):
            nn.init.xavier_uniform_(linear.weight)
            if linear.bias is not None:
                nn.init.xavier_uniform_(linear.bias.data.view(1, -1))
        self._adjacency.clear()

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        ego = self.embedding.weight
        adjacency = self._adjacency.get(graph, self.num_users, self.num_items, device=ego.device, dtype=ego.dtype)
        keep = None
        if self.training and self.node_dropout > 0:
            # One node mask per forward, shared by every layer (the code drops once per step too).
            survive = torch.rand(ego.size(0), 1, device=ego.device) >= self.node_dropout
            keep = survive.to(ego.dtype) / (1.0 - self.node_dropout)

        layers = [ego]
        for neighbor, interaction in zip(self.neighbor_transforms, self.interaction_transforms):
            side = symmetric_spmm(adjacency, ego if keep is None else ego * keep)  # L E
            hidden = neighbor(side + ego) + interaction(side * ego)
            ego = F.leaky_relu(hidden, self.negative_slope)
            ego = F.dropout(ego, self.message_dropout, self.training)
            layers.append(F.normalize(ego, p=2.0, dim=1))
        out = torch.cat(layers, dim=1)
        return out[: self.num_users], out[self.num_users :]

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, Tensor]:
        """Layer-0 rows ``E^(0)`` of the batch (``embedding_dim`` columns)."""
        return self.embedding(users), self.embedding(items + self.num_users)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, "
            f"message_dropout={self.message_dropout}, node_dropout={self.node_dropout}"
        )
