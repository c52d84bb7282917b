"""A :class:`~graphrec.data.RecDataset` as one PyG :class:`~torch_geometric.data.HeteroData`.

Schema of :func:`build` (node and edge types always come in this order)::

    node types   user    num_nodes = dataset.num_users
                 item    num_nodes = dataset.num_items
                         entity_index[i]: KG entity of item i, -1 when unlinked
                 entity  only when the dataset has a KG: the entities NOT aligned
                         to an item, in increasing entity index (0 nodes if all are);
                         entity_index[j]: KG entity of entity node j

    edge types   ('user', 'interacts', 'item')        train interactions only
                 (src, <relation>, dst)               one per KG relation and
                                                      endpoint type pair that occurs
                 ... then the reverse of each, in the same order:
                 ('item', 'rev_interacts', 'user'), (dst, 'rev_<relation>', src), ...

An item aligned to a KG entity is a single node: a triple whose head or tail
is that entity connects to the item node, so one relation can give up to four
edge types (item->item, item->entity, entity->item, entity->entity, in that
order). Every KG edge store holds ``relation`` (int64, one per edge), the
relation's index in ``dataset.kg.relation_names``; reverse stores hold the same
index. Duplicate triples and duplicate train interactions are kept as they are:
KG edges number ``2 * num_triples`` and user-item edges ``2 * len(train)``.

The ``k``-th forward edge type and its reverse have type ids ``k`` and
``k + len(data.edge_types) // 2`` (KGAT's inverse-relation layout). Unlike
:class:`~torch_geometric.transforms.ToUndirected`, a relation between nodes of
one type (entity->entity) also gets its own ``rev_`` type: KG relations are
directed, so "A directed_by B" and "B directed A" stay distinguishable.

Relation names as edge-type names. PyG needs type names made of letters,
digits and single underscores: ``to_hetero`` raises on a ``.``, ``HeteroConv``
silently loses an edge type whose name contains ``#`` and HeteroData warns on
``__``. :func:`relation_edge_names` therefore maps each relation name to one:
every run of characters other than ``[A-Za-z0-9]`` becomes ``_`` and leading or
trailing ``_`` are dropped (``film.film.genre`` -> ``film_film_genre``,
``http://xmlns.com/foaf/0.1/knows`` -> ``http_xmlns_com_foaf_0_1_knows``); an
empty result becomes ``relation_<r>``; a name that would clash with an earlier
relation, with ``interacts`` or with another name's ``rev_`` form gets the
suffix ``_<r>``. The original name of an edge type is
``dataset.kg.relation_names[data[edge_type].relation[0]]``.

The collaborative knowledge graph. ``data.to_homogeneous()`` is the input of
relational encoders; no wrapper is needed::

    homo = data.to_homogeneous()     # users first, then items, then entities
    conv = RGCNConv(in_channels, out_channels, num_relations=len(data.edge_types),
                    is_sorted=True)  # to_homogeneous concatenates edges by type
    h = conv(x, homo.edge_index, homo.edge_type)
    user_h, item_h, *entity_h = h.split([data[t].num_nodes for t in data.node_types])
    node_offsets(data)               # {'user': 0, 'item': num_users, 'entity': num_users + num_items}

``homo.edge_type[e]`` indexes ``data.edge_types`` and ``homo.node_type[v]``
indexes ``data.node_types``; PyG fills attributes that some types lack with -1,
so ``homo.relation`` is the KG relation index (-1 on user-item edges) and
``homo.entity_index`` the KG entity of each node (-1 for users and unlinked
items). The user-item part alone is what LightGCN consumes: see
:func:`user_item_edge_index` and :func:`normalized_adjacency`.
"""
from __future__ import annotations

import re
import warnings
from itertools import repeat
from typing import Dict, List, Optional, Sequence, Tuple

import networkx as nx
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphrec.data.dataset import RecDataset
from graphrec.data.interactions import Interactions
from graphrec.data.knowledge_graph import KnowledgeGraph

__all__ = [
    "USER",
    "ITEM",
    "ENTITY",
    "INTERACTS",
    "REVERSE_PREFIX",
    "build",
    "relation_edge_names",
    "node_offsets",
    "user_item_edge_index",
    "normalized_adjacency",
    "to_networkx",
]

USER = "user"
ITEM = "item"
ENTITY = "entity"
INTERACTS = "interacts"
REVERSE_PREFIX = "rev_"

EdgeType = Tuple[str, str, str]

_NOT_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]+")


def relation_edge_names(relation_names: Sequence) -> List[str]:
    """The edge-type name of each KG relation, in relation index order.

    Names are made of ``[A-Za-z0-9]`` joined by single ``_`` (what PyG's
    ``to_hetero``/``HeteroConv`` accept), unique, distinct from ``interacts``,
    and no name equals ``rev_`` + another name, so every forward and reverse
    edge type name is unique. See the module docstring for the exact mapping.
    """
    taken = {INTERACTS, REVERSE_PREFIX + INTERACTS}
    names: List[str] = []
    # A loop over relations (tens, not data rows): each choice depends on the earlier ones.
    for index, raw in enumerate(relation_names):
        base = _NOT_ALPHANUMERIC.sub("_", str(raw)).strip("_") or f"relation_{index}"
        name, attempt = base, 0
        while name in taken or REVERSE_PREFIX + name in taken:
            attempt += 1
            name = f"{base}_{index}" if attempt == 1 else f"{base}_{index}_{attempt}"
        taken.update((name, REVERSE_PREFIX + name))
        names.append(name)
    return names


