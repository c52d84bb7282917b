"""k-core filtering against a plain-Python reference, the fixed-point property and re-indexing."""
from __future__ import annotations

from collections import Counter
from typing import List, Tuple

import numpy as np
import pytest

from graphrec.data import IdMap, Interactions
from graphrec.data.filter import kcore
from tests.helpers import read_ml100k


def reference_kcore(pairs: List[Tuple], user_k: int, item_k: int) -> List[int]:
    """Row positions that survive, by repeated removal in plain Python."""
    alive = list(range(len(pairs)))
    while True:
        users = Counter(pairs[r][0] for r in alive)
        items = Counter(pairs[r][1] for r in alive)
        kept = [r for r in alive if users[pairs[r][0]] >= user_k and items[pairs[r][1]] >= item_k]
        if kept == alive:
            return kept
        alive = kept


def raw_rows(data: Interactions) -> List[Tuple]:
    return list(zip(data.user_ids.raw_of(data.user).tolist(), data.item_ids.raw_of(data.item).tolist()))


def random_interactions(seed: int) -> Interactions:
    rng = np.random.default_rng(seed)
    num_users, num_items, n = 80, 50, 600
    # skewed activity and popularity so that removals cascade
    user = rng.choice(num_users, size=n, p=np.arange(1, num_users + 1) / (num_users * (num_users + 1) / 2))
    item = rng.choice(num_items, size=n, p=np.arange(num_items, 0, -1) / (num_items * (num_items + 1) / 2))
    return Interactions(
        user=user,
        item=item,
        user_ids=IdMap([f"user-{k}" for k in range(num_users)]),
        item_ids=IdMap(np.arange(1000, 1000 + num_items) * 3),
        rating=np.arange(n),  # row marker
        timestamp=rng.integers(0, 10**9, size=n),
    )


def check_against_reference(data: Interactions, user_k: int, item_k: int) -> Interactions:
    out = kcore(data, user_k=user_k, item_k=item_k)
    pairs = raw_rows(data)
    kept = reference_kcore(pairs, user_k, item_k)
    # the same rows, in input order, with their raw ids, ratings and timestamps
    assert raw_rows(out) == [pairs[r] for r in kept]
    np.testing.assert_array_equal(out.rating, data.rating[kept])
    np.testing.assert_array_equal(out.timestamp, data.timestamp[kept])
    # compact id maps: exactly the remaining users / items, in old index order
    remaining_users = {pairs[r][0] for r in kept}
    remaining_items = {pairs[r][1] for r in kept}
    assert out.user_ids.raw.tolist() == [u for u in data.user_ids.raw.tolist() if u in remaining_users]
    assert out.item_ids.raw.tolist() == [i for i in data.item_ids.raw.tolist() if i in remaining_items]
    return out


def assert_fixed_point(out: Interactions, user_k: int, item_k: int) -> None:
    user_counts, item_counts = np.bincount(out.user, minlength=out.num_users), np.bincount(out.item, minlength=out.num_items)
    assert (user_counts >= max(user_k, 1)).all() and (item_counts >= max(item_k, 1)).all()
    again = kcore(out, user_k=user_k, item_k=item_k)
    assert raw_rows(again) == raw_rows(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("user_k, item_k", [(0, 0), (1, 1), (2, 3), (5, 5), (8, 2), (3, 12)])
def test_random_data_matches_reference(seed, user_k, item_k):
    data = random_interactions(seed)
    out = check_against_reference(data, user_k, item_k)
    assert_fixed_point(out, user_k, item_k)


def test_cascade_by_hand():
    # u0: a b   u1: a b   u2: c   (raw items a b c); with user_k=item_k=2, u2 and c go,
    # then a and b keep 2 each: 4 rows.  With item_k=3 everything collapses.
    data = Interactions(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]),
                        IdMap(["u0", "u1", "u2"]), IdMap(["a", "b", "c"]))
    out = kcore(data, user_k=2, item_k=2)
    assert out.user_ids.raw.tolist() == ["u0", "u1"] and out.item_ids.raw.tolist() == ["a", "b"]
    assert out.user.tolist() == [0, 0, 1, 1] and out.item.tolist() == [0, 1, 0, 1]
    empty = kcore(data, user_k=2, item_k=3)
    assert len(empty) == 0 and empty.num_users == 0 and empty.num_items == 0
    # a cascade that needs two rounds: removing u1 (one row) drops item b below 2, then u0 below 2
    chain = Interactions(np.array([0, 0, 1, 2, 2, 3, 3]), np.array([0, 1, 1, 0, 2, 0, 2]),
                         IdMap.range(4), IdMap(["a", "b", "c"]))
    out = kcore(chain, user_k=2, item_k=2)
    assert raw_rows(out) == [(2, "a"), (2, "c"), (3, "a"), (3, "c")]


@pytest.mark.parametrize("user_k, item_k", [(5, 5), (10, 10), (50, 30)])
def test_ml100k_matches_reference(data_root, user_k, item_k):
    data = read_ml100k(data_root)
    out = check_against_reference(data, user_k, item_k)
    assert_fixed_point(out, user_k, item_k)


def test_ml100k_is_already_a_20_core_for_users(data_root):
    # MovieLens 100K's README: "Each user has rated at least 20 movies."
    data = read_ml100k(data_root)
    out = kcore(data, user_k=20, item_k=1)
    assert (len(out), out.num_users, out.num_items) == (100_000, 943, 1682)
    assert kcore(data, user_k=21, item_k=1).num_users < 943


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_k_is_refused(bad):
    with pytest.raises(ValueError, match="user_k"):
        kcore(random_interactions(0), user_k=bad, item_k=1)
