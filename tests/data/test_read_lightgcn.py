"""read_lightgcn on Gowalla (published statistics, plain re-reads) and on tiny folders."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import DataFormatError, UnseenInteractionsWarning, read_lightgcn
from tests.conftest import folder_digest


@pytest.fixture(scope="module")
def gowalla_folder(data_root) -> Path:
    return data_root / "gowalla"


@pytest.fixture(scope="module")
def gowalla(gowalla_folder):
    digest = folder_digest(gowalla_folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenInteractionsWarning)  # the LightGCN split has no unseen test pairs
        dataset = read_lightgcn(gowalla_folder, name="gowalla")
    assert folder_digest(gowalla_folder) == digest, "loading must not modify the source files"
    return dataset


def per_line_counts(path: Path) -> pd.Series:
    """Items per user, re-counted with pandas string methods (independent of the reader)."""
    fields = pd.Series(path.read_text().splitlines()).str.split()
    return pd.Series((fields.str.len() - 1).to_numpy(), index=fields.str[0].astype(int).to_numpy())


def test_gowalla_published_statistics(gowalla):
    # README / LightGCN paper: 29,858 users, 40,981 items, 810,128 train, 217,242 test
    assert gowalla.stats() == {
        "users": 29_858, "items": 40_981, "train": 810_128, "valid": 0, "test": 217_242,
        "entities": 0, "relations": 0, "triples": 0,
    }
    assert gowalla.name == "gowalla" and gowalla.kg is None
    assert gowalla.user_ids.raw.tolist() == list(range(29_858))


def test_gowalla_first_line_matches_plain_read(gowalla, gowalla_folder):
    with open(gowalla_folder / "train.txt") as handle:
        first = [int(token) for token in handle.readline().split()]
    user0 = gowalla.train.item[gowalla.train.user == first[0]]
    assert user0.tolist() == first[1:]
    with open(gowalla_folder / "test.txt") as handle:
        first = [int(token) for token in handle.readline().split()]
    assert gowalla.test.item[gowalla.test.user == first[0]].tolist() == first[1:]


@pytest.mark.parametrize("split", ["train", "test"])
def test_gowalla_per_user_counts_match_pandas_recount(gowalla, gowalla_folder, split):
    expected = per_line_counts(gowalla_folder / f"{split}.txt").groupby(level=0).sum()
    counts = getattr(gowalla, split).user_counts()
    np.testing.assert_array_equal(counts[expected.index.to_numpy()], expected.to_numpy())
    assert counts.sum() == expected.sum()


# -- tiny folders ----------------------------------------------------------------
def make_folder(tmp_path: Path, train: str, test: str) -> Path:
    (tmp_path / "train.txt").write_text(train)
    (tmp_path / "test.txt").write_text(test)
    return tmp_path


def test_id_space_is_max_id_plus_one_over_both_files(tmp_path):
    # user 5 is alone on its line (no items) and still counts; item 6 only in test
    folder = make_folder(tmp_path, "0 1 1 2\n\n5\n", "0 6\n")
    with pytest.warns(UnseenInteractionsWarning):
        dataset = read_lightgcn(folder)
    assert (dataset.num_users, dataset.num_items) == (6, 7)
    # the duplicate (0, 1) is kept as listed
    assert dataset.train.to_pandas().values.tolist() == [[0, 1], [0, 1], [0, 2]]
    assert dataset.test.to_pandas().values.tolist() == [[0, 6]]
    assert len(dataset.valid) == 0 and dataset.name == "lightgcn"


def unseen_folder(tmp_path: Path) -> Path:
    # test: (0, 2) new item, (1, 0) seen, (2, 1) new user
    return make_folder(tmp_path, "0 0 1\n1 1\n", "0 2\n1 0\n2 1\n")


def test_unseen_keep_warns_and_keeps(tmp_path):
    with pytest.warns(UnseenInteractionsWarning, match=r"test\.txt: 2 of 3 interactions .*\(1 users, 1 items"):
        dataset = read_lightgcn(unseen_folder(tmp_path))
    assert len(dataset.test) == 3


def test_unseen_drop_warns_and_drops(tmp_path):
    with pytest.warns(UnseenInteractionsWarning, match="dropped"):
        dataset = read_lightgcn(unseen_folder(tmp_path), unseen="drop")
    assert dataset.test.to_pandas().values.tolist() == [[1, 0]]
    assert (dataset.num_users, dataset.num_items) == (3, 3)


def test_unseen_error_raises(tmp_path):
    with pytest.raises(ValueError, match=r"test\.txt: 2 of 3 interactions"):
        read_lightgcn(unseen_folder(tmp_path), unseen="error")


def test_bad_file_is_named(tmp_path):
    folder = make_folder(tmp_path, "0 1\n", "0 1\n1 -3\n")
    with pytest.raises(DataFormatError) as error:
        read_lightgcn(folder)
    assert str(error.value).startswith(f"{folder / 'test.txt'}, line 2: expected a non-negative")
    assert "ids must be non-negative integers" in str(error.value)


def test_missing_file(tmp_path):
    (tmp_path / "train.txt").write_text("0 1\n")
    with pytest.raises(FileNotFoundError, match="test.txt"):
        read_lightgcn(tmp_path)