def _kg_edge_stores(kg: KnowledgeGraph) -> Tuple[np.ndarray, List[Tuple[EdgeType, np.ndarray, int]]]:
    """Entity-node index map and the forward KG edge types ``(type, edge_index, relation)``."""
    entity_item = kg.entity_item()
    is_entity_node = entity_item < 0
    # Aligned entities become their item's node, the rest are numbered in entity order.
    local = np.where(is_entity_node, np.cumsum(is_entity_node) - 1, entity_item)
    entity_index = np.flatnonzero(is_entity_node)

    head_type = is_entity_node[kg.head].astype(np.int64)  # 0: item node, 1: entity node
    tail_type = is_entity_node[kg.tail].astype(np.int64)
    group = (kg.relation * 2 + head_type) * 2 + tail_type
    order = np.argsort(group, kind="stable")  # stable: triples keep their source order
    groups, starts = np.unique(group[order], return_index=True)
    ends = np.append(starts[1:], len(order))

    names = relation_edge_names(kg.relation_names)
    node_type = (ITEM, ENTITY)
    stores = []
    for key, start, end in zip(groups.tolist(), starts.tolist(), ends.tolist()):  # one per edge type
        relation, src, dst = key // 4, (key // 2) % 2, key % 2
        triples = order[start:end]
        edge_index = np.stack([local[kg.head[triples]], local[kg.tail[triples]]])
        stores.append(((node_type[src], names[relation], node_type[dst]), edge_index, relation))
    return entity_index, stores


def build(dataset: RecDataset) -> HeteroData:
    """The heterogeneous graph of ``dataset``: users, items, KG entities, train
    interactions, KG triples and the reverse of every edge type.

    Only ``dataset.train`` becomes edges (valid and test never leak into the
    graph). Node stores carry ``num_nodes`` and the ``entity_index`` maps; KG
    edge stores carry ``relation``. Without a KG there is no ``entity`` node
    type (``item.entity_index`` is then all -1). The full schema, ordering and
    relation-name mapping are in the module docstring.
    """
    data = HeteroData()
    data[USER].num_nodes = dataset.num_users
    data[ITEM].num_nodes = dataset.num_items
    kg = dataset.kg
    item_entity = kg.item_entity.copy() if kg is not None else np.full(dataset.num_items, -1, dtype=np.int64)
    data[ITEM].entity_index = torch.from_numpy(item_entity)

    forward: List[Tuple[EdgeType, Tensor, Optional[int]]] = [
        ((USER, INTERACTS, ITEM), dataset.train.edge_index(), None)
    ]
    if kg is not None:
        entity_index, stores = _kg_edge_stores(kg)
        data[ENTITY].num_nodes = len(entity_index)
        data[ENTITY].entity_index = torch.from_numpy(entity_index)
        forward += [(edge_type, torch.from_numpy(ei), rel) for edge_type, ei, rel in stores]

    # All forward types first, then all reverses: type k's reverse is type k + F.
    for reverse in (False, True):
        for (src, rel, dst), edge_index, relation in forward:
            edge_type = (dst, REVERSE_PREFIX + rel, src) if reverse else (src, rel, dst)
            store = data[edge_type]
            store.edge_index = edge_index.flip(0) if reverse else edge_index.contiguous()
            if relation is not None:
                store.relation = torch.full((edge_index.size(1),), relation, dtype=torch.long)
    return data


def node_offsets(data: HeteroData) -> Dict[str, int]:
    """Where each node type starts in ``data.to_homogeneous()``: the running
    sum of ``num_nodes`` over ``data.node_types`` (PyG's concatenation order)."""
    sizes = [data[node_type].num_nodes for node_type in data.node_types]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    return dict(zip(data.node_types, starts))


def user_item_edge_index(data_or_dataset: "HeteroData | RecDataset | Interactions") -> Tensor:
    """``[2, E]`` int64 (user, item) pairs of the training interactions, each
    side in its own index space (items not offset by the number of users).

    From a :class:`HeteroData` of :func:`build`, its ``('user', 'interacts',
    'item')`` edges; from a :class:`RecDataset`, its ``train`` split; from
    :class:`Interactions`, all of them. Duplicates are kept.
    """
    if isinstance(data_or_dataset, HeteroData):
        return data_or_dataset[USER, INTERACTS, ITEM].edge_index
    if isinstance(data_or_dataset, RecDataset):
        return data_or_dataset.train.edge_index()
    if isinstance(data_or_dataset, Interactions):
        return data_or_dataset.edge_index()
    raise TypeError(f"expected HeteroData, RecDataset or Interactions, got {type(data_or_dataset).__name__}")


