"""Full-ranking Evaluator and sampled_evaluate against plain NumPy loops over users."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.data import IdMap, Interactions
from graphrec.evaluate import Evaluator, sampled_evaluate

ALL = ("recall", "ndcg", "precision", "hit", "mrr", "map")


# -- a random world ------------------------------------------------------------
def make_world(seed: int = 0, num_users: int = 40, num_items: int = 30):
    """Train / valid / test with users of 0, 1 and many test items, duplicates, overlaps."""
    rng = np.random.default_rng(seed)
    users, items = IdMap(np.arange(num_users)), IdMap(np.arange(num_items))

    def part(pairs):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return Interactions(user=pairs[:, 0], item=pairs[:, 1], user_ids=users, item_ids=items)

    train, valid, test = [], [], []
    for u in range(num_users):
        order = rng.permutation(num_items)
        n_train = rng.integers(1, 12)
        n_valid = rng.integers(0, 3)
        kind = u % 4  # 0: no test item, 1: one, 2-3: many
        n_test = 0 if kind == 0 else 1 if kind == 1 else rng.integers(2, 10)
        train += [(u, i) for i in order[:n_train]]
        valid += [(u, i) for i in order[n_train : n_train + n_valid]]
        test += [(u, i) for i in order[n_train + n_valid : n_train + n_valid + n_test]]
    test += test[:6]  # duplicate test pairs
    test += [train[0], train[5]]  # test pairs that are also training pairs
    test += [(7, int(i)) for i in range(num_items) if (7, i) in set(train)]  # user 7: only excluded test items...
    test = [p for p in test if p[0] != 7 or p in set(train)]  # ...and nothing else
    return part(train), part(valid), part(test), rng


def reference(scores: np.ndarray, test: Interactions, exclude, ks, popularity=None, count_excluded=False,
              head_share=0.2):
    """Loop over users: rank by (score desc, item asc) among unmasked items, then the textbook formulas."""
    num_users, num_items = scores.shape
    excluded = {u: set() for u in range(num_users)}
    for part in exclude:
        for u, i in zip(part.user, part.item):
            excluded[u].add(int(i))
    relevant = {u: set() for u in range(num_users)}
    for u, i in zip(test.user, test.item):
        relevant[u].add(int(i))
    if popularity is not None:
        order = sorted(range(num_items), key=lambda i: (-popularity[i], i))
        head = set(order[: math.ceil(round(head_share * num_items, 9))])
    sums = {}
    recommended = {k: set() for k in ks}
    evaluated = 0
    for u in range(num_users):
        rankable = relevant[u] - excluded[u]
        denominator = len(relevant[u]) if count_excluded else len(rankable)
        if denominator == 0:
            continue
        evaluated += 1
        candidates = [i for i in range(num_items) if i not in excluded[u] and scores[u, i] != -np.inf]
        ranked = sorted(candidates, key=lambda i: (-scores[u, i], i))
        for k in ks:
            top = ranked[:k]
            recommended[k].update(top)
            rel = [1 if i in rankable else 0 for i in top]
            hits = sum(rel)
            dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
            idcg = sum(1 / math.log2(pos + 2) for pos in range(min(denominator, k)))
            first = next((pos + 1 for pos, r in enumerate(rel) if r), None)
            ap = sum(sum(rel[: pos + 1]) / (pos + 1) for pos, r in enumerate(rel) if r) / min(denominator, k)
            values = {
                "recall": hits / denominator, "ndcg": dcg / idcg, "precision": hits / k,
                "hit": float(hits > 0), "mrr": 0.0 if first is None else 1 / first, "map": ap,
            }
            if popularity is not None:
                values["popularity"] = np.mean([popularity[i] for i in top]) if top else 0.0
                values["longtail"] = np.mean([i not in head for i in top]) if top else 0.0
            for name, value in values.items():
                sums[f"{name}@{k}"] = sums.get(f"{name}@{k}", 0.0) + value
    result = {key: value / evaluated for key, value in sums.items()}
    for k in ks:
        result[f"coverage@{k}"] = len(recommended[k]) / num_items
    return result, evaluated


def assert_matches(got: dict, expected: dict):
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert isinstance(got[key], float), key
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def table_score_fn(table: torch.Tensor, calls: list = None):
    def score_fn(users: torch.Tensor) -> torch.Tensor:
        assert users.dtype == torch.int64 and users.dim() == 1
        if calls is not None:
            calls.append(users.clone())
        return table[users]
    return score_fn


# -- full ranking ----------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_metric_against_loop_reference(seed):
    train, valid, test, rng = make_world(seed)
    scores = rng.standard_normal((train.num_users, train.num_items))
    ks = (1, 5, 20)
    popularity = train.item_counts()
    evaluator = Evaluator(test, exclude=[train, valid], ks=ks, item_popularity=popularity, batch_size=1000)
    got = evaluator.evaluate(table_score_fn(torch.from_numpy(scores).float()))
    expected, evaluated = reference(scores.astype(np.float32), test, [train, valid], ks, popularity)
    assert_matches(got, expected)
    assert evaluator.num_users == evaluated
    # users without a test item (u % 4 == 0) and user 7 (only excluded test items) are left out
    assert 0 not in evaluator.users.tolist() and 7 not in evaluator.users.tolist()
    assert 1 in evaluator.users.tolist()


def test_small_batches_give_identical_results_and_users_are_batched():
    train, valid, test, rng = make_world(3)
    table = torch.from_numpy(rng.standard_normal((train.num_users, train.num_items)))
    ks = (3, 10)
    kwargs = dict(exclude=[train], ks=ks, item_popularity=train.item_counts())
    whole = Evaluator(test, batch_size=8192, **kwargs).evaluate(table_score_fn(table))
    calls = []
    batched = Evaluator(test, batch_size=7, **kwargs).evaluate(table_score_fn(table, calls))
    assert batched == pytest.approx(whole, rel=1e-12, abs=1e-15)
    assert max(len(c) for c in calls) == 7
    seen = torch.cat(calls).tolist()
    train_pairs = set(zip(train.user.tolist(), train.item.tolist()))
    expected_users = sorted({u for u, i in zip(test.user.tolist(), test.item.tolist()) if (u, i) not in train_pairs})
    assert seen == expected_users and len(seen) == len(set(seen))  # each evaluated user exactly once


def test_ties_broken_by_item_index():
    """Integer scores with many ties (a popularity ranking): the lower item index ranks first."""
    train, valid, test, rng = make_world(4)
    scores = rng.integers(0, 3, size=(train.num_users, train.num_items)).astype(np.float64)
    ks = (1, 4, 10)
    got = Evaluator(test, exclude=[train, valid], ks=ks, item_popularity=train.item_counts()).evaluate(
        table_score_fn(torch.from_numpy(scores))
    )
    expected, _ = reference(scores, test, [train, valid], ks, train.item_counts())
    assert_matches(got, expected)
    # all scores equal: every user gets the lowest unmasked item indices
    flat = np.zeros_like(scores)
    got = Evaluator(test, exclude=[train], ks=ks).evaluate(table_score_fn(torch.from_numpy(flat)))
    assert_matches(got, reference(flat, test, [train], ks)[0])


def test_masked_items_are_never_recommended():
    train, valid, test, rng = make_world(5)
    # training items score highest, test items next, the rest lowest: with the
    # mask the test items fill the top of every list
    scores = np.zeros((train.num_users, train.num_items))
    scores[test.user, test.item] = 1.0
    scores[train.user, train.item] = 100.0
    evaluator = Evaluator(test, exclude=[train], ks=(10,), item_popularity=np.ones(train.num_items))
    got = evaluator.evaluate(table_score_fn(torch.from_numpy(scores)))
    assert got["recall@10"] == pytest.approx(1.0)  # no test user has more than 9 test items
    assert got["ndcg@10"] == pytest.approx(1.0)
    # the catalogue minus items that are training items of every evaluated user is reachable;
    # here: coverage counts only recommended items, never a masked one
    train_items = {u: set(train.item[train.user == u].tolist()) for u in evaluator.users.tolist()}
    recommended = set()
    for u in evaluator.users.tolist():
        ranked = sorted((i for i in range(train.num_items) if i not in train_items[u]), key=lambda i: (-scores[u, i], i))
        recommended.update(ranked[:10])
    assert got["coverage@10"] == pytest.approx(len(recommended) / train.num_items)


def test_oracle_and_anti_oracle():
    train, valid, test, _ = make_world(6)
    exclude = [train, valid]
    oracle = np.zeros((train.num_users, train.num_items), dtype=np.float32)
    oracle[test.user, test.item] = 1.0
    ks = (10, 20)
    perfect = Evaluator(test, exclude=exclude, ks=ks).evaluate(table_score_fn(torch.from_numpy(oracle)))
    for k in ks:
        assert perfect[f"recall@{k}"] == 1.0
        assert perfect[f"ndcg@{k}"] == pytest.approx(1.0)
        assert perfect[f"hit@{k}"] == 1.0 and perfect[f"mrr@{k}"] == 1.0
        assert perfect[f"map@{k}"] == pytest.approx(1.0)
    worst = Evaluator(test, exclude=exclude, ks=(1, 5)).evaluate(table_score_fn(torch.from_numpy(-oracle)))
    for name in ALL:
        assert worst[f"{name}@1"] == 0.0 and worst[f"{name}@5"] == 0.0, name


def test_count_excluded_test_keeps_them_in_the_denominator():
    train, valid, test, rng = make_world(7)
    scores = rng.standard_normal((train.num_users, train.num_items))
    ks = (5, 20)
    evaluator = Evaluator(test, exclude=[train], ks=ks, count_excluded_test=True)
    got = evaluator.evaluate(table_score_fn(torch.from_numpy(scores)))
    expected, evaluated = reference(scores, test, [train], ks, count_excluded=True)
    assert_matches(got, expected)
    assert 7 in evaluator.users.tolist()  # only excluded test items: evaluated, scores 0
    dropped = Evaluator(test, exclude=[train], ks=ks).evaluate(table_score_fn(torch.from_numpy(scores)))
    assert dropped["recall@20"] != pytest.approx(got["recall@20"])


def test_k_beyond_catalogue_and_fully_masked_users_leave_empty_slots():
    train, valid, test, rng = make_world(8, num_users=24, num_items=12)
    scores = rng.standard_normal((train.num_users, train.num_items))
    scores[2, :5] = -np.inf  # score_fn's own -inf: an empty slot too
    ks = (5, 12, 15)
    got = Evaluator(test, exclude=[train, valid], ks=ks, item_popularity=train.item_counts()).evaluate(
        table_score_fn(torch.from_numpy(scores))
    )
    assert_matches(got, reference(scores, test, [train, valid], ks, train.item_counts())[0])


def test_integer_scores_and_returned_views_are_left_unchanged():
    train, valid, test, rng = make_world(9)
    table = torch.from_numpy(rng.integers(0, 50, size=(train.num_users, train.num_items)))  # int64 scores
    got = Evaluator(test, exclude=[train], ks=(5,)).evaluate(table_score_fn(table))
    assert_matches(got, reference(table.numpy().astype(np.float64), test, [train], (5,))[0])

    # score_fn returns views (basic slices) of a tensor it keeps: the evaluator
    # masks them in place and must restore them
    evaluator = Evaluator(test, exclude=[train], ks=(5,), batch_size=4)
    scores = rng.standard_normal((train.num_users, train.num_items))
    kept = torch.from_numpy(scores[evaluator.users.numpy()])  # row r = r-th evaluated user
    snapshot = kept.clone()
    got = evaluator.evaluate(consecutive_views(kept))
    assert torch.equal(kept, snapshot)
    assert_matches(got, reference(scores, test, [train], (5,))[0])
    # non-contiguous views: rows of a transposed column-major copy
    transposed = kept.t().contiguous().t()
    assert not transposed.is_contiguous()
    assert evaluator.evaluate(consecutive_views(transposed)) == got
    assert torch.equal(transposed, snapshot)


def consecutive_views(table: torch.Tensor):
    """score_fn returning ``table[r:r + len(users)]`` for consecutive batches (views, no copy)."""
    offset = 0

    def score_fn(users: torch.Tensor) -> torch.Tensor:
        nonlocal offset
        view = table[offset : offset + len(users)]
        offset += len(users)
        return view

    return score_fn


def test_errors():
    train, valid, test, rng = make_world(10)
    evaluator = Evaluator(test, exclude=[train], ks=(5,))
    bad = torch.zeros(train.num_users, train.num_items)
    bad[1, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        evaluator.evaluate(table_score_fn(bad))
    with pytest.raises(ValueError, match="shape"):
        evaluator.evaluate(lambda u: torch.zeros(len(u), train.num_items + 1))
    with pytest.raises(ValueError, match="unknown metric"):
        Evaluator(test, metrics=("auc",))
    with pytest.raises(ValueError, match="ks"):
        Evaluator(test, ks=(0,))
    with pytest.raises(ValueError, match="no user"):
        Evaluator(test.empty())
    with pytest.raises(ValueError, match="item_popularity"):
        Evaluator(test, item_popularity=np.ones(3))
    other = Interactions(user=[0], item=[0], user_ids=IdMap(np.arange(5)), item_ids=test.item_ids)
    with pytest.raises(ValueError, match="id space"):
        Evaluator(test, exclude=[other])


def test_hand_example_through_the_evaluator():
    ids_u, ids_i = IdMap(np.arange(2)), IdMap(np.arange(8))
    train = Interactions(user=[0, 1], item=[7, 0], user_ids=ids_u, item_ids=ids_i)
    test = Interactions(user=[0, 0, 0], item=[2, 4, 2], user_ids=ids_u, item_ids=ids_i)  # duplicate (0, 2)
    # user 0's ranking with item 7 masked: 2, 1, 4, 3, 0, 5, 6 -> hits at ranks 1 and 3
    scores = torch.tensor([[3.0, 8.0, 9.0, 4.0, 7.0, 2.0, 1.0, 99.0], [0.0] * 8])
    got = Evaluator(test, exclude=[train], ks=(5,), metrics=ALL).evaluate(lambda u: scores[u])
    assert got["recall@5"] == 1.0
    assert got["ndcg@5"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert got["mrr@5"] == 1.0
    assert got["map@5"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert got["precision@5"] == pytest.approx(2 / 5)
    assert got["coverage@5"] == pytest.approx(5 / 8)


# -- sampled evaluation ---------------------------------------------------------------
def one_test_item_world(seed: int, num_users: int = 50, num_items: int = 40):
    rng = np.random.default_rng(seed)
    users, items = IdMap(np.arange(num_users)), IdMap(np.arange(num_items))
    train_pairs, test_pairs = [], []
    for u in range(num_users):
        order = rng.permutation(num_items)
        n = rng.integers(1, 20)
        train_pairs += [(u, i) for i in order[:n]]
        test_pairs.append((u, order[n]))
    test_pairs += test_pairs[:3]  # duplicates count once

    def part(pairs):
        pairs = np.asarray(pairs, dtype=np.int64)
        return Interactions(user=pairs[:, 0], item=pairs[:, 1], user_ids=users, item_ids=items)

    return part(train_pairs), part(test_pairs), rng


def test_sampled_evaluate_against_numpy_ranks_with_ogb_tie_rule():
    train, test, rng = one_test_item_world(0)
    # integer scores so that negatives tie with the positive often
    table = torch.from_numpy(rng.integers(0, 4, size=(train.num_users, train.num_items)).astype(np.float32))
    seen = []

    def pair_score_fn(users, items):
        assert users.shape == items.shape and users.dim() == 1
        seen.append(torch.stack([users, items], dim=1))
        return table[users, items]

    got = sampled_evaluate(pair_score_fn, test, exclude=[train], num_negatives=15, seed=3, batch_size=8)
    pairs = torch.cat(seen).numpy()
    train_set = set(zip(train.user.tolist(), train.item.tolist()))
    test_item = dict(zip(test.user.tolist(), test.item.tolist()))
    ranks = []
    for u in range(train.num_users):
        mine = pairs[pairs[:, 0] == u, 1]
        positive = test_item[u]
        negatives = mine[mine != positive]
        assert (mine == positive).sum() == 1  # the positive once, duplicates dropped
        assert len(negatives) == 15
        assert not any((u, int(i)) in train_set for i in negatives)  # never a positive or training item
        s_pos = table[u, positive].item()
        s_neg = table[u, torch.from_numpy(negatives)].numpy()
        ranks.append(1 + np.sum(s_neg > s_pos) + 0.5 * np.sum(s_neg == s_pos))
    ranks = np.asarray(ranks)
    assert set(got) == {"sampled_mrr", "sampled_hits@1", "sampled_hits@3", "sampled_hits@10"}
    assert got["sampled_mrr"] == pytest.approx(np.mean(1 / ranks), rel=1e-6)
    for k in (1, 3, 10):
        assert got[f"sampled_hits@{k}"] == pytest.approx(np.mean(ranks <= k), rel=1e-6)
    assert 0 < got["sampled_hits@1"] < got["sampled_hits@10"] < 1

    again = sampled_evaluate(lambda u, i: table[u, i], test, exclude=[train], num_negatives=15, seed=3)
    assert again == pytest.approx(got)  # same seed, same negatives (batching does not matter)


def test_sampled_evaluate_perfect_scorer_and_negatives_avoid_test_pairs():
    train, test, rng = one_test_item_world(1)
    positive = np.full((train.num_users, train.num_items), 0.0, dtype=np.float32)
    positive[test.user, test.item] = 1.0
    table = torch.from_numpy(positive)
    got = sampled_evaluate(lambda u, i: table[u, i], test, exclude=[train], num_negatives=30)
    # every negative scores 0 < 1 only if no negative is a test item
    assert got == {"sampled_mrr": 1.0, "sampled_hits@1": 1.0, "sampled_hits@3": 1.0, "sampled_hits@10": 1.0}
