"""read_recbole: ml-100k against its published statistics and a pandas
re-computation; pre-split files, features and bad input on tiny files."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import DataFormatError, UnseenInteractionsWarning, read_recbole
from tests.conftest import folder_digest

# Published in /work/shared/data/README.md.
USERS, ITEMS, RATINGS, LINKED = 943, 1682, 100_000, 1598
ENTITIES, RELATIONS, TRIPLES = 34_628, 24, 91_631


def quiet_read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenInteractionsWarning)
        return read_recbole(*args, **kwargs)


@pytest.fixture(scope="module")
def folder(data_root: Path) -> Path:
    return data_root / "ml-100k"


@pytest.fixture(scope="module")
def dataset(folder: Path):
    digest = folder_digest(folder)
    loaded = quiet_read(folder, "ml-100k")
    assert folder_digest(folder) == digest, "loading must not modify the source files"
    return loaded


@pytest.fixture(scope="module")
def raw(folder: Path):
    """The atomic files read with plain pandas (typed headers stripped by hand)."""

    def read(ext: str) -> pd.DataFrame:
        frame = pd.read_csv(folder / f"ml-100k.{ext}", sep="\t", dtype=str, keep_default_na=False)
        frame.columns = [c.split(":")[0] for c in frame.columns]
        return frame

    return {ext: read(ext) for ext in ("inter", "item", "user", "kg", "link")}


def test_published_statistics(dataset) -> None:
    stats = dataset.stats()
    assert (stats["users"], stats["items"]) == (USERS, ITEMS)
    assert stats["train"] + stats["valid"] + stats["test"] == RATINGS
    assert (stats["entities"], stats["relations"], stats["triples"]) == (ENTITIES, RELATIONS, TRIPLES)
    assert int((dataset.kg.item_entity >= 0).sum()) == LINKED


def test_entity_count_is_distinct_heads_and_tails_and_links(raw) -> None:
    kg, link = raw["kg"], raw["link"]
    heads_tails = set(kg["head_id"]) | set(kg["tail_id"])
    assert len(heads_tails) == ENTITIES
    assert len(heads_tails | set(link["entity_id"])) == ENTITIES


def test_raw_id_round_trip(dataset) -> None:
    # Line 2 of ml-100k.inter: user 196 rated item 242 with 3 at 881250949.
    everything = dataset.all_interactions()
    user = dataset.user_ids.index([196])[0]
    item = dataset.item_ids.index([242])[0]
    match = (everything.user == user) & (everything.item == item)
    assert match.sum() == 1
    assert everything.rating[match][0] == 3.0
    assert everything.timestamp[match][0] == 881250949


def test_interactions_match_pandas(dataset, raw) -> None:
    inter = raw["inter"]
    got = dataset.all_interactions().to_pandas(raw_ids=True)
    expected = sorted(
        zip(inter["user_id"].astype(int), inter["item_id"].astype(int), inter["rating"].astype(float), inter["timestamp"].astype(int))
    )
    assert sorted(zip(got["user"].tolist(), got["item"].tolist(), got["rating"].astype(float).tolist(), got["timestamp"].tolist())) == expected


def test_id_order_is_numeric(dataset, raw) -> None:
    assert dataset.user_ids.raw.tolist() == sorted(raw["inter"]["user_id"].astype(int).unique().tolist())
    assert dataset.item_ids.raw.tolist() == list(range(1, ITEMS + 1))


def test_knowledge_graph_matches_files(dataset, raw) -> None:
    kg, link = dataset.kg, raw["link"]
    names = kg.entity_names
    got = sorted(zip(names[kg.head], kg.relation_names[kg.relation], names[kg.tail]))
    expected = sorted(zip(raw["kg"]["head_id"], raw["kg"]["relation_id"], raw["kg"]["tail_id"]))
    assert got == expected
    items = dataset.item_ids.index(link["item_id"].astype(int).to_numpy())
    assert names[kg.item_entity[items]].tolist() == link["entity_id"].tolist()


def test_features(dataset, raw) -> None:
    items, users = dataset.item_features, dataset.user_features
    assert len(items) == ITEMS and len(users) == USERS
    toy_story = dataset.item_ids.index([1])[0]
    assert items.loc[toy_story, "movie_title"] == "Toy Story"
    assert items.loc[toy_story, "class"] == "Animation Children's Comedy"
    order = dataset.user_ids.index(raw["user"]["user_id"].astype(int).to_numpy())
    assert users["occupation"].to_numpy()[order].tolist() == raw["user"]["occupation"].tolist()


def test_rating_threshold(folder: Path, raw) -> None:
    dataset = quiet_read(folder, "ml-100k", rating_threshold=4, ratios=None)
    assert len(dataset.train) == int((raw["inter"]["rating"].astype(float) >= 4).sum())
    assert (dataset.train.rating >= 4).all()
    assert (dataset.num_users, dataset.num_items) == (USERS, ITEMS)  # the id space ignores the threshold


def test_split_sizes(dataset, raw) -> None:
    per_user = raw["inter"].groupby(raw["inter"]["user_id"].astype(int)).size().sort_index()
    total = dataset.train.user_counts() + dataset.valid.user_counts() + dataset.test.user_counts()
    assert total.tolist() == per_user.tolist()
    assert abs(len(dataset.test) - 0.1 * RATINGS) <= USERS


# -- tiny files ---------------------------------------------------------------

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\nu1\ti1\t4\t10\nu1\ti2\t2\t20\nu2\ti1\t5\t30\n"


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for ext, text in files.items():
        (folder / f"tiny.{ext.replace('_', '.')}").write_text(text)
    return folder


def test_tiny_string_ids_features_and_kg(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        inter=INTER,
        item="item_id:token\tyear:float\ttitle:token_seq\ni3\t1999\tThe Third\ni1\t2001\tThe First\n",
        kg="head_id:token\trelation_id:token\ttail_id:token\nm.b\tr.y\tm.a\nm.c\tr.x\tm.b\n",
        link="item_id:token\tentity_id:token\ni1\tm.c\ni3\tm.d\n",
    )
    dataset = read_recbole(folder, "tiny", ratios=None)
    assert dataset.user_ids.raw.tolist() == ["u1", "u2"]
    assert dataset.item_ids.raw.tolist() == ["i1", "i2", "i3"]  # i3 only in .item
    assert dataset.train.item.tolist() == [0, 1, 0]
    assert dataset.train.timestamp.tolist() == [10, 20, 30]
    features = dataset.item_features
    assert features["year"].tolist()[0] == 2001.0 and np.isnan(features["year"].tolist()[1])
    assert features["year"].tolist()[2] == 1999.0
    assert features["title"].tolist()[0] == "The First" and pd.isna(features["title"].tolist()[1])
    kg = dataset.kg
    assert kg.entity_names.tolist() == ["m.a", "m.b", "m.c", "m.d"]  # m.d: linked, no triple
    assert kg.relation_names.tolist() == ["r.y", "r.x"]  # first appearance
    assert kg.head.tolist() == [1, 2] and kg.tail.tolist() == [0, 1]
    assert kg.item_entity.tolist() == [2, -1, 3]
    assert dataset.user_features is None


def test_leading_zeros_keep_string_ids(tmp_path: Path) -> None:
    folder = write(tmp_path, inter="user_id:token\titem_id:token\n1\t07\n1\t7\n")
    dataset = read_recbole(folder, "tiny", ratios=None)
    assert dataset.item_ids.raw.tolist() == ["07", "7"]
    assert dataset.train.rating is None and dataset.train.timestamp is None


def test_pre_split_files(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        inter="user_id:token\titem_id:token\n9\t9\n",  # ignored when the split files exist
        train_inter="user_id:token\titem_id:token\trating:float\n1\t10\t5\n2\t10\t1\n2\t11\t4\n",
        valid_inter="user_id:token\titem_id:token\trating:float\n1\t11\t4\n",
        test_inter="user_id:token\titem_id:token\trating:float\n2\t12\t5\n",
    )
    with pytest.warns(UnseenInteractionsWarning, match=r"tiny\.test\.inter"):
        dataset = read_recbole(folder, "tiny", rating_threshold=4)
    assert dataset.user_ids.raw.tolist() == [1, 2]
    assert dataset.item_ids.raw.tolist() == [10, 11, 12]
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (2, 1, 1)
    assert dataset.train.item.tolist() == [0, 1]
    with pytest.raises(ValueError, match="test split"):
        read_recbole(folder, "tiny", unseen="error")


def test_unseen_drop(tmp_path: Path) -> None:
    folder = write(tmp_path, inter="user_id:token\titem_id:token\n1\t10\n1\t11\n")
    with pytest.warns(UnseenInteractionsWarning, match=r"1 of 1 interactions"):
        dataset = read_recbole(folder, "tiny", ratios=(1, 1), unseen="drop")
    assert (len(dataset.train), len(dataset.test)) == (1, 0)


@pytest.mark.parametrize(
    "files, ext, line, expected",
    [
        ({"inter": "user_id:token\titem_id:token\trating:float\n1\t2\t3\n1\t3\tfive\n"}, "inter", 3, "a finite number"),
        ({"inter": "user_id:token\titem_id:token\n1\t2\n1\t2\t3\n"}, "inter", 3, "2 '\\\\t'-separated fields"),
        ({"inter": "user_id:token\titem_id:token\n1\t2\n\n1\n"}, "inter", 4, "fields"),
        ({"inter": "user_id:token\titem:token\n1\t2\n"}, "inter", 1, "'item_id'"),
        ({"inter": "user_id:token\titem_id\n1\t2\n"}, "inter", 1, "typed column names"),
        ({"inter": "user_id:token\titem_id:token\n"}, "inter", 1, "at least 1 data row"),
        (
            {"inter": INTER, "kg": "head_id:token\trelation_id:token\ttail_id:token\na\tr\tb\n",
             "link": "item_id:token\tentity_id:token\ni1\ta\ni9\tb\n"},
            "link", 3, "an item of the dataset",
        ),
        ({"inter": INTER, "item": "item_id:token\nA\nB\nA\n"}, "item", 4, "each item_id once"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, files, ext, line, expected) -> None:
    folder = write(tmp_path, **files)
    with pytest.raises(DataFormatError, match=expected) as error:
        read_recbole(folder, "tiny", ratios=None)
    assert error.value.path == str(folder / f"tiny.{ext}")
    assert error.value.line == line


def test_empty_file_and_missing_file(tmp_path: Path) -> None:
    folder = write(tmp_path, inter="")
    with pytest.raises(DataFormatError, match="empty file"):
        read_recbole(folder, "tiny")
    with pytest.raises(FileNotFoundError, match="other.inter"):
        read_recbole(folder, "other")


def test_encoding(tmp_path: Path) -> None:
    folder = write(tmp_path)
    (folder / "tiny.inter").write_bytes(b"\xef\xbb\xbfuser_id:token\titem_id:token\n1\t2\n")  # BOM
    assert read_recbole(folder, "tiny", ratios=None).item_ids.raw.tolist() == [2]
    (folder / "tiny.inter").write_bytes(b"user_id:token\titem_id:token\n1\t2\n1\t\xff\n")
    with pytest.raises(DataFormatError, match="UTF-8") as error:
        read_recbole(folder, "tiny", ratios=None)
    assert error.value.line == 3
