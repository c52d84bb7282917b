"""from_pandas: id order, columns, threshold and errors on hand-made tables; the
raw Last.FM table against its published counts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import from_pandas


def test_numeric_ids_in_numeric_order() -> None:
    df = pd.DataFrame({"user": [10, 9, 100, 9], "item": [3, 20, 3, 1], "stars": [1.0, 5.0, 4.0, 2.0], "t": [5, 6, 7, 8]})
    dataset = from_pandas(df, rating="stars", timestamp="t", name="toy")
    assert dataset.name == "toy"
    assert dataset.user_ids.raw.tolist() == [9, 10, 100]  # not "10" < "100" < "9"
    assert dataset.item_ids.raw.tolist() == [1, 3, 20]
    assert dataset.train.user.tolist() == [1, 0, 2, 0]
    assert dataset.train.item.tolist() == [1, 2, 1, 0]
    assert dataset.train.rating.tolist() == [1.0, 5.0, 4.0, 2.0]
    assert dataset.train.timestamp.dtype == np.int64 and dataset.train.timestamp.tolist() == [5, 6, 7, 8]
    assert (len(dataset.valid), len(dataset.test)) == (0, 0)
    assert dataset.kg is None


def test_string_ids_and_column_names() -> None:
    df = pd.DataFrame({"who": ["bob", "alice", "bob"], "what": ["b", "a", "c"]})
    dataset = from_pandas(df, user="who", item="what")
    assert dataset.user_ids.raw.tolist() == ["alice", "bob"]
    assert dataset.item_ids.raw.tolist() == ["a", "b", "c"]
    assert dataset.train.to_pandas(raw_ids=True)[["user", "item"]].values.tolist() == df.values.tolist()
    assert dataset.train.rating is None and dataset.train.timestamp is None


def test_rating_threshold_keeps_the_id_space() -> None:
    df = pd.DataFrame({"user": [1, 1, 2, 3], "item": [1, 2, 1, 3], "rating": [5, 3, 4, 1]})
    dataset = from_pandas(df, rating="rating", rating_threshold=4)
    assert dataset.train.to_pandas(raw_ids=True)[["user", "item"]].values.tolist() == [[1, 1], [2, 1]]
    assert (dataset.num_users, dataset.num_items) == (3, 3)


@pytest.mark.parametrize(
    "df, kwargs, message",
    [
        (pd.DataFrame({"user": [1, None], "item": [1, 2]}, index=["a", "b"]), {}, r"row 'b'.*missing user"),
        (pd.DataFrame({"user": [1, 2], "item": ["x", None]}), {}, r"row 1.*missing item"),
        (pd.DataFrame({"user": [1], "item": [1]}), {"rating": "stars"}, r"no column.*stars"),
        (pd.DataFrame({"u": [1], "item": [1]}), {}, r"no column.*user"),
        (pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": ["4", "good"]}), {"rating": "rating"}, r"row 1.*'rating'"),
        (pd.DataFrame({"user": [1], "item": [1]}), {"rating_threshold": 3.0}, "needs a rating column"),
    ],
)
def test_errors_name_the_row_or_column(df, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        from_pandas(df, **kwargs)


def test_raw_lastfm_table(data_root: Path) -> None:
    # README: 1,892 users and 17,632 artists in the raw user_artists.dat.
    df = pd.read_csv(data_root / "lastfm-kgcn" / "user_artists.dat", sep="\t")
    dataset = from_pandas(df, user="userID", item="artistID", rating="weight", name="lastfm-raw")
    assert (dataset.num_users, dataset.num_items, len(dataset.train)) == (1892, 17632, len(df))
    assert dataset.user_ids.raw.tolist() == sorted(df["userID"].unique().tolist())
    counts = df.groupby("artistID").size().sort_index()
    assert dataset.train.item_counts().tolist() == counts.tolist()
