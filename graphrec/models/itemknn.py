r"""Item-based collaborative filtering with cosine similarity (Sarwar et al., WWW 2001;
Deshpande & Karypis, TOIS 2004).

With :math:`R \in \{0,1\}^{|U| \times |I|}` the binary training matrix
(repeated pairs count once) and :math:`r_i` its column of item :math:`i`:

.. math::
    \mathrm{sim}(i, j) = \frac{\langle r_i, r_j \rangle}{\lVert r_i \rVert \, \lVert r_j \rVert + \lambda}
    \quad (i \neq j), \qquad
    s(u, i) = \sum_{j \in I_u \cap N_k(i)} \mathrm{sim}(i, j)

where :math:`\lambda` is the ``shrink`` term (0: plain cosine) and
:math:`N_k(i)` the ``k`` items most similar to :math:`i` (an item is never its
own neighbour; among equal similarities, as stored in float32, the lower item
index comes first, so a fit is deterministic). In matrix form :math:`S = R \cdot S_k^\top` with
:math:`S_k[i, j] = \mathrm{sim}(i, j)` for :math:`j \in N_k(i)`: the candidate
item's neighbour list is pruned (RecBole's ``ItemKNN`` convention).

``fit(train)`` runs once, on the CPU with SciPy (its sparse-sparse product
is several times faster there than torch's): the co-occurrence counts
:math:`R^\top R` are formed for a block of items at a time (sparse, bounded
to about 16M candidate pairs per block, never a dense ``num_items^2``
matrix), each item's neighbours are ranked by one stable integer sort, and the
``[num_items, k]`` lists are copied into the model's buffers, on its device.
Scoring is torch CSR on that device. Not trained by gradient descent
(``trainable = False``).
So that the trainer and evaluator treat it like any model, ``forward(graph)``
returns the two sparse factors of the score matrix, ``user_emb`` = the
``[num_users, num_items]`` binary CSR history :math:`R` read from ``graph``'s
training edges and ``item_emb`` = the ``[num_items, num_items]`` CSR
:math:`S_k`; :meth:`ItemKNN.full_scores` multiplies them for a batch of users.
Because the history comes from the graph, a graph with more interactions
(e.g. train + valid) scores with the extra history without refitting.
The pair-wise ``score`` of the base class does not apply (rows of a CSR
matrix cannot be gathered): take pairs from ``full_scores``.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from ..data.interactions import Interactions
from ..graph import user_item_edge_index
from .base import Recommender

__all__ = ["ItemKNN"]

# Candidate (item, neighbour) pairs per fit block: bounds the block's co-occurrence
# matrix (about 16M entries, a few hundred MiB with SciPy's index arrays and the sort).
_BLOCK_PAIRS = 1 << 24


def _csr(crow: Tensor, col: Tensor, value: Tensor, size: Tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(crow, col, value, size, check_invariants=False)


def _crow(row: Tensor, num_rows: int) -> Tensor:
    """CSR row pointers of sorted row indices."""
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=num_rows), 0)
    return crow


def _binary_csr(major: Tensor, minor: Tensor, num_major: int, num_minor: int, dtype: torch.dtype) -> Tensor:
    """Binary ``[num_major, num_minor]`` CSR matrix of the (major, minor) pairs, duplicates once."""
    keys = torch.unique(major * num_minor + minor)  # sorted: rows in order, columns sorted per row
    major, minor = keys // num_minor, keys % num_minor
    return _csr(_crow(major, num_major), minor, torch.ones(keys.numel(), dtype=dtype, device=keys.device),
                (num_major, num_minor))


def _rows_dense(matrix: Tensor, rows: Tensor) -> Tensor:
    """``matrix[rows]`` of a CSR matrix as a dense ``[len(rows), num_cols]`` tensor."""
    crow, col, value = matrix.crow_indices(), matrix.col_indices(), matrix.values()
    start = crow[rows]
    count = crow[rows + 1] - start
    total = int(count.sum())
    out = torch.zeros(rows.numel(), matrix.size(1), dtype=value.dtype, device=value.device)
    if total:
        out_row = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count, output_size=total)
        # position of each entry within its row, plus the row's start in col/value
        shift = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count, output_size=total)
        source = torch.arange(total, device=rows.device) + shift
        out[out_row, col[source]] = value[source]
    return out


def _blocks(
    by_item: sp.csr_matrix, by_user: sp.csr_matrix, block_size: Optional[int]
) -> List[Tuple[int, int]]:
    """``(start, end)`` item ranges: ``block_size`` items each, or (``None``) ranges
    whose candidate pairs ``sum_{i in block} sum_{u in U(i)} |I(u)|`` stay under
    :data:`_BLOCK_PAIRS` (one item at least)."""
    num_items = by_item.shape[0]
    if block_size is not None:
        if block_size <= 0:
            raise ValueError(f"block_size must be positive, got {block_size}")
        edges = list(range(0, num_items, block_size)) + [num_items]
        return list(zip(edges[:-1], edges[1:]))
    pairs = by_item @ np.diff(by_user.indptr).astype(np.float64)  # candidate pairs per item
    cumulative = np.concatenate([[0.0], np.cumsum(pairs)])
    blocks, start = [], 0
    while start < num_items:  # a handful of blocks
        end = int(np.searchsorted(cumulative, cumulative[start] + _BLOCK_PAIRS, side="right")) - 1
        end = min(num_items, max(end, start + 1))
        blocks.append((start, end))
        start = end
    return blocks


def _block_neighbours(
    co_occurrence: sp.csr_matrix, start: int, degree: np.ndarray, k: int, shrink: float
) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` best neighbours of items ``start .. start + b`` from their
    ``[b, num_items]`` co-occurrence counts: ``([b, k] index, [b, k] similarity)``,
    best first, equal (float32) similarities in increasing index, unused slots 0."""
    co_occurrence.sort_indices()  # neighbours in increasing index within each item: the tie order
    co = co_occurrence.tocoo()
    item, neighbour, count = co.row.astype(np.int64), co.col, co.data
    other = neighbour != item + start  # never one's own neighbour
    item, neighbour, count = item[other], neighbour[other], count[other]
    # n_i n_j is an exact integer: equal products give bit-equal similarities, so ties are real ties
    similarity = (count / (np.sqrt(degree[item + start] * degree[neighbour]) + shrink)).astype(np.float32)
    # One int64 key per entry: the item, then the similarity descending (the bits of a positive
    # float32 order like its value); a stable sort keeps equal similarities in index order.
    key = (item << 31) | (0x7FFFFFFF - similarity.view(np.int32).astype(np.int64))
    order = np.argsort(key, kind="stable")
    item, neighbour, similarity = item[order], neighbour[order], similarity[order]
    count_per_item = np.bincount(item, minlength=co.shape[0])
    rank = np.arange(len(item)) - (np.cumsum(count_per_item) - count_per_item)[item]  # place in the item's run
    keep = rank < k
    rows = np.zeros((co.shape[0], k), dtype=np.int64)
    values = np.zeros((co.shape[0], k), dtype=np.float32)
    rows[item[keep], rank[keep]] = neighbour[keep]
    values[item[keep], rank[keep]] = similarity[keep]
    return rows, values


