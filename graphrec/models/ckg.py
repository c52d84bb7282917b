r"""The collaborative knowledge graph (CKG) as relational encoders consume it.

:func:`collaborative_kg` turns the ``HeteroData`` of :func:`graphrec.graph.build`
into one homogeneous, typed edge list (PyG's ``to_homogeneous()`` underneath):

- **nodes**: users ``[0, U)``, items ``[U, U + I)``, entity nodes
  ``[U + I, U + I + E)`` (the offsets of :func:`graphrec.graph.node_offsets`). An
  item aligned to a KG entity *is* that entity, so items and entities form one
  node set ``[U, N)``, the "entity" table of KGAT and KGIN.
- **relations**: each edge gets a canonical relation id. With ``R`` KG relations
  and ``F = 1 + R`` forward relations::

      0          interacts       user -> item
      1 + r      KG relation r   head -> tail
      F          rev_interacts   item -> user
      F + 1 + r  reverse of r    tail -> head

  so the reverse of relation ``k`` is ``k + F`` (KGAT's and KGIN's inverse-relation
  layout) and there are ``2F`` relations. PyG's ``edge_type`` (one id per
  ``HeteroData`` edge type) is kept too, but models use ``relation``: the
  heterogeneous graph splits one KG relation into up to four edge types by
  whether its endpoints are items or plain entities, a split that is an artifact
  of item alignment, not a difference in meaning.
- **edges** are sorted by ``(relation, edge_type, head, tail)``, so both
  ``relation`` and ``edge_type`` are grouped (``RGCNConv(is_sorted=True)``) and
  ``relation_ptr`` gives each relation's contiguous slice. By default duplicate
  ``(head, relation, tail)`` edges (a repeated click, a repeated triple) are kept
  once, as in the official KGAT and KGIN loaders and LightGCN's adjacency.

``edge_index[0]`` is the head and ``edge_index[1]`` the tail of a triple.
PyG's convolutions pass messages from ``edge_index[0]`` to ``edge_index[1]``;
KGAT and KGIN aggregate at the head (``e_{N_h} = \sum_{(h,r,t)} \pi(h,r,t) e_t``).
With every edge present in both directions, every node hears all its neighbours
either way; only which relation id labels the message differs.

:class:`CKGCache` keeps one view per ``(graph object, device)`` inside a model,
so a training loop that calls ``model(graph)`` every batch builds it once.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..graph import ENTITY, INTERACTS, ITEM, REVERSE_PREFIX, USER, node_offsets
from .base import Recommender
from .propagation import EdgeCSR

__all__ = [
    "CollaborativeKG", "CKGCache", "RelationGroups", "collaborative_kg", "ckg_sizes", "check_sizes", "segment_bounds",
    "segment_matmul",
]

_INT64_LIMIT = 2**63 - 1


def ckg_sizes(graph: HeteroData) -> Tuple[int, int, int, int]:
    """``(num_users, num_items, num_entities, num_kg_relations)`` of a graph of
    :func:`graphrec.graph.build`.

    ``num_entities`` counts the entity nodes (entities not aligned to an item; 0
    without a KG). ``num_kg_relations`` is one more than the largest KG relation
    index on any edge store (0 without a KG), so relations that never occur at
    the end of ``kg.relation_names`` are not counted; relation ids stay stable.
    """
    num_entities = graph[ENTITY].num_nodes if ENTITY in graph.node_types else 0
    relations = [int(graph[t].relation.max()) for t in graph.edge_types
                 if "relation" in graph[t] and graph[t].relation.numel()]
    return graph[USER].num_nodes, graph[ITEM].num_nodes, int(num_entities or 0), max(relations, default=-1) + 1


class RelationGroups(NamedTuple):
    """The edges grouped by ``(relation, tail)``: the neighbourhoods :math:`N_r(i)`.

    ``index[e]`` is edge ``e``'s group; group ``g`` collects the edges of one
    relation into one tail node ``node[g]``; groups are sorted by
    ``(relation, node)``, so relation ``k``'s groups are
    ``ptr[k]:ptr[k + 1]`` (host ints) and ``size[g]`` is :math:`|N_r(i)|`.
    """

    index: Tensor
    node: Tensor
    size: Tensor
    ptr: Tuple[int, ...]


def check_sizes(view: "CollaborativeKG", model: Any) -> None:
    """Raise ``ValueError`` unless ``view`` has the users, items, entities and KG
    relations that ``model`` (with those four attributes) was sized for. The
    relation count must match exactly: it fixes the reverse-relation offset."""
    attributes = ("num_users", "num_items", "num_entities", "num_kg_relations")
    expected = tuple(getattr(model, a) for a in attributes)
    got = tuple(getattr(view, a) for a in attributes)
    if got != expected:
        raise ValueError(
            f"{type(model).__name__} was built for (users, items, entities, KG relations) = {expected}, "
            f"but the graph has {got}"
        )


@dataclass(eq=False)
class CollaborativeKG:
    """A typed, homogeneous view of the CKG; see the module docstring.

    Attributes:
        edge_index: ``[2, M]`` int64 (head, tail) node ids.
        relation: ``[M]`` int64 canonical relation ids, non-decreasing.
        edge_type: ``[M]`` int64 index into ``edge_types`` (grouped).
        relation_ptr: ``2F + 1`` Python ints; relation ``k``'s edges are
            ``relation_ptr[k]:relation_ptr[k + 1]`` (host-side, so slicing by
            relation never synchronises with a GPU).
        num_users, num_items, num_entities, num_kg_relations: sizes.
        offsets: ``{'user': 0, 'item': U, 'entity': U + I}``.
        edge_types: the graph's edge types, in PyG's order.
    """

    edge_index: Tensor
    relation: Tensor
    edge_type: Tensor
    relation_ptr: Tuple[int, ...]
    num_users: int
    num_items: int
    num_entities: int
    num_kg_relations: int
    offsets: Dict[str, int]
    edge_types: List[Tuple[str, str, str]] = field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items + self.num_entities

    @property
    def num_forward_relations(self) -> int:
        """``F = 1 + R``: interacts and the KG relations."""
        return 1 + self.num_kg_relations

    @property
    def num_relations(self) -> int:
        """``2F``: every forward relation and its reverse."""
        return 2 * self.num_forward_relations

    @property
    def num_edges(self) -> int:
        return self.edge_index.size(1)

    @property
    def device(self) -> torch.device:
        return self.edge_index.device

    def relation_slice(self, relation: int) -> slice:
        """The contiguous edge range of canonical relation ``relation``."""
        return slice(self.relation_ptr[relation], self.relation_ptr[relation + 1])

    def interaction_slices(self) -> Tuple[slice, slice]:
        """Edge ranges of ``interacts`` (user -> item) and ``rev_interacts``."""
        return self.relation_slice(0), self.relation_slice(self.num_forward_relations)

    def kg_slices(self) -> Tuple[slice, slice]:
        """Edge ranges of the KG relations: forward ones, then reverse ones."""
        f, ptr = self.num_forward_relations, self.relation_ptr
        return slice(ptr[1], ptr[f]), slice(ptr[f + 1], ptr[2 * f])

    def kg_edges(self) -> Tuple[Tensor, Tensor]:
        """``(edge_index, relation)`` of the KG part only (both directions),
        relations still canonical and sorted; built once per view."""
        return self._kg_edges

    @cached_property
    def _kg_edges(self) -> Tuple[Tensor, Tensor]:
        forward, reverse = self.kg_slices()
        index = torch.cat([self.edge_index[:, forward], self.edge_index[:, reverse]], dim=1)
        return index, torch.cat([self.relation[forward], self.relation[reverse]])

    @cached_property
    def tail_groups(self) -> RelationGroups:
        """The edges grouped by ``(relation, tail)``; built once per view.

        Aggregating within a group and then transforming one row per group
        (instead of one row per edge, or every node once per relation as
        ``RGCNConv`` does) is what makes per-relation weights cheap."""
        n = self.num_nodes
        key = self.relation * n + self.edge_index[1]
        keys, index, size = torch.unique(key, return_inverse=True, return_counts=True)
        counts = torch.bincount(keys // n, minlength=self.num_relations).tolist()
        return RelationGroups(index=index, node=keys % n, size=size, ptr=segment_bounds(counts))

    @cached_property
    def head_csr(self) -> EdgeCSR:
        """The edges as a sparse ``(head, tail)`` pattern (rows = heads): a
        product with it sums over each head's triples; built once per view."""
        head, tail = self.edge_index
        return EdgeCSR.from_edges(head, tail, self.num_nodes, self.num_nodes)

    @cached_property
    def triple_keys(self) -> Optional[Tensor]:
        """Sorted int64 keys ``(relation * N + head) * N + tail`` of every edge,
        for membership tests (e.g. rejecting a corrupted triple that exists);
        ``None`` when the key range would overflow int64."""
        n = self.num_nodes
        if self.num_relations * n * n > _INT64_LIMIT:
            return None
        head, tail = self.edge_index
        return torch.sort((self.relation * n + head) * n + tail).values

    def contains(self, head: Tensor, relation: Tensor, tail: Tensor) -> Tensor:
        """Bool per row: whether edge ``(head, relation, tail)`` is in the CKG."""
        keys = self.triple_keys
        if keys is None or keys.numel() == 0:
            return torch.zeros_like(head, dtype=torch.bool)
        n = self.num_nodes
        query = (relation * n + head) * n + tail
        position = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
        return keys[position] == query

    def to(self, device: Any) -> "CollaborativeKG":
        """A copy with its tensors on ``device`` (itself when already there)."""
        device = torch.device(device)
        if self.device == device:
            return self
        return CollaborativeKG(
            self.edge_index.to(device), self.relation.to(device), self.edge_type.to(device), self.relation_ptr,
            self.num_users, self.num_items, self.num_entities, self.num_kg_relations, dict(self.offsets),
            list(self.edge_types),
        )

    def __repr__(self) -> str:
        return (
            f"CollaborativeKG({self.num_nodes} nodes = {self.num_users} users + {self.num_items} items + "
            f"{self.num_entities} entities, {self.num_edges} edges, {self.num_relations} relations, "
            f"device={self.device})"
        )