def normalized_adjacency(edge_index: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""LightGCN's symmetrically normalised user-item adjacency, a sparse CSR matrix.

    .. math::
        \hat{A} = D^{-1/2} A D^{-1/2}, \qquad
        A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}, \qquad
        D_{vv} = \sum_w A_{vw}

    ``R`` is the binary ``num_users x num_items`` interaction matrix: repeated
    (user, item) pairs count once, as in LightGCN's reference code, so a user
    who clicked an item five times is not five times its neighbour. Items are
    offset by ``num_users``. A node without interactions has an empty row and
    column (``0^{-1/2}`` is taken as 0, never inf or NaN).

    Args:
        edge_index: ``[2, E]`` integer (user, item) pairs in their own index
            spaces, e.g. :func:`user_item_edge_index`.
        num_users, num_items: the sizes of the two index spaces.

    Returns:
        float32 ``torch.sparse_csr`` tensor of shape ``(N, N)``,
        ``N = num_users + num_items``, on ``edge_index``'s device, with sorted
        column indices and no explicit zeros.
    """
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {list(edge_index.shape)}")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integers, got {edge_index.dtype}")
    if num_users < 0 or num_items < 0:
        raise ValueError(f"num_users and num_items must be >= 0, got {num_users} and {num_items}")
    device = edge_index.device
    user, item = edge_index.to(torch.long)
    if user.numel():
        for name, values, size in (("user", user, num_users), ("item", item, num_items)):
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= size:
                raise ValueError(f"{name} indices must lie in [0, {size}), got [{low}, {high}]")

    num_nodes = num_users + num_items
    # torch.unique sorts the pair keys, which also orders the user rows for CSR.
    pairs = torch.unique(user * num_items + item) if user.numel() else user
    user, item = pairs // max(num_items, 1), pairs % max(num_items, 1)
    row = torch.cat([user, item + num_users])
    col = torch.cat([item + num_users, user])
    degree = torch.bincount(row, minlength=num_nodes).to(torch.float64)
    inv_sqrt = degree.pow(-0.5).masked_fill_(degree == 0, 0.0)
    value = (inv_sqrt[row] * inv_sqrt[col]).to(torch.float32)

    order = torch.argsort(row * num_nodes + col)
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
    crow[1:] = torch.cumsum(degree.to(torch.long), 0)
    with warnings.catch_warnings():
        # torch warns once per process that CSR is "beta"; it is what PyG's sparse path uses.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            crow, col[order], value[order], (num_nodes, num_nodes), device=device,
            check_invariants=False,  # sorted, in range and duplicate-free by construction
        )


def _reverse_of(edge_type: EdgeType, edge_types: set) -> bool:
    """Whether ``edge_type`` is the ``rev_`` copy of another edge type present.

    :func:`relation_edge_names` keeps forward names from ever equalling
    ``rev_`` + another forward name, so the test is unambiguous on graphs of
    :func:`build`.
    """
    src, rel, dst = edge_type
    return rel.startswith(REVERSE_PREFIX) and (dst, rel[len(REVERSE_PREFIX):], src) in edge_types


def to_networkx(data: HeteroData, include_reverse: bool = True) -> nx.MultiDiGraph:
    """The graph as a :class:`networkx.MultiDiGraph`, for path queries and explanations.

    Nodes are ``(node_type, index)`` tuples (e.g. ``('item', 42)``) with
    attribute ``type``. Every edge of every edge type is one networkx edge
    (parallel edges for duplicates) with attributes ``type`` (the edge type's
    relation name, e.g. ``'film_film_genre'`` or ``'rev_interacts'``),
    ``reverse`` (bool) and, on KG edges, ``relation`` (the KG relation index).

    Reverse edges are included by default so that a path such as
    ``user -interacts-> item -film_film_genre-> entity -rev_film_film_genre-> item``
    is a directed path; ``include_reverse=False`` keeps the source directions
    only (use ``G.to_undirected()`` or ``nx.all_simple_paths`` on it if
    direction does not matter).
    """
    graph = nx.MultiDiGraph()
    for node_type in data.node_types:
        graph.add_nodes_from(zip(repeat(node_type), range(data[node_type].num_nodes)), type=node_type)

    edge_types = set(data.edge_types)
    for edge_type in data.edge_types:
        src, rel, dst = edge_type
        reverse = _reverse_of(edge_type, edge_types)
        store = data[edge_type]
        if (reverse and not include_reverse) or "edge_index" not in store:
            continue
        heads, tails = store.edge_index.tolist()
        pairs = zip(zip(repeat(src), heads), zip(repeat(dst), tails))
        if "relation" in store:
            attributes = ({"relation": r} for r in store.relation.tolist())
            graph.add_edges_from(
                ((u, v, a) for (u, v), a in zip(pairs, attributes)), type=rel, reverse=reverse
            )
        else:
            graph.add_edges_from(pairs, type=rel, reverse=reverse)
    return graph
