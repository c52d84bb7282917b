"""graphrec.graph: RecDataset -> HeteroData, its homogeneous view, LightGCN's
adjacency and the networkx view.

References are hand-written edge lists on a tiny dataset, NumPy/SciPy
re-computations, and pandas counts on ml-100k and Last.FM read directly from
the shared data folder.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, RGCNConv, SAGEConv, to_hetero

from graphrec import graph
from graphrec.data import IdMap, Interactions, KnowledgeGraph, RecDataset
from tests.helpers import tiny_dataset

# ---------------------------------------------------------------------------
# The tiny hand-built dataset
#
# entities a b c d e (0..4); a is item 2, d is item 0; b, c, e are entity
# nodes 0, 1, 2. Relations: 0 "film.film.genre", 1 "sequel".
#   t0 (d, genre, b)   item 0   -> entity 0
#   t1 (a, genre, c)   item 2   -> entity 1
#   t2 (a, genre, c)   duplicate of t1
#   t3 (e, genre, b)   entity 2 -> entity 0
#   t4 (d, sequel, a)  item 0   -> item 2
#   t5 (b, sequel, d)  entity 0 -> item 0
# train (u, i): (0,0) (0,1) (1,1) (1,1) (2,3); valid (2,0); test (0,2) (1,3)
# ---------------------------------------------------------------------------

GENRE, SEQUEL = "film_film_genre", "sequel"

EXPECTED_FORWARD = {
    ("user", "interacts", "item"): [[0, 0, 1, 1, 2], [0, 1, 1, 1, 3]],
    ("item", GENRE, "entity"): [[0, 2, 2], [0, 1, 1]],
    ("entity", GENRE, "entity"): [[2], [0]],
    ("item", SEQUEL, "item"): [[0], [2]],
    ("entity", SEQUEL, "item"): [[0], [0]],
}
EXPECTED_RELATION = {GENRE: 0, SEQUEL: 1}


def reverse_type(edge_type: Tuple[str, str, str]) -> Tuple[str, str, str]:
    src, rel, dst = edge_type
    return (dst, "rev_" + rel, src)


@pytest.fixture
def tiny() -> HeteroData:
    return graph.build(tiny_dataset())


def test_tiny_nodes(tiny: HeteroData) -> None:
    assert tiny.node_types == ["user", "item", "entity"]
    assert {t: tiny[t].num_nodes for t in tiny.node_types} == {"user": 3, "item": 4, "entity": 3}
    assert tiny["item"].entity_index.tolist() == [3, -1, 0, -1]
    assert tiny["entity"].entity_index.tolist() == [1, 2, 4]


def test_tiny_edge_types_order_and_edges(tiny: HeteroData) -> None:
    forward = list(EXPECTED_FORWARD)
    assert tiny.edge_types == forward + [reverse_type(t) for t in forward]
    for edge_type, (heads, tails) in EXPECTED_FORWARD.items():
        assert tiny[edge_type].edge_index.tolist() == [heads, tails], edge_type
        assert tiny[reverse_type(edge_type)].edge_index.tolist() == [tails, heads], edge_type
        assert tiny[edge_type].edge_index.dtype == torch.long


def test_tiny_relation_index_on_kg_stores(tiny: HeteroData) -> None:
    for edge_type in tiny.edge_types:
        rel = edge_type[1].removeprefix("rev_")
        store = tiny[edge_type]
        if rel == "interacts":
            assert "relation" not in store
        else:
            assert store.relation.tolist() == [EXPECTED_RELATION[rel]] * store.num_edges


def test_kg_edges_are_twice_the_triples_and_ui_edges_twice_train(tiny: HeteroData) -> None:
    kg_edges = sum(tiny[t].num_edges for t in tiny.edge_types if "relation" in tiny[t])
    assert kg_edges == 2 * 6
    assert tiny["user", "interacts", "item"].num_edges + tiny["item", "rev_interacts", "user"].num_edges == 2 * 5


def test_valid_and_test_never_become_edges(tiny: HeteroData) -> None:
    pairs = set(map(tuple, tiny["user", "interacts", "item"].edge_index.t().tolist()))
    reverse_pairs = set(map(tuple, tiny["item", "rev_interacts", "user"].edge_index.flip(0).t().tolist()))
    for held_out in [(2, 0), (0, 2), (1, 3)]:
        assert held_out not in pairs and held_out not in reverse_pairs


def test_build_is_deterministic_and_validates() -> None:
    first, second = graph.build(tiny_dataset()), graph.build(tiny_dataset())
    assert first.edge_types == second.edge_types and first.node_types == second.node_types
    for edge_type in first.edge_types:
        assert torch.equal(first[edge_type].edge_index, second[edge_type].edge_index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no dangling types, no odd type names
        assert first.validate()


def test_graph_does_not_share_memory_with_dataset() -> None:
    dataset = tiny_dataset()
    data = graph.build(dataset)
    data["item"].entity_index[0] = 99
    data["user", "interacts", "item"].edge_index[0, 0] = 2
    assert dataset.kg.item_entity[0] == 3 and dataset.train.user[0] == 0


# -- relation names ---------------------------------------------------------


def test_relation_edge_names_mapping() -> None:
    raw = ["film.film.genre", "http://x.org/ns#p", "a__b", "a.b", "rev_c", "c", "", "interacts", 7, ".x."]
    assert graph.relation_edge_names(raw) == [
        "film_film_genre",
        "http_x_org_ns_p",
        "a_b",
        "a_b_3",  # clashes with a__b
        "rev_c",
        "c_5",  # rev_c_5 != rev_c; plain "c" would make rev_c ambiguous
        "relation_6",
        "interacts_7",
        "7",
        "x",
    ]


class _TwoLayer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = SAGEConv((-1, -1), 4)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(x, edge_index)


def test_iri_relation_names_work_with_pyg_heterogeneous_models() -> None:
    # '.' makes to_hetero raise and '#' makes HeteroConv drop an edge type: hence the mapping.
    data = graph.build(tiny_dataset(relation_names=("http://x.org/ns#genre", "http://schema.org/v1.0/sequel")))
    assert [t[1] for t in data.edge_types[:5]] == [
        "interacts", "http_x_org_ns_genre", "http_x_org_ns_genre", "http_schema_org_v1_0_sequel",
        "http_schema_org_v1_0_sequel",
    ]
    x = {t: torch.randn(data[t].num_nodes, 3) for t in data.node_types}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = to_hetero(_TwoLayer(), data.metadata(), aggr="sum")
        out = model(x, data.edge_index_dict)
        conv = HeteroConv({t: SAGEConv((-1, -1), 4) for t in data.edge_types})
        conv_out = conv(x, data.edge_index_dict)
    assert not [w for w in caught if "character" in str(w.message) or "underscore" in str(w.message)]
    for result in (out, conv_out):
        assert {t: tuple(v.shape) for t, v in result.items()} == {"user": (3, 4), "item": (4, 4), "entity": (3, 4)}


# -- no KG --------------------------------------------------------------------


def test_without_kg_there_is_no_entity_type() -> None:
    data = graph.build(tiny_dataset(with_kg=False))
    assert data.node_types == ["user", "item"]
    assert data.edge_types == [("user", "interacts", "item"), ("item", "rev_interacts", "user")]
    assert data["item"].entity_index.tolist() == [-1] * 4
    homo = data.to_homogeneous()
    assert homo.num_nodes == 7 and homo.edge_type.bincount().tolist() == [5, 5]
    out = RGCNConv(3, 2, num_relations=len(data.edge_types))(torch.randn(7, 3), homo.edge_index, homo.edge_type)
    assert out.shape == (7, 2)


def test_empty_train_keeps_the_interacts_types() -> None:
    dataset = tiny_dataset()
    dataset.train = dataset.train.empty()
    data = graph.build(dataset)
    assert data["user", "interacts", "item"].edge_index.shape == (2, 0)
    assert data.to_homogeneous().edge_type.bincount(minlength=10).tolist() == [0, 3, 1, 1, 1, 0, 3, 1, 1, 1]


# -- homogeneous view -------------------------------------------------------


def test_to_homogeneous_collaborative_kg(tiny: HeteroData) -> None:
    homo = tiny.to_homogeneous()
    assert homo.num_nodes == 10
    assert homo.node_type.tolist() == [0] * 3 + [1] * 4 + [2] * 3
    assert homo.edge_type.bincount().tolist() == [5, 3, 1, 1, 1, 5, 3, 1, 1, 1]
    assert graph.node_offsets(tiny) == {"user": 0, "item": 3, "entity": 7}
    # user u -> item i becomes u -> 3 + i; item 0 -sequel-> item 2 becomes 3 -> 5
    assert homo.edge_index[:, :5].tolist() == [[0, 0, 1, 1, 2], [3, 4, 4, 4, 6]]
    assert homo.edge_index[:, homo.edge_type == 3].tolist() == [[3], [5]]
    assert homo.edge_index[:, homo.edge_type == 2].tolist() == [[9], [7]]
    # attributes some types lack are filled with -1 by PyG
    assert homo.relation.tolist() == ([-1] * 5 + [0, 0, 0, 0, 1, 1]) * 2
    assert homo.entity_index.tolist() == [-1, -1, -1, 3, -1, 0, -1, 1, 2, 4]
    # and the HeteroData itself is left as it was
    assert "relation" not in tiny["user", "interacts", "item"] and "entity_index" not in tiny["user"]


def test_rgcn_forward_on_tiny(tiny: HeteroData) -> None:
    torch.manual_seed(0)
    homo = tiny.to_homogeneous()
    conv = RGCNConv(8, 5, num_relations=len(tiny.edge_types), is_sorted=True)
    out = conv(torch.randn(homo.num_nodes, 8), homo.edge_index, homo.edge_type)
    assert out.shape == (10, 5) and torch.isfinite(out).all()
    # the sorted fast path and the general path agree: edges really are grouped by type
    conv_unsorted = RGCNConv(8, 5, num_relations=len(tiny.edge_types))
    conv_unsorted.load_state_dict(conv.state_dict())
    x = torch.randn(homo.num_nodes, 8)
    perm = torch.randperm(homo.edge_index.size(1))
    torch.testing.assert_close(
        conv(x, homo.edge_index, homo.edge_type), conv_unsorted(x, homo.edge_index[:, perm], homo.edge_type[perm])
    )


# -- user-item edges and LightGCN's adjacency --------------------------------


def test_user_item_edge_index_from_each_source(tiny: HeteroData) -> None:
    dataset = tiny_dataset()
    expected = EXPECTED_FORWARD[("user", "interacts", "item")]
    assert graph.user_item_edge_index(tiny).tolist() == expected
    assert graph.user_item_edge_index(dataset).tolist() == expected
    assert graph.user_item_edge_index(dataset.train).tolist() == expected
    with pytest.raises(TypeError):
        graph.user_item_edge_index(np.zeros((2, 3)))


def dense_reference(user: np.ndarray, item: np.ndarray, num_users: int, num_items: int) -> np.ndarray:
    """D^-1/2 A D^-1/2 by dense NumPy algebra, R binary."""
    r = np.zeros((num_users, num_items))
    r[user, item] = 1.0
    a = np.block([[np.zeros((num_users, num_users)), r], [r.T, np.zeros((num_items, num_items))]])
    degree = a.sum(1)
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return inv_sqrt[:, None] * a * inv_sqrt[None, :]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_normalized_adjacency_matches_dense_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_users, num_items, n = 11, 13, 40
    # users 9, 10 and items 11, 12 never occur: zero-degree rows; repeats occur by chance
    user, item = rng.integers(0, 9, n), rng.integers(0, 11, n)
    user, item = np.append(user, user[:5]), np.append(item, item[:5])  # certain duplicates
    adj = graph.normalized_adjacency(torch.from_numpy(np.stack([user, item])), num_users, num_items)
    assert adj.layout == torch.sparse_csr and adj.dtype == torch.float32
    assert adj.shape == (num_users + num_items,) * 2
    dense = adj.to_dense().numpy()
    assert np.isfinite(dense).all()
    np.testing.assert_allclose(dense, dense_reference(user, item, num_users, num_items), rtol=1e-6, atol=0)
    assert adj.values().numel() == 2 * len(set(zip(user.tolist(), item.tolist())))  # no explicit zeros


def test_normalized_adjacency_matches_scipy_on_ml100k(data_root: Path) -> None:
    inter = pd.read_csv(data_root / "ml-100k" / "ml-100k.inter", sep="\t")
    users, items = np.unique(inter.iloc[:, 0]), np.unique(inter.iloc[:, 1])
    head = pd.concat([inter.iloc[:5000], inter.iloc[:300]])  # 300 exact repeats
    user = np.searchsorted(users, head.iloc[:, 0].to_numpy())
    item = np.searchsorted(items, head.iloc[:, 1].to_numpy())
    num_users, num_items = len(users), len(items)
    assert (num_users, num_items) == (943, 1682)

    r = sp.coo_matrix((np.ones(len(user)), (user, item)), shape=(num_users, num_items)).tocsr()
    r.data[:] = 1.0
    a = sp.bmat([[None, r], [r.T, None]], format="csr")
    degree = np.asarray(a.sum(1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    expected = (sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)).tocsr()
    expected.eliminate_zeros()
    expected.sort_indices()

    adj = graph.normalized_adjacency(torch.from_numpy(np.stack([user, item])), num_users, num_items)
    assert adj.shape == expected.shape
    np.testing.assert_array_equal(adj.crow_indices().numpy(), expected.indptr)
    np.testing.assert_array_equal(adj.col_indices().numpy(), expected.indices)
    np.testing.assert_allclose(adj.values().numpy(), expected.data, rtol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_normalized_adjacency_stays_on_the_device() -> None:
    edge_index = torch.stack([torch.randint(0, 50, (500,)), torch.randint(0, 70, (500,))])
    on_cpu = graph.normalized_adjacency(edge_index, 60, 80)
    on_gpu = graph.normalized_adjacency(edge_index.cuda(), 60, 80)
    assert on_gpu.device.type == "cuda" and on_gpu.layout == torch.sparse_csr
    torch.testing.assert_close(on_gpu.to_dense().cpu(), on_cpu.to_dense())


def test_normalized_adjacency_empty_and_bad_input() -> None:
    empty = graph.normalized_adjacency(torch.zeros((2, 0), dtype=torch.long), 3, 4)
    assert empty.shape == (7, 7) and empty.to_dense().abs().sum() == 0
    assert empty.crow_indices().tolist() == [0] * 8
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        graph.normalized_adjacency(torch.zeros((3, 2), dtype=torch.long), 3, 4)
    with pytest.raises(ValueError, match="item indices"):
        graph.normalized_adjacency(torch.tensor([[0], [4]]), 3, 4)
    with pytest.raises(ValueError, match="user indices"):
        graph.normalized_adjacency(torch.tensor([[-1], [0]]), 3, 4)
    with pytest.raises(TypeError):
        graph.normalized_adjacency(torch.zeros((2, 1)), 3, 4)


# -- networkx ---------------------------------------------------------------


def test_to_networkx_tiny(tiny: HeteroData) -> None:
    g = graph.to_networkx(tiny)
    assert g.number_of_nodes() == 10 and g.number_of_edges() == 2 * (5 + 6)
    assert dict(g.nodes(data="type")) == {
        **{("user", i): "user" for i in range(3)},
        **{("item", i): "item" for i in range(4)},
        **{("entity", i): "entity" for i in range(3)},
    }
    # the duplicated triple and the duplicated interaction are parallel edges
    assert g.number_of_edges(("item", 2), ("entity", 1)) == 2
    assert g.number_of_edges(("user", 1), ("item", 1)) == 2
    assert list(g.get_edge_data(("item", 2), ("entity", 1)).values())[0] == {
        "type": GENRE, "relation": 0, "reverse": False,
    }
    assert list(g.get_edge_data(("item", 0), ("entity", 0)).values()) == [
        {"type": GENRE, "relation": 0, "reverse": False},
        {"type": "rev_sequel", "relation": 1, "reverse": True},
    ]
    assert list(g.get_edge_data(("item", 3), ("user", 2)).values()) == [{"type": "rev_interacts", "reverse": True}]
    types = pd.Series([t for _, _, t in g.edges(data="type")]).value_counts().to_dict()
    assert types == {
        "interacts": 5, "rev_interacts": 5, GENRE: 4, "rev_" + GENRE: 4, SEQUEL: 2, "rev_" + SEQUEL: 2,
    }

    forward_only = graph.to_networkx(tiny, include_reverse=False)
    assert forward_only.number_of_nodes() == 10 and forward_only.number_of_edges() == 11
    assert not any(r for _, _, r in forward_only.edges(data="reverse"))


# -- real data ----------------------------------------------------------------


def _read_recbole(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", dtype=str)
    frame.columns = [c.split(":")[0] for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def ml100k(data_root: Path) -> Dict[str, object]:
    folder = data_root / "ml-100k"
    inter = _read_recbole(folder / "ml-100k.inter")
    kg = _read_recbole(folder / "ml-100k.kg")
    link = _read_recbole(folder / "ml-100k.link")

    users, items = IdMap(np.unique(inter["user_id"])), IdMap(np.unique(inter["item_id"]))
    user, item = users.index(inter["user_id"].to_numpy()), items.index(inter["item_id"].to_numpy())
    split = np.random.default_rng(0).permutation(len(inter))
    parts = np.split(split, [80_000, 90_000])
    train, valid, test = (Interactions(user[p], item[p], users, items) for p in parts)

    entities = IdMap(np.unique(np.concatenate([kg["head_id"], kg["tail_id"], link["entity_id"]])))
    relations = IdMap(np.unique(kg["relation_id"]))
    item_entity = np.full(len(items), -1, dtype=np.int64)
    item_entity[items.index(link["item_id"].to_numpy())] = entities.index(link["entity_id"].to_numpy())
    knowledge = KnowledgeGraph(
        head=entities.index(kg["head_id"].to_numpy()),
        relation=relations.index(kg["relation_id"].to_numpy()),
        tail=entities.index(kg["tail_id"].to_numpy()),
        entity_names=entities.raw,
        relation_names=relations.raw,
        item_entity=item_entity,
    )
    dataset = RecDataset("ml-100k", train, test, valid, knowledge)
    return {"dataset": dataset, "kg": kg, "link": link, "data": graph.build(dataset)}


def test_ml100k_node_counts(ml100k) -> None:
    data, kg, link = ml100k["data"], ml100k["kg"], ml100k["link"]
    kg_entities = set(kg["head_id"]) | set(kg["tail_id"])
    unaligned = kg_entities - set(link["entity_id"])
    # README: 943 users, 1,682 items, 34,628 entities of which 1,598 are linked items
    assert len(kg_entities) == 34_628 and len(unaligned) == 34_628 - 1_598
    assert {t: data[t].num_nodes for t in data.node_types} == {"user": 943, "item": 1682, "entity": len(unaligned)}
    assert int((data["item"].entity_index >= 0).sum()) == 1_598


def test_ml100k_edge_types_match_pandas_counts(ml100k) -> None:
    data, kg, link, dataset = ml100k["data"], ml100k["kg"], ml100k["link"], ml100k["dataset"]
    linked = set(link["entity_id"])
    side = {True: "item", False: "entity"}
    counts = kg.groupby([kg["head_id"].isin(linked), kg["relation_id"], kg["tail_id"].isin(linked)]).size()
    expected = {("user", "interacts", "item"): len(dataset.train), ("item", "rev_interacts", "user"): len(dataset.train)}
    for (head_is_item, relation, tail_is_item), n in counts.items():
        name = relation.replace(".", "_")
        expected[(side[head_is_item], name, side[tail_is_item])] = n
        expected[(side[tail_is_item], "rev_" + name, side[head_is_item])] = n
    assert {t: data[t].num_edges for t in data.edge_types} == expected
    assert sum(data[t].num_edges for t in data.edge_types if "relation" in data[t]) == 2 * 91_631
    assert len(data.edge_types) == 2 * (1 + len(counts))


def test_ml100k_kg_edges_map_back_to_the_triples(ml100k) -> None:
    data, dataset = ml100k["data"], ml100k["dataset"]
    kg = dataset.kg
    entity_of = {t: data[t].entity_index.numpy() for t in ("item", "entity")}
    forward = [t for t in data.edge_types[: len(data.edge_types) // 2] if "relation" in data[t]]
    rebuilt = pd.concat(
        pd.DataFrame({
            "head": entity_of[src][data[(src, rel, dst)].edge_index[0].numpy()],
            "relation": data[(src, rel, dst)].relation.numpy(),
            "tail": entity_of[dst][data[(src, rel, dst)].edge_index[1].numpy()],
        })
        for src, rel, dst in forward
    )
    source = pd.DataFrame({"head": kg.head, "relation": kg.relation, "tail": kg.tail})
    pd.testing.assert_frame_equal(
        rebuilt.sort_values(list(rebuilt.columns)).reset_index(drop=True),
        source.sort_values(list(source.columns)).reset_index(drop=True),
    )
    # within an edge type, edges follow the source's triple order
    head_is_item = kg.entity_item()[kg.head] >= 0
    tail_is_item = kg.entity_item()[kg.tail] >= 0
    start = 0
    for src, rel, dst in forward:
        n = data[(src, rel, dst)].num_edges
        mask = (
            (source["relation"] == int(data[(src, rel, dst)].relation[0]))
            & (head_is_item == (src == "item"))
            & (tail_is_item == (dst == "item"))
        )
        pd.testing.assert_frame_equal(
            rebuilt.iloc[start : start + n].reset_index(drop=True), source[mask].reset_index(drop=True)
        )
        start += n
    # each edge type's name is its relation's name with '.' -> '_'
    for src, rel, dst in forward:
        assert kg.relation_names[int(data[(src, rel, dst)].relation[0])].replace(".", "_") == rel


def test_ml100k_user_item_edges_are_train_only(ml100k) -> None:
    data, dataset = ml100k["data"], ml100k["dataset"]
    edges = data["user", "interacts", "item"].edge_index.numpy()
    keys = np.sort(edges[0] * dataset.num_items + edges[1])
    np.testing.assert_array_equal(keys, np.sort(dataset.train.pair_keys()))
    held_out = np.concatenate([dataset.valid.pair_keys(), dataset.test.pair_keys()])
    assert not np.isin(held_out, keys).any()  # ml-100k has no repeated (user, item) pairs


def test_ml100k_rgcn_forward(ml100k) -> None:
    data = ml100k["data"]
    homo = data.to_homogeneous()
    num_nodes = 943 + 1682 + data["entity"].num_nodes
    assert homo.num_nodes == num_nodes
    assert homo.edge_type.bincount().tolist() == [data[t].num_edges for t in data.edge_types]
    conv = RGCNConv(4, 3, num_relations=len(data.edge_types), num_bases=2, is_sorted=True)
    out = conv(torch.randn(num_nodes, 4), homo.edge_index, homo.edge_type)
    assert out.shape == (num_nodes, 3) and torch.isfinite(out).all()


def test_lastfm_to_networkx_counts(data_root: Path) -> None:
    folder = data_root / "lastfm-kgcn"
    plays = pd.read_csv(folder / "user_artists.dat", sep="\t")
    link = pd.read_csv(folder / "item_index2entity_id.txt", sep="\t", header=None, names=["artist", "entity"])
    triples = pd.read_csv(folder / "kg.txt", sep="\t", header=None, names=["head", "relation", "tail"])
    plays = plays[plays["artistID"].isin(link["artist"])]
    # README: 1,872 users, 3,846 linked artists, 21,173 interactions; 9,366 entities, 60 relations, 15,518 triples
    assert (plays["userID"].nunique(), len(link), len(plays)) == (1_872, 3_846, 21_173)

    users, items = IdMap(np.unique(plays["userID"])), IdMap(link["artist"].to_numpy())
    train = Interactions(users.index(plays["userID"].to_numpy()), items.index(plays["artistID"].to_numpy()), users, items)
    entities = IdMap(np.unique(np.concatenate([triples["head"], triples["tail"], link["entity"]])))
    relations = IdMap(np.unique(triples["relation"]))
    kg = KnowledgeGraph(
        head=entities.index(triples["head"].to_numpy()),
        relation=relations.index(triples["relation"].to_numpy()),
        tail=entities.index(triples["tail"].to_numpy()),
        entity_names=entities.raw,
        relation_names=relations.raw,
        item_entity=entities.index(link["entity"].to_numpy()),
    )
    assert (kg.num_entities, kg.num_relations, kg.num_triples) == (9_366, 60, 15_518)
    data = graph.build(RecDataset("lastfm", train, train.empty(), kg=kg))

    g = graph.to_networkx(data)
    assert g.number_of_nodes() == 1_872 + 9_366  # each linked artist is one node
    assert g.number_of_edges() == 2 * (21_173 + 15_518)
    relation_counts = pd.Series([r for _, _, r in g.edges(data="relation") if r is not None]).value_counts()
    expected = triples["relation"].map(dict(zip(relations.raw, range(60)))).value_counts() * 2
    pd.testing.assert_series_equal(relation_counts.sort_index(), expected.sort_index(), check_names=False)
