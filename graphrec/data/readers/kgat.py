"""KGAT / KGIN release format: LightGCN-style interactions plus integer KG triples.

Files of a folder:

* ``train.txt``, ``test.txt``: ``user item item ...`` lines (see :mod:`.lightgcn`);
* ``kg_final.txt`` (optional): ``head relation tail`` integer lines;
* ``relation_list.txt`` (optional): header ``org_id remap_id``, then ``name id``;
* ``entity_list.txt`` (optional): header ``org_id remap_id``, then ``name id``.

Item ``i`` is entity ``i`` (the release numbers items first), so
``item_entity = arange(n_items)`` and
``num_entities = max(n_items, max head/tail + 1, max listed entity id + 1)``.
Relation names come from ``relation_list.txt`` when present (a relation id of
``kg_final.txt`` it does not list is an error); otherwise relations are
``0..max id`` named ``str(id)``. Entities that ``entity_list.txt`` does not
name (or all, without it) are named ``str(id)``. Triples are kept exactly as
listed, duplicates included, and no inverse relations are added.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from ..dataset import RecDataset
from ..errors import DataFormatError
from ..knowledge_graph import KnowledgeGraph
from ..unseen import UnseenPolicy, handle_unseen
from ._text import NameTable, read_int_rows, read_name_table
from .lightgcn import read_train_test

KG_FILE = "kg_final.txt"
RELATION_FILE = "relation_list.txt"
ENTITY_FILE = "entity_list.txt"


def _name_table(path: Path) -> Optional[NameTable]:
    """The ``name id`` table at ``path``, or None without the file; ids must be unique."""
    if not path.is_file():
        return None
    table = read_name_table(path)
    order = np.argsort(table.id, kind="stable")
    repeated = np.flatnonzero(table.id[order][1:] == table.id[order][:-1])
    if repeated.size:
        k = int(order[repeated[0] + 1])
        raise DataFormatError(
            path, "each id listed once", line=int(table.line[k]), found=f"id {table.id[k]} listed again"
        )
    return table


def _names(size: int, table: Optional[NameTable]) -> np.ndarray:
    """``str(id)`` for ids ``0..size-1``, overridden by the table's names."""
    names = np.arange(size).astype(str).astype(object)
    if table is not None:
        names[table.id] = table.name
    return names


def read_kgat(folder: "str | os.PathLike[str]", *, name: str = "kgat", unseen: UnseenPolicy = "keep") -> RecDataset:
    """A :class:`RecDataset` from a KGAT/KGIN release folder.

    Without ``kg_final.txt`` the dataset has no KG. ``valid`` is empty; unseen
    test users/items follow ``unseen`` as in :func:`read_lightgcn`.
    """
    folder = Path(folder)
    train, test, test_path = read_train_test(folder, fmt="the KGAT format")
    test = handle_unseen(train, test, policy=unseen, where=str(test_path))
    kg_path = folder / KG_FILE
    if not kg_path.is_file():
        return RecDataset(name=name, train=train, test=test)

    rows = read_int_rows(kg_path, 3, layout="head relation tail")
    head, relation, tail = (np.ascontiguousarray(column) for column in rows.values.T)

    relations = _name_table(folder / RELATION_FILE)
    if relations is None:
        num_relations = int(relation.max()) + 1
    else:
        unknown = np.flatnonzero(~np.isin(relation, relations.id))
        if unknown.size:
            k = int(unknown[0])
            raise DataFormatError(
                kg_path,
                f"a relation id listed in {folder / RELATION_FILE}",
                line=int(rows.line[k]),
                found=f"unknown relation id {relation[k]}",
            )
        num_relations = int(relations.id.max()) + 1 if relations.id.size else 0

    entities = _name_table(folder / ENTITY_FILE)
    num_entities = max(
        train.num_items,
        int(max(head.max(), tail.max())) + 1,
        int(entities.id.max()) + 1 if entities is not None and entities.id.size else 0,
    )
    kg = KnowledgeGraph(
        head=head,
        relation=relation,
        tail=tail,
        entity_names=_names(num_entities, entities),
        relation_names=_names(num_relations, relations),
        item_entity=np.arange(train.num_items, dtype=np.int64),
    )
    return RecDataset(name=name, train=train, test=test, kg=kg)