class ItemKNN(Recommender):
    """Item-based CF with (shrunk) cosine similarity and ``k`` neighbours per item.

    Args:
        num_users, num_items: sizes.
        k: neighbours kept per item (100; capped at ``num_items - 1``).
        shrink: :math:`\\lambda` added to the cosine denominator (0.0).

    The fitted neighbour lists are buffers of fixed shape ``[num_items, k]``
    (``neighbor_index``, ``neighbor_similarity``; best first, unused slots
    have index 0 and similarity 0), so they are saved in ``state_dict``, load
    into a fresh model and follow ``.to(device)``.
    """

    trainable = False

    def __init__(self, num_users: int, num_items: int, k: int = 100, shrink: float = 0.0) -> None:
        super().__init__(num_users, num_items)
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        if shrink < 0:
            raise ValueError(f"shrink must be >= 0, got {shrink}")
        self.k = int(k)
        self.shrink = float(shrink)
        kept = min(self.k, self.num_items - 1)
        self.register_buffer("neighbor_index", torch.zeros(self.num_items, kept, dtype=torch.long))
        self.register_buffer("neighbor_similarity", torch.zeros(self.num_items, kept))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def reset_parameters(self) -> None:
        """Forget the neighbours (back to the unfitted state)."""
        self.neighbor_index.zero_()
        self.neighbor_similarity.zero_()
        self.fitted.fill_(False)

    @torch.no_grad()
    def fit(self, train: Interactions, *, block_size: Optional[int] = None) -> "ItemKNN":
        """Compute the ``k`` nearest neighbours of every item from ``train``; returns ``self``.

        Items are processed in blocks: by default each block holds as many
        items as keep the block's candidate pairs (an upper bound of its
        co-occurrence nonzeros) under about 16M; ``block_size`` fixes the
        number of items per block instead.
        """
        if train.num_users != self.num_users or train.num_items != self.num_items:
            raise ValueError(
                f"train has {train.num_users} users and {train.num_items} items, "
                f"the model {self.num_users} and {self.num_items}"
            )
        num_users, num_items, k = self.num_users, self.num_items, self.neighbor_index.size(1)
        self.reset_parameters()
        by_user = sp.csr_matrix(
            (np.ones(len(train)), (train.user, train.item)), shape=(num_users, num_items)
        )  # R; the constructor sums repeated pairs ...
        by_user.data[:] = 1.0  # ... which count once
        by_item = by_user.T.tocsr()  # R^T: row i lists the users of item i
        degree = np.diff(by_item.indptr).astype(np.float64)  # ||r_i||^2 of a binary column

        index = np.zeros((num_items, k), dtype=np.int64)
        similarity = np.zeros((num_items, k), dtype=np.float32)
        for start, end in _blocks(by_item, by_user, block_size):  # item blocks, not items
            rows, values = _block_neighbours(by_item[start:end] @ by_user, start, degree, k, self.shrink)
            index[start:end], similarity[start:end] = rows, values
        self.neighbor_index.copy_(torch.from_numpy(index))
        self.neighbor_similarity.copy_(torch.from_numpy(similarity))
        self.fitted.fill_(True)
        return self

    def item_similarity(self) -> Tensor:
        """The pruned similarity :math:`S_k` as a ``[num_items, num_items]`` CSR matrix
        (row ``i`` holds ``i``'s kept neighbours with nonzero similarity)."""
        if not bool(self.fitted):
            raise RuntimeError("ItemKNN is not fitted: call fit(train) first")
        k = self.neighbor_index.size(1)
        value = self.neighbor_similarity.reshape(-1)
        nonzero = value != 0
        row = torch.arange(self.num_items, device=value.device).repeat_interleave(k)[nonzero]
        col, value = self.neighbor_index.reshape(-1)[nonzero], value[nonzero]
        order = torch.argsort(row * self.num_items + col)  # CSR wants sorted columns; the lists are best-first
        return _csr(_crow(row, self.num_items), col[order], value[order], (self.num_items, self.num_items))

    def forward(self, graph: HeteroData) -> Tuple[Tensor, Tensor]:
        """``(R, S_k)``: the binary user-item CSR history of ``graph`` and the
        pruned item-item similarity, the factors :meth:`full_scores` multiplies."""
        similarity = self.item_similarity()
        user, item = user_item_edge_index(graph).to(similarity.device)
        history = _binary_csr(user, item, self.num_users, self.num_items, similarity.dtype)
        return history, similarity

    def full_scores(self, users: Tensor, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        """``[len(users), num_items]`` scores ``s(u, i) = sum_{j in I_u ∩ N_k(i)} sim(i, j)``,
        from ``forward``'s ``(R, S_k)``."""
        history = _rows_dense(user_emb, users.to(user_emb.device))  # [B, I]
        return (item_emb @ history.t()).t().contiguous()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k}, shrink={self.shrink}"
