"""read_coat on the shipped Coat folder (published counts, np.loadtxt re-counts) and tiny bad folders."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from graphrec.data import DataFormatError, UnseenInteractionsWarning, read_coat
from tests.conftest import folder_digest


@pytest.fixture(scope="module")
def coat_folder(data_root) -> Path:
    return data_root / "coat"


@pytest.fixture(scope="module")
def matrices(coat_folder):
    """The three matrices as NumPy reads them, independently of the reader."""
    return {
        name: np.loadtxt(coat_folder / f"{name}.ascii")
        for name in ("train", "test", "propensities")
    }


@pytest.fixture(scope="module")
def coat_all(coat_folder):
    digest = folder_digest(coat_folder)
    with warnings.catch_warnings():
        # every user and item has an observed training rating
        warnings.simplefilter("error", UnseenInteractionsWarning)
        dataset = read_coat(coat_folder, threshold=None)
    assert folder_digest(coat_folder) == digest, "loading must not modify the source files"
    return dataset


def test_published_counts(coat_all):
    # README: 290 x 300, 6,960 train ratings, 4,640 test ratings
    assert (coat_all.num_users, coat_all.num_items) == (290, 300)
    assert (len(coat_all.train), len(coat_all.test), len(coat_all.valid)) == (6_960, 4_640, 0)
    assert coat_all.name == "coat" and coat_all.kg is None
    assert coat_all.item_ids.raw.tolist() == list(range(300))


@pytest.mark.parametrize("split", ["train", "test"])
def test_ratings_equal_loadtxt(coat_all, matrices, split):
    interactions = getattr(coat_all, split)
    dense = np.zeros((290, 300))
    dense[interactions.user, interactions.item] = interactions.rating
    np.testing.assert_array_equal(dense, matrices[split])
    assert set(np.unique(interactions.rating).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_threshold_counts_match_numpy(coat_folder, matrices):
    with pytest.warns(UnseenInteractionsWarning):
        dataset = read_coat(coat_folder)  # threshold 4 by default
    train, test = matrices["train"], matrices["test"]
    assert len(dataset.train) == int((train >= 4).sum())
    assert len(dataset.test) == int((test >= 4).sum())
    assert dataset.train.rating.min() == 4 and dataset.test.rating.min() == 4
    with pytest.warns(UnseenInteractionsWarning):
        assert len(read_coat(coat_folder, threshold=5).train) == int((train == 5).sum())


def test_unseen_drop_matches_numpy(coat_folder, matrices):
    train, test = matrices["train"] >= 4, matrices["test"] >= 4
    seen_user, seen_item = train.any(axis=1), train.any(axis=0)
    expected = int((test & seen_user[:, None] & seen_item[None, :]).sum())
    assert expected < int(test.sum())  # the thresholded test set does have unseen pairs
    with pytest.warns(UnseenInteractionsWarning, match=r"test\.ascii: .*dropped"):
        dataset = read_coat(coat_folder, unseen="drop")
    assert len(dataset.test) == expected
    with pytest.raises(ValueError, match=r"test\.ascii"):
        read_coat(coat_folder, unseen="error")


def test_propensities(coat_all, matrices):
    assert coat_all.propensity.shape == (290, 300)
    np.testing.assert_array_equal(coat_all.propensity, matrices["propensities"])
    # first value of the file, copied by hand: 5.656337700307541294e-02
    assert coat_all.propensity[0, 0] == 5.656337700307541294e-02


def test_features(coat_all, coat_folder):
    features = coat_folder / "user_item_features"
    for table, kind, shape in ((coat_all.user_features, "user", (290, 14)), (coat_all.item_features, "item", (300, 33))):
        assert table.shape == shape
        np.testing.assert_array_equal(table.to_numpy(), np.loadtxt(features / f"{kind}_features.ascii"))
        names = (features / f"{kind}_features_map.txt").read_text().split("\n")
        assert table.columns.tolist() == [name.strip() for name in names if name.strip()]
    assert coat_all.user_features.columns[0] == "gender:men"
    assert coat_all.item_features.columns[-1] == "onfrontpage:no"


# -- tiny folders ----------------------------------------------------------------
def make_folder(tmp_path: Path, train: str, test: str, propensities: "str | None" = None) -> Path:
    (tmp_path / "train.ascii").write_text(train)
    (tmp_path / "test.ascii").write_text(test)
    if propensities is not None:
        (tmp_path / "propensities.ascii").write_text(propensities)
    return tmp_path


def test_tiny_hand_example(tmp_path):
    folder = make_folder(tmp_path, "5 0 3\r\n0 4 1\r\n", "0 2 4\r\n5 0 0\r\n", "0.5 0.1 0.2\n0.3 0.3 1\n")
    dataset = read_coat(folder, threshold=None)
    assert dataset.train.to_pandas().values.tolist() == [[0, 0, 5], [0, 2, 3], [1, 1, 4], [1, 2, 1]]
    assert dataset.test.to_pandas().values.tolist() == [[0, 1, 2], [0, 2, 4], [1, 0, 5]]
    assert dataset.propensity.tolist() == [[0.5, 0.1, 0.2], [0.3, 0.3, 1.0]]
    assert dataset.user_features is None and dataset.item_features is None
    with pytest.warns(UnseenInteractionsWarning, match=r"1 of 2 interactions"):
        positives = read_coat(folder, threshold=4, unseen="drop")
    assert positives.train.to_pandas()[["user", "item"]].values.tolist() == [[0, 0], [1, 1]]
    # test (0, 2) is rated 4 but item 2 has no training positive: dropped
    assert positives.test.to_pandas()[["user", "item"]].values.tolist() == [[1, 0]]


@pytest.mark.parametrize(
    "train, test, file, line, expected",
    [
        ("1 0 3\n0 4\n", "0 0 1\n1 0 0\n", "train.ascii", 2, r"expected 3 values per line .*found 2 values: '0 4'"),
        ("1 0 3\n0 4 1\n", "0 0 1\n1 0 0 2\n", "test.ascii", 2, r"expected 3 values per line .*found 4 values"),
        ("1 0 3\n0 7 1\n", "0 0 1\n1 0 0\n", "train.ascii", 2, r"expected ratings 0\.\.5 .*found 7 in column 2"),
        ("1 0 3\n0 4 1\n", "0 0 1\n1 0 -2\n", "test.ascii", 2, r"expected a non-negative integer rating \(ratings must be non-negative integers\), found '-2'"),
        ("1 0 3\n0 4 1\n", "0 0 1\n1 0 x\n", "test.ascii", 2, r"expected an integer rating, found 'x'"),
        ("1 0 3\n0 4 1\n", "0 0 1\n", "test.ascii", None, r"expected 2 rows .*found 1 rows"),
        ("", "0 0 1\n", "train.ascii", None, r"found no data \(the file is empty\)"),
    ],
)
def test_bad_matrices(tmp_path, train, test, file, line, expected):
    folder = make_folder(tmp_path, train, test)
    with pytest.raises(DataFormatError, match=expected) as error:
        read_coat(folder, threshold=None)
    assert error.value.path == str(folder / file) and error.value.line == line


@pytest.mark.parametrize(
    "propensities, expected",
    [("0.5 0.5 0.5\n0.5 0.5\n", r"line 2: expected 3 values"), ("0.5 0.5 0.5\n0.5 0 0.5\n", r"line 2: expected propensities in \(0, 1\], found 0\.0 in column 2")],
)
def test_bad_propensities(tmp_path, propensities, expected):
    folder = make_folder(tmp_path, "1 0 3\n0 4 1\n", "0 2 1\n1 0 1\n", propensities)
    with pytest.raises(DataFormatError, match=expected):
        read_coat(folder, threshold=None)