def _type_relations(graph: HeteroData) -> Tensor:
    """Canonical relation id of each of ``graph.edge_types``.

    Relies on graph.py's layout: forward types first, the reverse of type ``k``
    at ``k + T // 2``; checked here, because a KG relation may itself be named
    ``rev_...`` and names alone cannot tell.
    """
    edge_types = graph.edge_types
    count = len(edge_types)
    half = count // 2
    if count % 2:
        raise ValueError(f"expected every edge type with its reverse, got {count} edge types")
    *_, num_kg_relations = ckg_sizes(graph)
    forward_relations = 1 + num_kg_relations
    out: List[int] = []
    for k, (src, rel, dst) in enumerate(edge_types):  # a loop over edge types (tens), not edges
        forward = edge_types[k % half]
        if k >= half and edge_types[k] != (forward[2], REVERSE_PREFIX + forward[1], forward[0]):
            raise ValueError(
                f"edge type {edge_types[k]} is not the reverse of {forward}; was the graph made by build()?"
            )
        store = graph[forward]
        if forward[1] == INTERACTS and "relation" not in store:
            base = 0
        elif "relation" in store and store.relation.numel():
            base = 1 + int(store.relation[0])
        else:
            raise ValueError(f"edge type {forward} has no 'relation' attribute")
        out.append(base + (forward_relations if k >= half else 0))
    return torch.tensor(out, dtype=torch.long)


