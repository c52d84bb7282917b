"""read_kgcn: KGCN's Last.FM release against its published statistics and a pandas
re-computation; bad input on tiny files; unseen reporting."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graphrec.data import DataFormatError, UnseenInteractionsWarning, read_kgcn
from tests.conftest import folder_digest

# Published in /work/shared/data/README.md (KGCN, WWW 2019).
USERS, ITEMS, INTERACTIONS = 1872, 3846, 21173
ENTITIES, RELATIONS, TRIPLES = 9366, 60, 15518


@pytest.fixture(scope="module")
def folder(data_root: Path) -> Path:
    return data_root / "lastfm-kgcn"


@pytest.fixture(scope="module")
def dataset(folder: Path):
    digest = folder_digest(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenInteractionsWarning)
        loaded = read_kgcn(folder)
    assert folder_digest(folder) == digest, "loading must not modify the source files"
    return loaded


@pytest.fixture(scope="module")
def raw(folder: Path):
    """The three files read with plain pandas, independently of graphrec."""
    listens = pd.read_csv(folder / "user_artists.dat", sep="\t")
    links = pd.read_csv(folder / "item_index2entity_id.txt", sep="\t", header=None, names=["artist", "entity"])
    kg = pd.read_csv(folder / "kg.txt", sep="\t", header=None, names=["head", "relation", "tail"])
    return listens, links, kg


def test_published_statistics(dataset) -> None:
    stats = dataset.stats()
    assert stats["users"] == USERS
    assert stats["items"] == ITEMS
    assert stats["train"] + stats["valid"] + stats["test"] == INTERACTIONS
    assert (stats["entities"], stats["relations"], stats["triples"]) == (ENTITIES, RELATIONS, TRIPLES)


def test_entity_count_is_distinct_ids_which_equals_max_plus_one(raw) -> None:
    _, links, kg = raw
    distinct = np.union1d(np.union1d(kg["head"], kg["tail"]), links["entity"])
    assert len(distinct) == ENTITIES
    assert max(kg["head"].max(), kg["tail"].max()) + 1 == ENTITIES


def test_interactions_match_pandas(dataset, raw) -> None:
    listens, links, _ = raw
    expected = listens[listens["artistID"].isin(links["artist"])]
    got = dataset.all_interactions().to_pandas(raw_ids=True)
    expected_rows = sorted(zip(expected["userID"], expected["artistID"], expected["weight"].astype(float)))
    got_rows = sorted(zip(got["user"].tolist(), got["item"].tolist(), got["rating"].astype(float).tolist()))
    assert got_rows == expected_rows


def test_id_spaces(dataset, raw) -> None:
    listens, links, _ = raw
    assert dataset.item_ids.raw.tolist() == links["artist"].tolist()  # file order
    linked_users = np.unique(listens.loc[listens["artistID"].isin(links["artist"]), "userID"])
    assert dataset.user_ids.raw.tolist() == linked_users.tolist()  # sorted
    # A raw id round trip: the file's line 3, user 2 listened to artist 52 11,690
    # times; line 2's artist 51 is not linked to the KG, so it is no item.
    all_rows = dataset.all_interactions()
    user, item = dataset.user_ids.index([2])[0], dataset.item_ids.index([52])[0]
    match = (all_rows.user == user) & (all_rows.item == item)
    assert match.sum() == 1 and all_rows.rating[match][0] == 11690
    assert dataset.item_ids.index([51], strict=False).tolist() == [-1]


def test_knowledge_graph_matches_file(dataset, raw) -> None:
    _, links, kg = raw
    graph = dataset.kg
    names = graph.entity_names
    got = sorted(zip(names[graph.head].tolist(), graph.relation_names[graph.relation].tolist(), names[graph.tail].tolist()))
    expected = sorted(zip(kg["head"].astype(str), kg["relation"], kg["tail"].astype(str)))
    assert got == expected
    assert sorted(graph.relation_names.tolist()) == sorted(kg["relation"].unique().tolist())
    # Item i (artist links.artist[i]) is aligned to entity links.entity[i].
    assert names[graph.item_entity].tolist() == links["entity"].astype(str).tolist()


def test_split_sizes_and_per_user_counts(dataset, raw) -> None:
    listens, links, _ = raw
    expected = listens[listens["artistID"].isin(links["artist"])].groupby("userID").size()
    total = dataset.train.user_counts() + dataset.valid.user_counts() + dataset.test.user_counts()
    assert total.tolist() == expected.sort_index().tolist()
    assert (dataset.train.user_counts() >= 1).all()
    # 0.8 / 0.1 / 0.1 of 21,173 up to per-user rounding (at most 1 per user and split).
    assert abs(len(dataset.test) - 0.1 * INTERACTIONS) <= USERS


def test_no_ratios_puts_everything_in_train(folder: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenInteractionsWarning)
        dataset = read_kgcn(folder, ratios=None)
    assert (len(dataset.train), len(dataset.valid), len(dataset.test)) == (INTERACTIONS, 0, 0)


# -- tiny files ---------------------------------------------------------------


def write_kgcn(folder: Path, listens: str, links: str, kg: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # CRLF line ends, as in the published release.
    for name, text in (("user_artists.dat", listens), ("item_index2entity_id.txt", links), ("kg.txt", kg)):
        (folder / name).write_bytes(text.replace("\n", "\r\n").encode())
    return folder


LISTENS = "userID\tartistID\tweight\n1\t10\t5\n1\t11\t7\n2\t10\t3\n2\t99\t1\n"
LINKS = "10\t0\n11\t1\n12\t2\n"
KG = "0\tgenre\t3\n1\tgenre\t3\n2\torigin\t4\n"


def test_tiny_folder_by_hand(tmp_path: Path) -> None:
    dataset = read_kgcn(write_kgcn(tmp_path, LISTENS, LINKS, KG), ratios=None)
    # Artist 99 is not linked: its listen is dropped; artist 12 has no listens but is an item.
    assert dataset.item_ids.raw.tolist() == [10, 11, 12]
    assert dataset.user_ids.raw.tolist() == [1, 2]
    assert dataset.train.user.tolist() == [0, 0, 1]
    assert dataset.train.item.tolist() == [0, 1, 0]
    assert dataset.train.rating.tolist() == [5.0, 7.0, 3.0]
    kg = dataset.kg
    assert kg.entity_names.tolist() == ["0", "1", "2", "3", "4"]
    assert kg.relation_names.tolist() == ["genre", "origin"]  # first appearance
    assert kg.relation.tolist() == [0, 0, 1]
    assert kg.item_entity.tolist() == [0, 1, 2]


def test_unseen_report(tmp_path: Path) -> None:
    # Each of user 1's two artists is listened to once in all: with a 1:1 split,
    # the test interaction's artist never occurs in training, whatever the seed.
    folder = write_kgcn(tmp_path, "userID\tartistID\tweight\n1\t10\t5\n1\t11\t7\n", LINKS, KG)
    with pytest.warns(UnseenInteractionsWarning, match=r"test split: 1 of 1 interactions"):
        kept = read_kgcn(folder, ratios=(1, 1), unseen="keep")
    assert (len(kept.train), len(kept.test)) == (1, 1)
    with pytest.warns(UnseenInteractionsWarning):
        dropped = read_kgcn(folder, ratios=(1, 1), unseen="drop")
    assert (len(dropped.train), len(dropped.test)) == (1, 0)
    with pytest.raises(ValueError, match="test split"):
        read_kgcn(folder, ratios=(1, 1), unseen="error")


@pytest.mark.parametrize(
    "listens, links, kg, file, line, expected",
    [
        (LISTENS, LINKS, "0\tgenre\t3\n1\tgenre\n2\torigin\t4\n", "kg.txt", 2, "3 '\\\\t'-separated fields"),
        (LISTENS, LINKS, "0\tgenre\t3\n1\tgenre\t3\textra\n", "kg.txt", 2, "fields"),
        (LISTENS, LINKS, "0\tgenre\t3\n\n1\tgenre\tm.01x\n", "kg.txt", 3, "an integer"),
        (LISTENS, "10\t0\n11\tone\n", KG, "item_index2entity_id.txt", 2, "an integer"),
        (LISTENS, "10\t0\n11\t1\n10\t2\n", KG, "item_index2entity_id.txt", 3, "each artist once"),
        (LISTENS, "10\t0\n11\t0\n", KG, "item_index2entity_id.txt", 2, "each entity once"),
        ("userID\tartistID\tweight\n1\t10\tmany\n", LINKS, KG, "user_artists.dat", 2, "an integer"),
        ("userID\tartist\tweight\n1\t10\t5\n", LINKS, KG, "user_artists.dat", 1, "'artistID'"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, listens, links, kg, file, line, expected) -> None:
    folder = write_kgcn(tmp_path, listens, links, kg)
    with pytest.raises(DataFormatError, match=expected) as error:
        read_kgcn(folder, ratios=None)
    assert error.value.path == str(folder / file)
    assert error.value.line == line
    assert f"line {line}" in str(error.value)


@pytest.mark.parametrize("file", ["user_artists.dat", "item_index2entity_id.txt", "kg.txt"])
def test_empty_file(tmp_path: Path, file: str) -> None:
    folder = write_kgcn(tmp_path, LISTENS, LINKS, KG)
    (folder / file).write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty file") as error:
        read_kgcn(folder, ratios=None)
    assert error.value.path == str(folder / file)
