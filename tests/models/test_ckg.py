"""graphrec.models.ckg: the collaborative-KG view relational encoders consume.

References: the tiny hand-built dataset of tests/test_graph.py with its
homogeneous edges written out by hand, and on the synthetic world a set of
triples rebuilt with NumPy straight from the dataset's arrays.
"""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from graphrec import graph
from graphrec.data import synthetic
from graphrec.models.ckg import CKGCache, check_sizes, ckg_sizes, collaborative_kg, segment_matmul
from tests.helpers import tiny_dataset

# Entities a b c d e (0..4); a is item 2, d is item 0; b, c, e are entity nodes.
# Homogeneous ids: users 0-2, items 3-6, entity nodes b=7, c=8, e=9.
# Relations: genre (0), sequel (1) -> canonical 0 interacts, 1 genre, 2 sequel,
# 3 rev_interacts, 4 rev_genre, 5 rev_sequel.


# (head, tail) per canonical relation, distinct, in the documented order
# (relation, edge type, head, tail); the duplicates (u1, i1) and (a, genre, c) appear once.
EXPECTED = {
    0: [(0, 3), (0, 4), (1, 4), (2, 6)],
    1: [(3, 7), (5, 8), (9, 7)],  # item->entity first, then entity->entity
    2: [(3, 5), (7, 3)],  # item->item, then entity->item
    3: [(3, 0), (4, 0), (4, 1), (6, 2)],
    4: [(7, 3), (8, 5), (7, 9)],
    5: [(5, 3), (3, 7)],
}


def test_tiny_view_ids_offsets_and_order() -> None:
    data = graph.build(tiny_dataset())
    view = collaborative_kg(data)
    assert (view.num_users, view.num_items, view.num_entities, view.num_kg_relations) == (3, 4, 3, 2)
    assert view.offsets == {"user": 0, "item": 3, "entity": 7}
    assert (view.num_nodes, view.num_forward_relations, view.num_relations) == (10, 3, 6)
    pairs = [pair for relation in range(6) for pair in EXPECTED[relation]]
    assert view.edge_index.t().tolist() == [list(p) for p in pairs]
    assert view.relation.tolist() == [r for r in range(6) for _ in EXPECTED[r]]
    assert view.relation_ptr == (0, 4, 7, 9, 13, 16, 18)
    # edge_type indexes graph.edge_types: check each edge against its type's node ranges and name
    for (head, tail), type_id, relation in zip(pairs, view.edge_type.tolist(), view.relation.tolist()):
        src, name, dst = data.edge_types[type_id]
        assert view.offsets[src] <= head < view.offsets[src] + data[src].num_nodes
        assert view.offsets[dst] <= tail < view.offsets[dst] + data[dst].num_nodes
        base = name.removeprefix("rev_")
        assert {"interacts": 0, "film_film_genre": 1, "sequel": 2}[base] + 3 * name.startswith("rev_") == relation
    assert view.edge_index.dtype == view.relation.dtype == view.edge_type.dtype == torch.long


@pytest.mark.parametrize("deduplicate", [True, False])
@pytest.mark.parametrize("source", ["tiny", "synthetic"])
def test_grouping_relation_sorted_and_edge_types_contiguous(source: str, deduplicate: bool) -> None:
    dataset = tiny_dataset() if source == "tiny" else synthetic(40, 30, clicks_per_user=4, seed=1).dataset
    view = collaborative_kg(graph.build(dataset), deduplicate=deduplicate)
    relation, edge_type = view.relation.numpy(), view.edge_type.numpy()
    assert (np.diff(relation) >= 0).all()
    # every edge type occupies one contiguous run
    starts = np.flatnonzero(np.r_[True, edge_type[1:] != edge_type[:-1]])
    assert len(starts) == len(np.unique(edge_type))
    np.testing.assert_array_equal(np.diff(view.relation_ptr), np.bincount(relation, minlength=view.num_relations))


def test_keep_duplicates_option() -> None:
    view = collaborative_kg(graph.build(tiny_dataset()), deduplicate=False)
    # 5 train clicks and 6 triples, both directions
    assert view.num_edges == 2 * (5 + 6)
    assert view.relation_ptr == (0, 5, 9, 11, 16, 20, 22)
    assert view.edge_index[:, :5].t().tolist() == [[0, 3], [0, 4], [1, 4], [1, 4], [2, 6]]


def test_without_kg() -> None:
    data = graph.build(tiny_dataset(with_kg=False))
    assert ckg_sizes(data) == (3, 4, 0, 0)
    view = collaborative_kg(data)
    assert view.num_relations == 2 and view.relation_ptr == (0, 4, 8)
    assert view.edge_index.t().tolist() == [list(p) for p in EXPECTED[0] + EXPECTED[3]]
    index, relation = view.kg_edges()
    assert index.shape == (2, 0) and relation.numel() == 0


