"""intervened_split: exact counts of the water-filling rule, partitions, balance, and ml-100k."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from graphrec.data import IdMap, Interactions, UnseenInteractionsWarning, load
from graphrec.data.intervene import balanced_quotas, intervened_split


def water_level(capacity: np.ndarray, total: int) -> int:
    """The largest level c with sum(min(capacity, c)) <= total, by counting up."""
    level = 0
    while level < capacity.max() and np.minimum(capacity, level + 1).sum() <= total:
        level += 1
    return level


def skewed_interactions(seed: int = 0, num_users: int = 60, num_items: int = 40, timestamps: bool = True):
    """Distinct pairs with a Zipf-like item popularity (a few items very popular, many rare)."""
    rng = np.random.default_rng(seed)
    weight = 1.0 / np.arange(1, num_items + 1)
    pairs = set()
    for u in range(num_users):
        for i in rng.choice(num_items, int(rng.integers(3, 15)), replace=False, p=weight / weight.sum()):
            pairs.add((u, int(i)))
    pairs = np.array(sorted(pairs))
    pairs = pairs[rng.permutation(len(pairs))]
    return Interactions(
        user=pairs[:, 0], item=pairs[:, 1], user_ids=IdMap(np.arange(num_users)), item_ids=IdMap(np.arange(num_items)),
        rating=rng.integers(1, 6, len(pairs)).astype(np.float32),
        timestamp=rng.integers(0, 50, len(pairs)) if timestamps else None,  # many equal timestamps
    )


def row_keys(part: Interactions) -> np.ndarray:
    return np.stack([part.user, part.item, part.rating, part.timestamp], axis=1)


# -- the quota rule ----------------------------------------------------------------------
@pytest.mark.parametrize("total", [0, 1, 17, 60, 99, 150])
def test_balanced_quotas_follow_the_water_filling_rule(total):
    capacity = np.array([0, 1, 2, 2, 5, 9, 30, 4, 3, 0, 7, 12, 6, 1, 8, 20, 10, 11, 9, 10])  # sum 150
    quota = balanced_quotas(capacity, total, np.random.default_rng(total))
    level = water_level(capacity, total)
    base = np.minimum(capacity, level)
    extra = quota - base
    assert quota.sum() == total and (quota <= capacity).all()
    assert set(np.unique(extra)) <= {0, 1} and extra.sum() == total - base.sum()
    assert (capacity[extra == 1] > level).all()  # only bins with room above the level get one more


def test_balanced_quotas_refuse_more_than_the_capacity():
    with pytest.raises(ValueError, match="cannot place 7"):
        balanced_quotas(np.array([3, 3]), 7, np.random.default_rng(0))


# -- exact counts without anchors ---------------------------------------------------------------
def test_test_counts_per_item_are_exact_without_anchors():
    interactions = skewed_interactions(seed=1)
    split = intervened_split(interactions, test_ratio=0.2, valid_ratio=0.1, keep_train=False, seed=3)
    n = interactions.item_counts()
    total = math.floor(0.2 * len(interactions) + 0.5)
    level = water_level(n, total)
    test_counts = split.test.item_counts()
    assert len(split.test) == total
    extra = test_counts - np.minimum(n, level)
    assert set(np.unique(extra)) <= {0, 1} and (n[extra == 1] > level).all()
    # validation: the same rule over what the test part left
    left = n - test_counts
    valid_total = math.floor(0.1 * len(interactions) + 0.5)
    valid_level = water_level(left, valid_total)
    valid_extra = split.valid.item_counts() - np.minimum(left, valid_level)
    assert len(split.valid) == valid_total and set(np.unique(valid_extra)) <= {0, 1}
    assert (left[valid_extra == 1] > valid_level).all()


def test_per_item_takes_that_many_of_each_item():
    interactions = skewed_interactions(seed=2)
    split = intervened_split(interactions, per_item=3, valid_ratio=0.0, keep_train=False)
    assert np.array_equal(split.test.item_counts(), np.minimum(interactions.item_counts(), 3))
    assert len(split.valid) == 0 and len(split.train) == len(interactions) - len(split.test)


def test_by_time_takes_each_items_latest_rows():
    interactions = skewed_interactions(seed=4)
    split = intervened_split(interactions, per_item=2, valid_ratio=0.0, by="time", keep_train=False)
    in_test = np.isin(interactions.pair_keys(), split.test.pair_keys())
    position = np.arange(len(interactions))
    for item in range(interactions.num_items):
        rows = np.flatnonzero(interactions.item == item)
        # latest first; equal timestamps: the later row first
        latest = sorted(rows, key=lambda r: (-interactions.timestamp[r], -position[r]))[:2]
        assert set(np.flatnonzero(in_test & (interactions.item == item))) == set(latest)


# -- partition, anchors, balance -------------------------------------------------------------------
def test_parts_partition_the_rows_and_anchors_keep_everyone_in_train():
    interactions = skewed_interactions(seed=5)
    split = intervened_split(interactions, test_ratio=0.15, valid_ratio=0.1, seed=9)
    parts = (split.train, split.valid, split.test)
    together = np.concatenate([row_keys(part) for part in parts])
    assert np.array_equal(np.unique(together, axis=0), np.unique(row_keys(interactions), axis=0))
    assert len(together) == len(interactions)
    keys = [set(part.pair_keys().tolist()) for part in parts]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert (split.train.user_counts() >= (interactions.user_counts() > 0)).all()
    assert (split.train.item_counts() >= (interactions.item_counts() > 0)).all()
    # rows keep their input order within each part
    for part in parts:
        where = {tuple(row): r for r, row in enumerate(row_keys(interactions).tolist())}
        assert np.all(np.diff([where[tuple(row)] for row in row_keys(part).tolist()]) > 0)


def test_same_seed_same_split_other_seed_other_split():
    interactions = skewed_interactions(seed=6)
    first, again, other = (intervened_split(interactions, seed=s) for s in (1, 1, 2))
    assert np.array_equal(row_keys(first.test), row_keys(again.test))
    assert np.array_equal(row_keys(first.valid), row_keys(again.valid))
    assert not np.array_equal(row_keys(first.test), row_keys(other.test))


def test_random_validation_is_uniform_over_rows():
    interactions = skewed_interactions(seed=7)
    split = intervened_split(interactions, test_ratio=0.1, valid_ratio=0.2, valid="random", seed=0)
    assert len(split.valid) == math.floor(0.2 * len(interactions) + 0.5)
    assert len(split.train) + len(split.valid) + len(split.test) == len(interactions)


def test_impossible_requests_are_refused():
    interactions = skewed_interactions(seed=8)
    with pytest.raises(ValueError, match="not both"):
        intervened_split(interactions, test_ratio=0.1, per_item=2)
    with pytest.raises(ValueError, match="test_ratio must be a number in"):
        intervened_split(interactions, test_ratio=1.5)
    with pytest.raises(ValueError, match="stay below 1"):
        intervened_split(interactions, test_ratio=0.6, valid_ratio=0.5)
    with pytest.raises(ValueError, match="per_item must be a positive integer"):
        intervened_split(interactions, per_item=0)
    with pytest.raises(ValueError, match="needs timestamps"):
        intervened_split(skewed_interactions(timestamps=False), by="time")
    with pytest.raises(ValueError, match="can leave train"):
        intervened_split(interactions, test_ratio=0.95, valid_ratio=0.0)
    with pytest.raises(ValueError, match="valid must be"):
        intervened_split(interactions, valid="uniform")


# -- ml-100k ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ml100k(data_root):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenInteractionsWarning)
        return load("ml-100k", root=data_root)


def test_ml100k_intervened_split(ml100k):
    split = intervened_split(ml100k, seed=0)
    everything = ml100k.all_interactions()
    assert len(everything) == 100_000
    assert (len(split.train), len(split.valid), len(split.test)) == (80_000, 10_000, 10_000)
    assert split.name == "ml-100k-intervened" and split.kg is ml100k.kg and split.user_ids == ml100k.user_ids
    keys = [part.pair_keys() for part in (split.train, split.valid, split.test)]
    assert np.array_equal(np.sort(np.concatenate(keys)), np.sort(everything.pair_keys()))
    assert (split.train.user_counts() >= 1).all()
    assert (split.train.item_counts() >= 1).all()  # every ml-100k item has a rating

    # Balance: all items whose eligible rows were not used up have c or c + 1 test rows;
    # an item that ran out of rows has none left for validation.
    test_counts, valid_counts = split.test.item_counts(), split.valid.item_counts()
    top = test_counts.max()
    short = test_counts < top - 1
    assert (valid_counts[short] == 0).all()
    assert test_counts[~short].min() >= top - 1 and top / (top - 1) <= 8 / 7  # 10% of 100k over 1,682 items
    # the popularity skew is gone from test: the 10% most popular items hold a far smaller share
    counts = everything.item_counts()
    head = np.argsort(-counts, kind="stable")[: len(counts) // 10]
    assert counts[head].sum() / counts.sum() > 0.4
    assert test_counts[head].sum() / test_counts.sum() < 0.15