def collaborative_kg(graph: HeteroData, *, deduplicate: bool = True) -> CollaborativeKG:
    """The CKG view of ``graph`` (a :func:`graphrec.graph.build` result), on
    ``graph``'s device. See the module docstring for ids and ordering.

    With ``deduplicate`` (default) an edge ``(head, relation, tail)`` occurs
    once however often the click or triple was repeated; without it every
    repeat is kept (their order among equal keys is the graph's order).
    """
    num_users, num_items, num_entities, num_kg_relations = ckg_sizes(graph)
    homo = graph.to_homogeneous(node_attrs=[], edge_attrs=[])
    edge_index, edge_type = homo.edge_index, homo.edge_type
    num_nodes = num_users + num_items + num_entities
    if homo.node_type.numel() != num_nodes:
        raise ValueError(f"to_homogeneous() gave {homo.node_type.numel()} nodes, expected {num_nodes}")
    type_relation = _type_relations(graph).to(edge_type.device)
    num_types, num_relations = len(graph.edge_types), 2 * (1 + num_kg_relations)

    # One int64 key orders by (relation, edge_type, head, tail): edge types are
    # renumbered by (relation, type) so the key's leading part sorts relations too.
    type_order = torch.argsort(type_relation * num_types + torch.arange(num_types, device=type_relation.device))
    type_rank = torch.empty_like(type_order)
    type_rank[type_order] = torch.arange(num_types, device=type_order.device)
    if num_types * num_nodes * num_nodes <= _INT64_LIMIT:
        head, tail = edge_index
        key = (type_rank[edge_type] * num_nodes + head) * num_nodes + tail
        if deduplicate:
            key = torch.unique(key)  # sorted
        else:
            key = torch.sort(key, stable=True).values
        rank, rest = key // (num_nodes * num_nodes), key % (num_nodes * num_nodes)
        edge_index = torch.stack([rest // num_nodes, rest % num_nodes])
        edge_type = type_order[rank]
    else:  # astronomically large graphs: lexicographic row sort instead of a scalar key
        rows = torch.stack([type_rank[edge_type], edge_index[0], edge_index[1]])
        if deduplicate:
            rows = torch.unique(rows, dim=1)
        else:
            order = torch.argsort(rows[2], stable=True)
            for row in (1, 0):
                order = order[torch.argsort(rows[row][order], stable=True)]
            rows = rows[:, order]
        edge_index, edge_type = rows[1:], type_order[rows[0]]
    relation = type_relation[edge_type]
    ptr = segment_bounds(torch.bincount(relation, minlength=num_relations).tolist())
    return CollaborativeKG(
        edge_index=edge_index.contiguous(), relation=relation, edge_type=edge_type, relation_ptr=ptr,
        num_users=num_users, num_items=num_items, num_entities=num_entities, num_kg_relations=num_kg_relations,
        offsets=node_offsets(graph), edge_types=list(graph.edge_types),
    )


class CKGCache:
    """One :class:`CollaborativeKG` per ``(graph object, device)``.

    A model owns one and calls ``get(graph, device)`` in ``forward``; the view is
    rebuilt only when a different graph object (or device) comes in. The graph
    is held by weak reference, so the cache never keeps a graph alive. A graph
    mutated in place is not noticed: call :meth:`clear` (models do in
    ``reset_parameters``). Pickling a model drops the cache.
    """

    def __init__(self) -> None:
        self._graph: Optional["weakref.ReferenceType[HeteroData]"] = None
        self._views: Dict[torch.device, CollaborativeKG] = {}

    def get(self, graph: HeteroData, device: Any) -> CollaborativeKG:
        device = torch.device(device)
        if self._graph is None or self._graph() is not graph:
            self.clear()
            self._graph = weakref.ref(graph)
        view = self._views.get(device)
        if view is None:
            # Another device's view is cheaper to move than the graph to rebuild.
            source = next(iter(self._views.values())) if self._views else collaborative_kg(graph)
            view = self._views[device] = source.to(device)
        return view

    def clear(self) -> None:
        self._graph = None
        self._views = {}

    def __getstate__(self) -> Dict[str, Any]:
        return {}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.clear()

    def __deepcopy__(self, memo: Dict[int, Any]) -> "CKGCache":
        return CKGCache()


def check_init_std(init_std: Optional[float]) -> Optional[float]:
    """``init_std`` as a float, ``None`` kept; anything not positive is refused."""
    if init_std is None:
        return None
    if not init_std > 0:
        raise ValueError(f"init_std must be positive or None, got {init_std}")
    return float(init_std)


def init_node_table(weight: Tensor, init_std: Optional[float]) -> None:
    """Initialise a CKG node table: Xavier-uniform for ``init_std=None`` (the
    official KGAT / KGIN / PyG default, whose scale ``sqrt(6 / (N + d))`` shrinks
    with the number of nodes ``N``), else ``N(0, init_std^2)`` (0.1 is MF's and
    LightGCN's)."""
    if init_std is None:
        nn.init.xavier_uniform_(weight)
    else:
        nn.init.normal_(weight, std=init_std)


def segment_bounds(counts: Sequence[int]) -> Tuple[int, ...]:
    """``(0, c0, c0 + c1, ...)``: segment bounds from host-side counts."""
    out = [0]
    for count in counts:
        out.append(out[-1] + int(count))
    return tuple(out)


def segment_matmul(x: Tensor, ptr: Sequence[int], weight: Tensor) -> Tensor:
    """``out[s:e] = x[s:e] @ weight[k]`` for each segment ``k`` with bounds
    ``ptr[k]:ptr[k + 1]`` (rows of ``x`` grouped by type, e.g. by relation).

    ``ptr`` holds host integers, so the loop runs once per type (tens), never
    per row, and never waits for the GPU. ``weight`` is ``[K, d_in, d_out]``;
    ``x`` is ``[M, ..., d_in]`` (leading dimension segmented, the rest broadcast).
    """
    pieces = [x[start:end] @ weight[k] for k, (start, end) in enumerate(zip(ptr[:-1], ptr[1:])) if end > start]
    if not pieces:
        return x.new_zeros((0, *x.shape[1:-1], weight.size(-1)))
    return torch.cat(pieces, dim=0)


class KGRecommender(Recommender):
    """Base of the encoders on the collaborative KG (RGCN, KGAT, KGIN).

    Holds the four sizes a CKG model is built for, builds itself from a graph
    (:func:`ckg_sizes`) and keeps the CKG view of the graph it is given cached
    per graph and device (cleared by ``reset_parameters`` through
    ``self._ckg.clear()``). Subclasses own a node table ``self.embedding``.
    """

    def __init__(self, num_users: int, num_items: int, num_entities: int = 0, num_kg_relations: int = 0) -> None:
        super().__init__(num_users, num_items)
        if num_entities < 0 or num_kg_relations < 0:
            raise ValueError(f"num_entities and num_kg_relations must be >= 0, got {num_entities}, {num_kg_relations}")
        self.num_entities = int(num_entities)
        self.num_kg_relations = int(num_kg_relations)
        self._ckg = CKGCache()

    @classmethod
    def from_graph(cls, graph: HeteroData, **hyperparameters: Any) -> "KGRecommender":
        return cls(*ckg_sizes(graph), **hyperparameters)

    def collaborative_kg(self, graph: HeteroData) -> "CollaborativeKG":
        """The cached CKG view of ``graph`` on this model's device, size-checked."""
        view = self._ckg.get(graph, self.embedding.weight.device)
        check_sizes(view, self)
        return view