def test_matches_the_dataset_on_the_synthetic_world() -> None:
    dataset = synthetic(60, 40, clicks_per_user=5, seed=3).dataset
    view = collaborative_kg(graph.build(dataset))
    num_users, num_items, kg = dataset.num_users, dataset.num_items, dataset.kg
    # NumPy reference: entity -> homogeneous node (aligned entities are their item)
    node_of_entity = np.full(kg.num_entities, -1)
    linked = kg.item_entity >= 0
    node_of_entity[kg.item_entity[linked]] = num_users + np.flatnonzero(linked)
    unaligned = np.flatnonzero(node_of_entity < 0)
    node_of_entity[unaligned] = num_users + num_items + np.arange(len(unaligned))
    f = 1 + kg.num_relations
    expected = {(u, 0, num_users + i) for u, i in zip(dataset.train.user, dataset.train.item)}
    expected |= {(num_users + i, f, u) for u, i in zip(dataset.train.user, dataset.train.item)}
    for h, r, t in zip(node_of_entity[kg.head], kg.relation, node_of_entity[kg.tail]):
        expected |= {(h, 1 + r, t), (t, f + 1 + r, h)}
    head, tail = view.edge_index.numpy()
    got = list(zip(head.tolist(), view.relation.tolist(), tail.tolist()))
    assert len(got) == len(set(got)) == len(expected)
    assert set(got) == {tuple(int(v) for v in e) for e in expected}
    assert view.num_nodes == num_users + num_items + len(unaligned)


def test_contains_and_kg_edges() -> None:
    view = collaborative_kg(graph.build(tiny_dataset()))
    head = torch.tensor([3, 3, 0, 7, 5])
    relation = torch.tensor([1, 2, 0, 1, 4])
    tail = torch.tensor([7, 7, 3, 3, 8])
    assert view.contains(head, relation, tail).tolist() == [True, False, True, False, False]
    index, relation = view.kg_edges()
    assert index.t().tolist() == [list(p) for r in (1, 2, 4, 5) for p in EXPECTED[r]]
    assert relation.tolist() == [r for r in (1, 2, 4, 5) for _ in EXPECTED[r]]


def test_tail_groups_are_the_neighbourhoods() -> None:
    view = collaborative_kg(graph.build(tiny_dataset()))
    groups = view.tail_groups
    # the groups are N_r(i): the heads of the triples (j, r, i), one group per (r, i), sorted
    expected = sorted({(r, t) for r in EXPECTED for _, t in EXPECTED[r]})
    relation_of_group = np.repeat(np.arange(6), np.diff(groups.ptr))
    assert list(zip(relation_of_group.tolist(), groups.node.tolist())) == expected
    for g, (r, i) in enumerate(expected):
        members = (groups.index == g).nonzero().squeeze(1)
        assert sorted(view.edge_index[0, members].tolist()) == sorted(h for h, t in EXPECTED[r] if t == i)
        assert groups.size[g] == len(members)


def test_cache_reuses_and_invalidates() -> None:
    first, second = graph.build(tiny_dataset()), graph.build(tiny_dataset(with_kg=False))
    cache = CKGCache()
    view = cache.get(first, "cpu")
    assert cache.get(first, torch.device("cpu")) is view
    other = cache.get(second, "cpu")
    assert other is not view and other.num_relations == 2
    assert cache.get(first, "cpu") is not view  # rebuilt after a different graph came in
    cache.clear()
    # copies and pickles of a model must not carry graph tensors or weak references along
    assert copy.deepcopy(cache).get(first, "cpu").num_relations == 6
    assert pickle.loads(pickle.dumps(cache)).get(first, "cpu").num_nodes == 10


def test_check_sizes() -> None:
    view = collaborative_kg(graph.build(tiny_dataset()))

    class Sized:
        num_users, num_items, num_entities, num_kg_relations = 3, 4, 3, 2

    check_sizes(view, Sized())
    Sized.num_kg_relations = 3
    with pytest.raises(ValueError, match="KG relations"):
        check_sizes(view, Sized())


def test_segment_matmul_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    x, weight = rng.normal(size=(9, 3)), rng.normal(size=(4, 3, 2))
    ptr = [0, 2, 2, 7, 9]  # type 1 is empty
    expected = np.concatenate([x[0:2] @ weight[0], x[2:7] @ weight[2], x[7:9] @ weight[3]])
    out = segment_matmul(torch.from_numpy(x), ptr, torch.from_numpy(weight))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    batched = segment_matmul(torch.from_numpy(np.stack([x, 2 * x], 1)), ptr, torch.from_numpy(weight))
    np.testing.assert_allclose(batched[:, 1].numpy(), 2 * expected, rtol=1e-12)
    assert segment_matmul(torch.zeros(0, 3), [0, 0], torch.zeros(1, 3, 2)).shape == (0, 2)
