"""read_kgat on tiny hand-computable KGAT-format folders (no KGAT release ships locally)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from graphrec.data import DataFormatError, UnseenInteractionsWarning, read_kgat
from tests.conftest import folder_digest

TRAIN = "0 0 1\n1 2\n"  # 2 users, items 0..2
TEST = "0 2\n1 1\n"
KG = "0 0 3\n1 1 4\n\n3 0 5\n1 1 4\n"  # 4 triples (one duplicate), entities up to 5, relations 0..1


def make_folder(tmp_path: Path, **files: str) -> Path:
    contents = {"train.txt": TRAIN, "test.txt": TEST, **{k.replace("__", "."): v for k, v in files.items()}}
    for name, text in contents.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_without_kg_is_plain_cf(tmp_path):
    dataset = read_kgat(make_folder(tmp_path))
    assert dataset.kg is None and dataset.name == "kgat"
    assert dataset.stats() == {
        "users": 2, "items": 3, "train": 3, "valid": 0, "test": 2, "entities": 0, "relations": 0, "triples": 0,
    }
    assert dataset.train.to_pandas().values.tolist() == [[0, 0], [0, 1], [1, 2]]


def test_kg_ids_only(tmp_path):
    dataset = read_kgat(make_folder(tmp_path, kg_final__txt=KG), name="tiny")
    kg = dataset.kg
    assert dataset.name == "tiny"
    # num_entities = max(n_items=3, max head/tail + 1 = 6); relations 0..1
    assert (kg.num_entities, kg.num_relations, kg.num_triples) == (6, 2, 4)
    assert kg.head.tolist() == [0, 1, 3, 1]
    assert kg.relation.tolist() == [0, 1, 0, 1]
    assert kg.tail.tolist() == [3, 4, 5, 4]
    assert kg.item_entity.tolist() == [0, 1, 2]
    assert kg.relation_names.tolist() == ["0", "1"]
    assert kg.entity_names.tolist() == ["0", "1", "2", "3", "4", "5"]
    assert dataset.stats()["entities"] == 6 and dataset.stats()["triples"] == 4


def test_items_beyond_kg_entities_are_entities(tmp_path):
    # items 0..2 but the KG only mentions entities 0 and 1
    dataset = read_kgat(make_folder(tmp_path, kg_final__txt="0 0 1\n"))
    assert dataset.kg.num_entities == 3 and dataset.kg.item_entity.tolist() == [0, 1, 2]


def test_relation_and_entity_lists_name_things(tmp_path):
    folder = make_folder(
        tmp_path,
        kg_final__txt=KG,
        relation_list__txt="org_id remap_id\nhttp://x/genre 0\nhttp://x/author 1\nhttp://x/unused 2\n",
        # names some entities only (5 unnamed) and lists an entity (7) the KG does not use
        entity_list__txt="org_id remap_id\nm.item0 0\nm.item1 1\nm.item2 2\nm.e3 3\nm.e4 4\nm.e7 7\n",
    )
    kg = read_kgat(folder).kg
    assert kg.relation_names.tolist() == ["http://x/genre", "http://x/author", "http://x/unused"]
    assert kg.entity_names.tolist() == ["m.item0", "m.item1", "m.item2", "m.e3", "m.e4", "5", "6", "m.e7"]
    assert (kg.num_entities, kg.num_relations) == (8, 3)


def test_unknown_relation_id(tmp_path):
    folder = make_folder(
        tmp_path,
        kg_final__txt="0 0 3\n1 1 4\n2 5 4\n",
        relation_list__txt="org_id remap_id\nhttp://x/genre 0\nhttp://x/author 1\n",
    )
    with pytest.raises(DataFormatError) as error:
        read_kgat(folder)
    message = str(error.value)
    assert message.startswith(f"{folder / 'kg_final.txt'}, line 3: expected a relation id listed in")
    assert "unknown relation id 5" in message and error.value.line == 3


def test_relation_id_listed_twice(tmp_path):
    folder = make_folder(
        tmp_path, kg_final__txt=KG, relation_list__txt="org_id remap_id\na 0\nb 1\nc 0\n"
    )
    with pytest.raises(DataFormatError, match=r"relation_list\.txt, line 4: expected each id listed once"):
        read_kgat(folder)


@pytest.mark.parametrize(
    "kg, line, expected",
    [
        ("0 0 3\n1 1\n", 2, r"expected 3 values per line \(head relation tail\), found 2 values: '1 1'"),
        ("0 0 3\n1 1 4 5\n", 2, r"expected 3 values per line \(head relation tail\), found 4 values"),
        ("0 0 3\n1 r 4\n", 2, r"expected an integer id, found 'r'"),
        ("0 0 3\n\n1 1 -4\n", 3, r"ids must be non-negative integers\), found '-4'"),
        ("\n\n", None, r"found no data \(the file is empty\)"),
    ],
)
def test_bad_kg_file(tmp_path, kg, line, expected):
    folder = make_folder(tmp_path, kg_final__txt=kg)
    with pytest.raises(DataFormatError, match=expected) as error:
        read_kgat(folder)
    assert error.value.path == str(folder / "kg_final.txt") and error.value.line == line


def test_unseen_policies(tmp_path):
    folder = make_folder(tmp_path, test__txt="0 2\n1 3\n", kg_final__txt=KG)  # item 3 never in train
    with pytest.warns(UnseenInteractionsWarning, match=r"1 of 2 interactions"):
        assert len(read_kgat(folder).test) == 2
    with pytest.warns(UnseenInteractionsWarning, match="dropped"):
        assert read_kgat(folder, unseen="drop").test.to_pandas().values.tolist() == [[0, 2]]
    with pytest.raises(ValueError, match=r"1 of 2 interactions"):
        read_kgat(folder, unseen="error")


def test_loading_does_not_modify_read_only_files(tmp_path):
    folder = make_folder(
        tmp_path, kg_final__txt=KG, relation_list__txt="org_id remap_id\na 0\nb 1\n"
    )
    for path in folder.iterdir():
        os.chmod(path, stat.S_IRUSR)
    before = folder_digest(folder)
    assert read_kgat(folder).kg.num_triples == 4
    assert folder_digest(folder) == before
