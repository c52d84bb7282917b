r"""Propagation over the user-item graph by sparse matmul on a cached CSR adjacency.

Pieces used by :mod:`~graphrec.models.lightgcn`, :mod:`~graphrec.models.ngcf` and
:mod:`~graphrec.models.kgat`:

- :func:`symmetric_spmm` computes :math:`\hat A X` for a **symmetric** sparse
  :math:`\hat A` with a backward pass that is again one product with
  :math:`\hat A` (:math:`\partial L / \partial X = \hat A^\top G = \hat A G`).
  Plain autograd of ``torch.sparse.mm(A, X)`` re-derives the transposed sparse
  matrix on every backward call; reusing :math:`\hat A` makes a 3-layer
  LightGCN step exactly 6 CSR products (3 forward, 3 backward). See
  ``REFERENCE.md`` for the measured difference.
- :class:`AdjacencyCache` builds :func:`graphrec.graph.normalized_adjacency`
  (:math:`D^{-1/2} A D^{-1/2}` over users + items) once per graph, device and
  dtype, and checks its symmetry once, at build time. It follows PyG's
  ``GCNConv(cached=True)`` convention (the cache lives on the module and
  ``reset_parameters()`` clears it), but also notices when a different graph
  (another ``edge_index`` tensor, or the same one modified in place), device or
  dtype is passed, and rebuilds instead of silently reusing a stale matrix.
- :class:`EdgeCSR` and :func:`edge_spmm` compute :math:`Y = A X` for a
  **non-symmetric** sparse :math:`A` whose pattern is fixed (an edge list) and
  whose values change per call (KGAT's attention): the CSR structures of
  :math:`A` and :math:`A^\top` are built once, each call only scatters the
  values into them, and the backward is one product with :math:`A^\top`
  instead of a gather of ``[M, d]`` messages and their scatter.
"""
from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from ..graph import ITEM, USER, normalized_adjacency, user_item_edge_index

__all__ = ["symmetric_spmm", "is_symmetric", "AdjacencyCache", "EdgeCSR", "edge_spmm"]


def _product(adjacency: Tensor, x: Tensor) -> Tensor:
    # Autocast off: a half-precision CSR product is slower than fp32 (REFERENCE.md)
    # and casting the sparse values on every call would cost a copy of the matrix.
    with torch.autocast(device_type=x.device.type, enabled=False):
        return adjacency @ x


