"""graphrec.models.Pop and ItemKNN against NumPy/SciPy re-computations."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphrec.data import IdMap, Interactions, RecDataset, synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.models import itemknn
from graphrec.models.itemknn import ItemKNN
from graphrec.models.pop import Pop


def interactions(user, item, num_users: int, num_items: int) -> Interactions:
    return Interactions(np.asarray(user), np.asarray(item), IdMap.range(num_users), IdMap.range(num_items))


def random_train(seed: int, num_users: int = 25, num_items: int = 12, density: float = 0.3) -> Interactions:
    """Random binary interactions with some pairs repeated and one item never seen."""
    rng = np.random.default_rng(seed)
    clicks = rng.random((num_users, num_items)) < density
    clicks[:, -1] = False  # an item without interactions
    user, item = np.nonzero(clicks)
    repeat = rng.random(len(user)) < 0.2  # repeated clicks count once in ItemKNN
    return interactions(np.r_[user, user[repeat]], np.r_[item, item[repeat]], num_users, num_items)


def _matrices(train: Interactions):
    R = sp.csr_matrix((np.ones(len(train)), (train.user, train.item)), shape=(train.num_users, train.num_items))
    return R.T.tocsr(), R


def graph_of(train: Interactions):
    return build(RecDataset(name="toy", train=train, test=train.empty()))


def numpy_itemknn(train: Interactions, k: int, shrink: float):
    """Cosine similarity (SciPy), pruned to each item's k best neighbours
    (ties: lower index first, by np.lexsort), and the scores R @ S_k^T."""
    R = sp.csr_matrix(
        (np.ones(len(train)), (train.user, train.item)), shape=(train.num_users, train.num_items)
    )
    R.data[:] = 1.0  # binary: duplicates summed by the constructor, then reset
    co = (R.T @ R).toarray()
    count = np.asarray(R.sum(axis=0)).ravel()
    denominator = np.sqrt(count[:, None] * count[None, :]) + shrink  # ||r_i|| ||r_j|| + shrink
    similarity = np.divide(co, denominator, out=np.zeros_like(co), where=denominator > 0)
    np.fill_diagonal(similarity, 0.0)
    similarity = similarity.astype(np.float32).astype(np.float64)  # ties are decided on stored float32 values
    kept = np.zeros_like(similarity)
    for i in range(train.num_items):  # reference implementation: a plain loop is fine here
        others = np.delete(np.arange(train.num_items), i)
        best = others[np.lexsort((others, -similarity[i, others]))[:k]]
        kept[i, best] = similarity[i, best]
    return similarity, kept, R.toarray() @ kept.T


# -- Pop ----------------------------------------------------------------------

def test_pop_counts_and_scores():
    train = random_train(0)
    model = Pop(train.num_users, train.num_items).fit(train)
    assert not model.trainable
    expected = np.bincount(train.item, minlength=train.num_items).astype(np.float32)  # repeats count
    np.testing.assert_array_equal(model.item_count.numpy(), expected)
    user_emb, item_emb = model(graph_of(train))
    users = torch.tensor([0, 5, 24])
    scores = model.full_scores(users, user_emb, item_emb)
    np.testing.assert_array_equal(scores.numpy(), np.tile(expected, (3, 1)))
    pairs = model.score(user_emb[users], item_emb[torch.tensor([1, 2, 3])])
    np.testing.assert_array_equal(pairs.numpy(), expected[[1, 2, 3]])


def test_pop_state_registry_and_reset():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    model = create_model("pop", graph)
    with pytest.raises(RuntimeError, match="fit"):
        model(graph)
    model.fit(dataset.train)
    fresh = create_model("pop", graph)
    fresh.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(fresh(graph)[1].squeeze(1).numpy(), dataset.train.item_counts())
    model.reset_parameters()
    with pytest.raises(RuntimeError):
        model(graph)


# -- ItemKNN ------------------------------------------------------------------

@pytest.mark.parametrize("shrink", [0.0, 2.5])
def test_itemknn_cosine_without_pruning(shrink):
    train = random_train(1)
    model = ItemKNN(train.num_users, train.num_items, k=1000, shrink=shrink).fit(train)
    assert model.neighbor_index.shape == (12, 11)  # k capped at num_items - 1
    similarity, kept, _ = numpy_itemknn(train, k=11, shrink=shrink)
    np.testing.assert_allclose(kept, similarity)  # nothing pruned
    np.testing.assert_allclose(model.item_similarity().to_dense().numpy(), similarity, rtol=1e-6, atol=1e-7)
    assert not model.item_similarity().to_dense()[-1].any()  # the unseen item has no neighbours


@pytest.mark.parametrize("k", [1, 3, 5])
def test_itemknn_pruning_and_scores(k, monkeypatch):
    train = random_train(2, num_users=30, num_items=15, density=0.25)  # binary columns: many ties
    model = ItemKNN(train.num_users, train.num_items, k=k).fit(train)
    _, kept, expected_scores = numpy_itemknn(train, k=k, shrink=0.0)
    np.testing.assert_allclose(model.item_similarity().to_dense().numpy(), kept, rtol=1e-6, atol=1e-7)

    users = torch.tensor([0, 29, 7, 7, 13])
    user_emb, item_emb = model(graph_of(train))
    scores = model.full_scores(users, user_emb, item_emb)
    assert scores.shape == (5, 15)
    np.testing.assert_allclose(scores.numpy(), expected_scores[users.numpy()], rtol=1e-5, atol=1e-6)

    # fitting in blocks of 4 items, or in blocks bounded by a tiny pair budget, gives the same neighbours
    blocked = ItemKNN(train.num_users, train.num_items, k=k).fit(train, block_size=4)
    monkeypatch.setattr(itemknn, "_BLOCK_PAIRS", 40)
    assert len(itemknn._blocks(*_matrices(train), None)) > 3
    budgeted = ItemKNN(train.num_users, train.num_items, k=k).fit(train)
    for other in (blocked, budgeted):
        assert torch.equal(other.neighbor_index, model.neighbor_index)
        torch.testing.assert_close(other.neighbor_similarity, model.neighbor_similarity)


def test_itemknn_scores_use_the_graph_history():
    train = random_train(3)
    model = ItemKNN(train.num_users, train.num_items, k=4).fit(train)
    # a user with no history scores 0 everywhere; add one click through the graph only
    empty_user = interactions(train.user[train.user != 0], train.item[train.user != 0], 25, 12)
    user_emb, item_emb = model(graph_of(empty_user))
    assert not model.full_scores(torch.tensor([0]), user_emb, item_emb).any()
    _, kept, _ = numpy_itemknn(train, k=4, shrink=0.0)
    one_click = Interactions.concat([empty_user, interactions([0], [2], 25, 12)])
    user_emb, item_emb = model(graph_of(one_click))
    np.testing.assert_allclose(model.full_scores(torch.tensor([0]), user_emb, item_emb)[0].numpy(), kept[:, 2],
                               rtol=1e-6)


def test_itemknn_registry_state_and_reset():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    model = create_model("itemknn", graph, k=20, shrink=1.0)
    assert isinstance(model, ItemKNN) and not model.trainable
    with pytest.raises(RuntimeError, match="fit"):
        model(graph)
    model.fit(dataset.train)
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (200, 150) and item_emb.shape == (150, 150)
    for matrix in (user_emb, item_emb):  # valid CSR: sorted, distinct columns per row
        torch.sparse_csr_tensor(matrix.crow_indices(), matrix.col_indices(), matrix.values(), matrix.shape,
                                check_invariants=True)
    users = torch.arange(0, 200, 7)
    scores = model.full_scores(users, user_emb, item_emb)
    _, _, expected = numpy_itemknn(dataset.train, k=20, shrink=1.0)
    np.testing.assert_allclose(scores.numpy(), expected[users.numpy()], rtol=1e-5, atol=1e-6)

    fresh = create_model("itemknn", graph, k=20, shrink=1.0)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.full_scores(users, *fresh(graph)), scores)
    model.reset_parameters()
    with pytest.raises(RuntimeError):
        model(graph)
