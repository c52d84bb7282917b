"""Per-user splits: partition, exact counts against a plain-Python count rule, determinism, time order."""
from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import List, Sequence

import numpy as np
import pandas as pd
import pytest

from graphrec.data import IdMap, Interactions, RecDataset
from graphrec.data.split import (
    leave_one_out_split,
    random_split,
    split_dataset,
    temporal_split,
    with_validation,
)
from tests.helpers import read_ml100k


# -- helpers ------------------------------------------------------------------


def random_interactions(seed: int, num_users: int = 60, num_items: int = 40) -> Interactions:
    """Users with 0..30 interactions (many tiny ones), repeated pairs, tied timestamps;
    ``rating`` holds the row position, a marker that identifies each row."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice([0, 1, 2, 3, 4, 5, 7, 10, 13, 30], size=num_users)
    user = np.repeat(np.arange(num_users), sizes)
    rng.shuffle(user)
    item = rng.integers(0, num_items, size=len(user))
    return Interactions(
        user=user,
        item=item,
        user_ids=IdMap([f"u{k}" for k in range(num_users)]),
        item_ids=IdMap(np.arange(100, 100 + num_items)),
        rating=np.arange(len(user)),  # row marker: float32 is exact for these
        timestamp=rng.integers(0, 8, size=len(user)),  # many ties
    )


def expected_sizes(n: int, ratios: Sequence[float]) -> List[int]:
    """The documented count rule, in plain Python."""
    total = math.fsum(ratios)
    cumulative = list(itertools.accumulate(r / total for r in ratios))
    cuts = [0] + [max(math.floor(n * c + 0.5), min(n, 1)) for c in cumulative[:-1]] + [n]
    return [cuts[j + 1] - cuts[j] for j in range(len(ratios))]


def sizes_per_user(parts, num_users: int) -> np.ndarray:
    return np.stack([np.bincount(p.user, minlength=num_users) for p in parts], axis=1)


def reference_sizes(interactions: Interactions, ratios) -> np.ndarray:
    counts = Counter(interactions.user.tolist())
    return np.array([expected_sizes(counts.get(u, 0), ratios) for u in range(interactions.num_users)])


def assert_partition(parts, whole: Interactions) -> None:
    """Parts share whole's id space, keep their rows' columns, and partition its rows."""
    for part in parts:
        assert part.user_ids is whole.user_ids and part.item_ids is whole.item_ids
        assert part.rating is not None and part.timestamp is not None
    frames = [p.to_pandas() for p in parts]
    marker = np.concatenate([f["rating"].to_numpy() for f in frames]).astype(np.int64)
    whole_marker = whole.rating.astype(np.int64)
    assert len(set(whole_marker.tolist())) == len(whole)  # the marker identifies rows
    assert sorted(marker.tolist()) == sorted(whole_marker.tolist())  # each row exactly once
    # every row kept its own user, item and timestamp
    rows = pd.concat(frames).sort_values("rating").reset_index(drop=True)
    expected = whole.to_pandas().sort_values("rating").reset_index(drop=True)
    pd.testing.assert_frame_equal(rows, expected, check_dtype=False)


# -- the count rule -----------------------------------------------------------
def test_count_rule_by_hand():
    # (0.8, 0.1, 0.1): n=1 -> [1,0,0]; n=2: floor(2.1)=2 -> [2,0,0]; n=3: floor(2.9)=2,
    # floor(3.2)=3 -> [2,1,0]; n=5: floor(4.5)=4, floor(5.0)=5 -> [4,1,0]; n=10 -> [8,1,1];
    # n=11: floor(9.3)=9, floor(10.4)=10 -> [9,1,1]; n=15: floor(12.5)=12, floor(14.0)=14 -> [12,2,1]
    table = {0: [0, 0, 0], 1: [1, 0, 0], 2: [2, 0, 0], 3: [2, 1, 0], 5: [4, 1, 0], 10: [8, 1, 1], 11: [9, 1, 1], 15: [12, 2, 1]}
    sizes = list(table)
    user = np.repeat(np.arange(len(sizes)), sizes)
    data = Interactions(user, np.zeros(len(user), dtype=np.int64), IdMap.range(len(sizes)), IdMap.range(1),
                        rating=np.arange(len(user)), timestamp=np.arange(len(user)))
    for parts in (random_split(data, (0.8, 0.1, 0.1), seed=3), temporal_split(data, (0.8, 0.1, 0.1))):
        assert sizes_per_user(parts, len(sizes)).tolist() == list(table.values())
    # a tiny train ratio still leaves one training interaction: n=3 with (0.1, 0.9) -> floor(0.8)=0 -> 1
    train, test = random_split(data, (0.1, 0.9), seed=0)
    assert np.bincount(train.user, minlength=len(sizes)).tolist() == [0, 1, 1, 1, 1, 1, 1, 2]
    assert expected_sizes(3, (0.1, 0.9)) == [1, 2]


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (8, 1, 1), (0.7, 0.3), (0.6, 0.2, 0.1, 0.1), (1,), (1, 1, 1)])
@pytest.mark.parametrize("seed", [0, 1])
def test_random_split_counts_and_partition(ratios, seed):
    data = random_interactions(seed)
    parts = random_split(data, ratios, seed=seed)
    assert len(parts) == len(ratios)
    assert_partition(parts, data)
    np.testing.assert_array_equal(sizes_per_user(parts, data.num_users), reference_sizes(data, ratios))


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.5, 0.5), (3, 1)])
def test_temporal_split_counts_partition_and_order(ratios):
    data = random_interactions(7)
    parts = temporal_split(data, ratios)
    assert_partition(parts, data)
    np.testing.assert_array_equal(sizes_per_user(parts, data.num_users), reference_sizes(data, ratios))
    # reference order: per user, by (timestamp, row position); cut by the count rule
    frame = data.to_pandas()
    frame["row"] = np.arange(len(frame))
    frame = frame.sort_values(["user", "timestamp", "row"], kind="stable")
    frame["rank"] = frame.groupby("user").cumcount()
    n = frame.groupby("user")["row"].transform("size")
    expected_part = np.empty(len(frame), dtype=np.int64)
    for k, (rank, count) in enumerate(zip(frame["rank"], n)):  # plain-Python reference
        cuts = np.cumsum(expected_sizes(count, ratios))
        expected_part[k] = int(np.searchsorted(cuts, rank, side="right"))
    got_part = np.empty(len(data), dtype=np.int64)
    for j, part in enumerate(parts):
        got_part[part.rating.astype(np.int64)] = j
    np.testing.assert_array_equal(got_part[frame["row"].to_numpy()], expected_part)


def test_temporal_split_breaks_ties_by_input_order():
    # one user, timestamps 5 5 1 5: time order is rows 2, 0, 1, 3
    data = Interactions(np.zeros(4, dtype=np.int64), np.array([0, 1, 2, 3]), IdMap.range(1), IdMap.range(4),
                        timestamp=np.array([5, 5, 1, 5]))
    train, test = temporal_split(data, (0.5, 0.5))
    assert train.item.tolist() == [0, 2] and test.item.tolist() == [1, 3]


def test_temporal_split_needs_timestamps():
    data = Interactions(np.array([0, 0]), np.array([0, 1]), IdMap.range(1), IdMap.range(2))
    with pytest.raises(ValueError, match="timestamp"):
        temporal_split(data, (0.5, 0.5))
    nan_time = Interactions(np.array([0, 0]), np.array([0, 1]), IdMap.range(1), IdMap.range(2),
                            timestamp=np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="NaN"):
        temporal_split(nan_time, (0.5, 0.5))


@pytest.mark.parametrize("ratios", [(), (0.8, 0.0, 0.2), (0.9, -0.1), (float("nan"), 1.0), (float("inf"), 1.0)])
def test_bad_ratios_are_refused(ratios):
    with pytest.raises(ValueError, match="ratios"):
        random_split(random_interactions(0), ratios, seed=0)


def test_random_split_is_seeded_and_unbiased():
    data = random_interactions(3)
    first = random_split(data, (0.5, 0.5), seed=11)
    again = random_split(data, (0.5, 0.5), seed=11)
    other = random_split(data, (0.5, 0.5), seed=12)
    assert first[0].rating.tolist() == again[0].rating.tolist()
    assert first[0].rating.tolist() != other[0].rating.tolist()
    # each row of a 10-interaction user lands in train with probability 1/2 (5 of 10)
    user = np.repeat([0], 10)
    ten = Interactions(user, np.arange(10), IdMap.range(1), IdMap.range(10))
    in_train = np.zeros(10)
    trials = 400
    for seed in range(trials):
        in_train[random_split(ten, (0.5, 0.5), seed=seed)[0].item] += 1
    # binomial(400, 1/2): sd 10; 5 sd either side
    assert np.all(np.abs(in_train - trials / 2) < 50), in_train


# -- real data ----------------------------------------------------------------
def test_ml100k_random_and_temporal_counts(data_root):
    data = read_ml100k(data_root)
    assert len(data) == 100_000 and data.num_users == 943 and data.num_items == 1682
    data = Interactions(data.user, data.item, data.user_ids, data.item_ids,
                        rating=np.arange(len(data)), timestamp=data.timestamp)
    expected = reference_sizes(data, (0.8, 0.1, 0.1))
    for parts in (random_split(data, (0.8, 0.1, 0.1), seed=0), temporal_split(data, (0.8, 0.1, 0.1))):
        assert_partition(parts, data)
        np.testing.assert_array_equal(sizes_per_user(parts, data.num_users), expected)
    # temporal: per user, nothing in a later part is earlier than anything in an earlier part
    train, valid, test = temporal_split(data, (0.8, 0.1, 0.1))
    frames = [p.to_pandas().groupby("user")["timestamp"] for p in (train, valid, test)]
    latest_train, earliest_valid = frames[0].max(), frames[1].min()
    latest_valid, earliest_test = frames[1].max(), frames[2].min()
    assert (latest_train.reindex(earliest_valid.index) <= earliest_valid).all()
    assert (latest_valid.reindex(earliest_test.index) <= earliest_test).all()
    later = earliest_test.index.difference(earliest_valid.index)
    assert (latest_train.reindex(later) <= earliest_test.reindex(later)).all()


def test_ml100k_leave_one_out_by_time(data_root):
    data = read_ml100k(data_root)
    train, valid, test = leave_one_out_split(data, by="time")
    frame = data.to_pandas()
    frame["row"] = np.arange(len(frame))
    ordered = frame.sort_values(["user", "timestamp", "row"])
    last = ordered.groupby("user").nth(-1)
    second = ordered.groupby("user").nth(-2)
    # every ml-100k user has >= 20 ratings, so each user gives one test and one valid
    assert len(test) == len(valid) == 943 and len(train) == 100_000 - 2 * 943
    assert sorted(zip(test.user.tolist(), test.item.tolist())) == sorted(zip(last["user"], last["item"]))
    assert sorted(zip(valid.user.tolist(), valid.item.tolist())) == sorted(zip(second["user"], second["item"]))


def test_leave_one_out_small_users_and_options():
    # users with 1, 2, 3 and 4 interactions; timestamps increase with the item index
    sizes = [1, 2, 3, 4]
    user = np.repeat(np.arange(4), sizes)
    item = np.concatenate([np.arange(s) for s in sizes])
    data = Interactions(user, item, IdMap.range(4), IdMap.range(4), timestamp=item * 10)
    train, valid, test = leave_one_out_split(data, by="time")
    assert sizes_per_user((train, valid, test), 4).tolist() == [[1, 0, 0], [1, 0, 1], [1, 1, 1], [2, 1, 1]]
    assert test.item.tolist() == [1, 2, 3] and valid.item.tolist() == [1, 2]
    train, valid, test = leave_one_out_split(data, by="time", valid=False)
    assert len(valid) == 0 and sizes_per_user((train, test), 4).tolist() == [[1, 0], [1, 1], [2, 1], [3, 1]]
    no_time = Interactions(user, item, IdMap.range(4), IdMap.range(4))
    with pytest.raises(ValueError, match="timestamp"):
        leave_one_out_split(no_time)
    first = leave_one_out_split(no_time, by="random", seed=5)
    again = leave_one_out_split(no_time, by="random", seed=5)
    assert sizes_per_user(first, 4).tolist() == [[1, 0, 0], [1, 0, 1], [1, 1, 1], [2, 1, 1]]
    assert all(a.item.tolist() == b.item.tolist() for a, b in zip(first, again))
    seen = {tuple(leave_one_out_split(no_time, by="random", seed=s)[2].item.tolist()) for s in range(30)}
    assert len(seen) > 1  # the held-out item varies with the seed


# -- datasets -----------------------------------------------------------------
def _dataset(data_root) -> RecDataset:
    data = read_ml100k(data_root)
    data = Interactions(data.user, data.item, data.user_ids, data.item_ids,
                        rating=np.arange(len(data)), timestamp=data.timestamp)
    train, test = random_split(data, (0.9, 0.1), seed=99)
    features = pd.DataFrame({"x": np.arange(data.num_items)})
    return RecDataset("ml-100k", train=train, test=test, item_features=features)


@pytest.mark.parametrize("method", ["random", "temporal", "leave_one_out"])
def test_split_dataset_keeps_everything_but_the_split(data_root, method):
    dataset = _dataset(data_root)
    everything = dataset.all_interactions()
    out = split_dataset(dataset, method, seed=4)
    assert out.name == dataset.name and out.item_features is dataset.item_features
    assert out.user_ids is dataset.user_ids and out.item_ids is dataset.item_ids
    assert_partition((out.train, out.valid, out.test), everything)
    if method == "leave_one_out":
        assert len(out.test) == len(out.valid) == 943
    else:
        expected = reference_sizes(everything, (0.8, 0.1, 0.1))
        np.testing.assert_array_equal(sizes_per_user((out.train, out.valid, out.test), 943), expected)
    two = split_dataset(dataset, "random", ratios=(0.7, 0.3), seed=1)
    assert len(two.valid) == 0 and len(two.train) + len(two.test) == 100_000
    with pytest.raises(ValueError, match="method"):
        split_dataset(dataset, "by-magic")


@pytest.mark.parametrize("by", ["random", "time"])
def test_with_validation(data_root, by):
    dataset = _dataset(data_root)
    out = with_validation(dataset, 0.25, seed=2, by=by)
    assert out.test is dataset.test
    old_train = dataset.train
    assert_partition((out.train, out.valid), old_train)
    expected = reference_sizes(old_train, (0.75, 0.25))
    np.testing.assert_array_equal(sizes_per_user((out.train, out.valid), 943), expected)
    if by == "time":
        last_train = out.train.to_pandas().groupby("user")["timestamp"].max()
        first_valid = out.valid.to_pandas().groupby("user")["timestamp"].min()
        assert (last_train.reindex(first_valid.index) <= first_valid).all()
    with pytest.raises(ValueError, match="validation"):
        with_validation(out, 0.1)
    with pytest.raises(ValueError, match="ratio"):
        with_validation(dataset, 1.0)