class _SymmetricSpMM(torch.autograd.Function):
    """``A @ X`` whose backward is ``A @ grad`` (valid because ``A == A^T``)."""

    @staticmethod
    def forward(ctx: Any, adjacency: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adjacency = adjacency  # never differentiated: kept on ctx, not saved as an input
        ctx.input_dtype = x.dtype
        return _product(adjacency, x.to(adjacency.dtype))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tuple[None, Tensor]:  # type: ignore[override]
        # Applying the Function itself (not a bare product) keeps double backward correct.
        grad_x = _SymmetricSpMM.apply(ctx.adjacency, grad)
        return None, grad_x.to(ctx.input_dtype)


def symmetric_spmm(adjacency: Tensor, x: Tensor) -> Tensor:
    r"""``adjacency @ x`` for a **symmetric** sparse matrix, with backward ``adjacency @ grad``.

    .. math::
        Y = \hat A X, \qquad \frac{\partial L}{\partial X} = \hat A^\top G = \hat A G
        \quad (\hat A = \hat A^\top)

    The symmetry is *assumed*, not checked here (a check per call would cost
    more than the product): pass only matrices checked once with
    :func:`is_symmetric`, as :class:`AdjacencyCache` does. A non-symmetric
    matrix gives a correct forward and a wrong gradient.

    Args:
        adjacency: ``[N, N]`` sparse matrix (CSR is the fast layout); it never
            receives a gradient.
        x: ``[N, d]`` dense features. If its dtype differs from the matrix's,
            the product runs in the matrix's dtype (e.g. bf16 activations under
            autocast go through the fp32 CSR kernel, the faster one) and the
            gradient is returned in ``x``'s dtype.

    Returns:
        ``[N, d]`` dense tensor in ``adjacency``'s dtype.
    """
    if adjacency.dim() != 2 or adjacency.size(0) != adjacency.size(1):
        raise ValueError(f"adjacency must be a square matrix, got shape {list(adjacency.shape)}")
    if x.size(0) != adjacency.size(1):
        raise ValueError(f"x has {x.size(0)} rows for a {adjacency.size(0)}-node adjacency")
    return _SymmetricSpMM.apply(adjacency, x)


def is_symmetric(matrix: Tensor, *, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """Whether the sparse (CSR or COO) ``matrix`` equals its transpose: same
    pattern and values within ``rtol``/``atol``. One sort of the nonzeros; meant
    to be called once per matrix, not per product."""
    if matrix.dim() != 2 or matrix.size(0) != matrix.size(1):
        return False
    coo = matrix.to_sparse_coo().coalesce()
    (row, col), value = coo.indices(), coo.values()
    n = matrix.size(0)
    # coalesce() orders by row * n + col; the transpose's entries sorted the same way:
    order = torch.argsort(col * n + row)
    return bool(
        torch.equal(row, col[order])
        and torch.equal(col, row[order])
        and torch.allclose(value, value[order], rtol=rtol, atol=atol)
    )


_Key = Tuple[Any, int, torch.device, torch.dtype]


class AdjacencyCache:
    r"""The normalised user-item adjacency of a graph, built once and reused.

    ``cache.get(graph, num_users, num_items, device=..., dtype=...)`` returns
    :func:`graphrec.graph.normalized_adjacency` of ``graph``'s training
    ``('user', 'interacts', 'item')`` edges as a CSR matrix on ``device``,
    checked symmetric when built. It is rebuilt when the ``edge_index`` tensor
    is a different object (another graph, or an edge store that was
    reassigned), was modified in place (its version counter moved), or when
    ``device`` or ``dtype`` change; otherwise the cached matrix is returned.
    The graph's ``edge_index`` is held by weak reference only, so the cache
    never keeps a dropped graph alive, and a freed-then-reused memory address
    cannot be mistaken for the cached graph.

    A model owns one (``self._adjacency = AdjacencyCache()``) and calls
    :meth:`clear` from ``reset_parameters()``. The cache is not state: it is
    not in ``state_dict()`` and is dropped when the model is pickled or
    deep-copied.
    """

    def __init__(self) -> None:
        self._key: Optional[_Key] = None
        self._matrix: Optional[Tensor] = None

    def clear(self) -> None:
        """Forget the cached matrix (the next :meth:`get` rebuilds it)."""
        self._key = None
        self._matrix = None

    @property
    def matrix(self) -> Optional[Tensor]:
        """The cached matrix, or ``None`` when empty."""
        return self._matrix

    def get(
        self,
        graph: HeteroData,
        num_users: int,
        num_items: int,
        *,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """The ``(num_users + num_items)``-square normalised CSR adjacency of ``graph``."""
        edge_index = user_item_edge_index(graph)
        device = torch.device(device)
        if self._key is not None and self._matrix is not None:
            ref, version, cached_device, cached_dtype = self._key
            if (
                ref() is edge_index
                and version == edge_index._version
                and cached_device == device
                and cached_dtype == dtype
            ):
                return self._matrix

        sizes = (graph[USER].num_nodes, graph[ITEM].num_nodes)
        if sizes != (num_users, num_items):
            raise ValueError(
                f"the graph has {sizes[0]} users and {sizes[1]} items, the model was built for "
                f"{num_users} and {num_items}"
            )
        matrix = normalized_adjacency(edge_index.to(device), num_users, num_items)
        if matrix.dtype != dtype:
            matrix = matrix.to(dtype)
        if not is_symmetric(matrix):  # once per build: symmetric_spmm relies on it
            raise ValueError("the normalised adjacency is not symmetric; symmetric_spmm would give wrong gradients")
        self._key = (weakref.ref(edge_index), edge_index._version, device, dtype)
        self._matrix = matrix
        return matrix

    # A cache is derived data: never pickled, never deep-copied (weakrefs cannot be pickled).
    def __getstate__(self) -> Dict[str, Any]:
        return {}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.clear()

    def __deepcopy__(self, memo: Dict[int, Any]) -> "AdjacencyCache":
        return AdjacencyCache()

    def __repr__(self) -> str:
        if self._matrix is None:
            return "AdjacencyCache(empty)"
        return f"AdjacencyCache({self._matrix.size(0)} nodes, {self._matrix._nnz()} nonzeros, {self._matrix.device})"


@dataclass(frozen=True)
class _Pattern:
    """A CSR pattern of distinct ``(row, column)`` entries and the entry of every edge."""

    crow: Tensor  # [rows + 1]
    col: Tensor  # [nnz], sorted within each row
    slot: Tensor  # [M]: the entry each edge adds its value to (duplicate edges share one)
    shape: Tuple[int, int]

    @classmethod
    def build(cls, row: Tensor, col: Tensor, shape: Tuple[int, int]) -> "_Pattern":
        keys, slot = torch.unique(row * shape[1] + col, return_inverse=True)  # sorted: row-major order
        counts = torch.bincount(keys // shape[1], minlength=shape[0])
        crow = torch.zeros(shape[0] + 1, dtype=torch.int64, device=row.device)
        torch.cumsum(counts, dim=0, out=crow[1:])
        return cls(crow, keys % shape[1], slot, shape)

    def matrix(self, values: Tensor) -> Tensor:
        entries = values.new_zeros(self.col.numel()).index_add_(0, self.slot, values)
        with warnings.catch_warnings():
            # torch warns once per process that CSR is "beta"; it is what PyG's sparse path uses.
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            return torch.sparse_csr_tensor(
                self.crow, self.col, entries, self.shape,
                check_invariants=False,  # sorted, in range and duplicate-free by construction
            )


@dataclass(frozen=True)
class EdgeCSR:
    r"""The sparse pattern of a fixed edge list, as CSR, for :func:`edge_spmm`.

    The matrix is :math:`A_{rc} = \sum_{e:\ \mathrm{row}_e = r,\ \mathrm{col}_e = c} v_e`
    (edges repeating a ``(row, col)`` pair, e.g. two relations between the same
    nodes, add up), of shape ``(num_rows, num_cols)``; the pattern of
    :math:`A^\top` is kept beside it for the backward pass. Build it once per
    edge list (:meth:`from_edges`, one sort per direction) and pass new values
    on every call.
    """

    row: Tensor  # [M] the edge list, kept for the differentiable fallback
    col: Tensor
    forward: _Pattern
    transpose: _Pattern

    @property
    def num_edges(self) -> int:
        return self.row.numel()

    @classmethod
    def from_edges(cls, row: Tensor, col: Tensor, num_rows: int, num_cols: int) -> "EdgeCSR":
        if row.shape != col.shape or row.dim() != 1:
            raise ValueError(f"row and col must be 1-D of the same length, got {list(row.shape)} and {list(col.shape)}")
        row, col = row.long(), col.long()
        return cls(row, col, _Pattern.build(row, col, (num_rows, num_cols)), _Pattern.build(col, row, (num_cols, num_rows)))


class _EdgeSpMM(torch.autograd.Function):
    """``A(values) @ X`` with backward ``A^T @ grad``; the values get no gradient."""

    @staticmethod
    def forward(ctx: Any, pattern: EdgeCSR, values: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        # at least float32: half-precision CSR products are the slow ones (and values computed
        # under autocast may come in bf16)
        values = values.to(torch.promote_types(values.dtype, torch.float32))
        ctx.pattern = pattern
        ctx.input_dtype = x.dtype
        ctx.save_for_backward(values)
        return _product(pattern.forward.matrix(values), x.to(values.dtype))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> Tuple[None, None, Tensor]:  # type: ignore[override]
        (values,) = ctx.saved_tensors
        grad_x = _product(ctx.pattern.transpose.matrix(values), grad.to(values.dtype))
        return None, None, grad_x.to(ctx.input_dtype)


def edge_spmm(pattern: EdgeCSR, values: Tensor, x: Tensor) -> Tensor:
    r""":math:`y_r = \sum_{e:\ \mathrm{row}_e = r} v_e\, x_{\mathrm{col}_e}` for every row ``r``.

    The same result as ``scatter(values[:, None] * x[col], row, dim_size=num_rows)``.
    When ``values`` needs no gradient (KGAT's detached attention) it runs as
    one CSR product forward and one with the transpose backward; when it does,
    it falls back to that gather-scatter, which autograd differentiates in
    both arguments.

    Args:
        pattern: the edge list's :class:`EdgeCSR`.
        values: ``[M]`` one value per edge, in the edge list's order.
        x: ``[num_cols, d]`` dense features.

    Returns:
        ``[num_rows, d]`` dense tensor, in the dtype of ``values`` promoted to at
        least float32 (the CSR path; the fallback follows autograd's promotion).
    """
    if values.shape != (pattern.num_edges,):
        raise ValueError(f"values must have shape [{pattern.num_edges}], got {list(values.shape)}")
    if x.dim() != 2 or x.size(0) != pattern.forward.shape[1]:
        raise ValueError(f"x must be [{pattern.forward.shape[1]}, d], got {list(x.shape)}")
    if values.requires_grad:
        messages = values.unsqueeze(-1) * x.index_select(0, pattern.col)
        return scatter(messages, pattern.row, dim=0, dim_size=pattern.forward.shape[0], reduce="sum")
    return _EdgeSpMM.apply(pattern, values, x)
