"""KGCN's Last.FM release (Wang et al., WWW 2019): listening counts + a Satori KG.

Files in the folder (all tab-separated):

- ``user_artists.dat``: header ``userID artistID weight``; ``weight`` is the
  listening count of the pair (HetRec 2011).
- ``item_index2entity_id.txt``: no header; ``artistID entityID``, one line per
  artist linked to the KG.
- ``kg.txt``: no header; ``head relation tail``, entity ids as integers and
  relations as names such as ``music.artist.origin``.

As in the KGCN paper, only artists linked to the KG are items and every
listened (user, linked artist) pair is a positive interaction. On the published
release this gives 1,872 users, 3,846 items, 21,173 interactions and a KG of
9,366 entities, 60 relations and 15,518 triples.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from ..dataset import RecDataset
from ..idmap import IdMap
from ..interactions import Interactions
from ..knowledge_graph import KnowledgeGraph
from ..unseen import UnseenPolicy
from ._tables import Table, int_column, read_table, require_columns, sorted_unique
from .tabular import split_into_dataset

__all__ = ["read_kgcn"]

INTERACTIONS_FILE = "user_artists.dat"
LINK_FILE = "item_index2entity_id.txt"
KG_FILE = "kg.txt"


def read_kgcn(
    folder: "str | os.PathLike[str]",
    *,
    ratios: Optional[Sequence[float]] = (0.8, 0.1, 0.1),
    seed: int = 0,
    name: str = "last-fm-kgcn",
    unseen: UnseenPolicy = "keep",
) -> RecDataset:
    """Read KGCN's Last.FM folder into a :class:`RecDataset`.

    Id spaces:

    - items: the artists of ``item_index2entity_id.txt``, in file order (an
      artist nobody listened to is still an item); raw ids are artist ids;
    - users: those with at least one interaction on a linked artist, sorted by
      raw user id;
    - entities: the distinct entity ids of ``kg.txt`` heads and tails and of the
      link file, in numeric order, named by their ids as strings. The release
      numbers its entities ``0..9365`` without gaps, so the distinct count and
      ``max id + 1`` agree (9,366) and entity index == entity id; on a file with
      gaps the distinct count is used, so no entity without a triple or a link
      is invented;
    - relations: names in order of first appearance in ``kg.txt`` (the order
      KGCN's ``preprocess.py`` numbers them in).

    ``rating`` holds the listening count (``weight``). Interactions are split
    per user by :func:`graphrec.data.split.random_split` (``ratios`` is
    ``(train, test)`` or ``(train, valid, test)``; ``None`` keeps all in train),
    then valid and test interactions unseen in training are reported and
    handled per ``unseen`` (``"keep"``, ``"drop"`` or ``"error"``).

    Raises :class:`DataFormatError` (file and line) for a row with the wrong
    number of fields, a non-integer id or weight, a missing column, an empty
    file, an artist or entity linked twice.
    """
    folder = Path(folder)
    artists, artist_entity = _read_links(folder / LINK_FILE)
    item_ids = IdMap(artists)

    heads, relations, tails = _read_kg(folder / KG_FILE)
    entity_raw = sorted_unique(heads, tails, artist_entity)
    entity_ids = IdMap(entity_raw)
    relation_names = pd.unique(relations)
    relation_ids = IdMap(np.asarray(relation_names, dtype=object))
    kg = KnowledgeGraph(
        head=entity_ids.index(heads),
        relation=relation_ids.index(relations),
        tail=entity_ids.index(tails),
        entity_names=entity_raw.astype(str).astype(object),
        relation_names=relation_ids.raw,
        item_entity=entity_ids.index(artist_entity),
    )

    users, items, weights = _read_listens(folder / INTERACTIONS_FILE)
    item_index = item_ids.index(items, strict=False)
    linked = item_index >= 0
    user_ids = IdMap(sorted_unique(users[linked]))
    interactions = Interactions(
        user=user_ids.index(users[linked]),
        item=item_index[linked],
        user_ids=user_ids,
        item_ids=item_ids,
        rating=weights[linked],
    )
    return split_into_dataset(name, interactions, ratios=ratios, seed=seed, unseen=unseen, kg=kg)


def _read_links(path: Path) -> "tuple[np.ndarray, np.ndarray]":
    """Artist ids and their entity ids, in file order; each appears once."""
    table = read_table(path, header=False, names=["artist", "entity"])
    artists = int_column(table, "artist")
    entities = int_column(table, "entity")
    _reject_duplicates(table, artists, "artist")
    _reject_duplicates(table, entities, "entity")
    return artists, entities


def _read_kg(path: Path) -> "tuple[np.ndarray, np.ndarray, np.ndarray]":
    """Head and tail entity ids (int64) and relation names (str) of every triple."""
    table = read_table(path, header=False, names=["head", "relation", "tail"])
    relations = table.column("relation").to_numpy(dtype=object)
    table.first_bad(table.column("relation").str.strip().eq("").to_numpy(), "relation", "a relation name")
    return int_column(table, "head"), relations, int_column(table, "tail")


def _read_listens(path: Path) -> "tuple[np.ndarray, np.ndarray, np.ndarray]":
    """User ids, artist ids and listening counts of ``user_artists.dat``."""
    table = read_table(path, header=True)
    require_columns(table, ["userID", "artistID", "weight"])
    weights = int_column(table, "weight")
    table.first_bad(weights < 0, "weight", "a non-negative listening count")
    return int_column(table, "userID"), int_column(table, "artistID"), weights.astype(np.float64)


def _reject_duplicates(table: Table, values: np.ndarray, column: str) -> None:
    duplicated = pd.Series(values).duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero(values == values[row])[0])
        raise table.error(
            row,
            f"each {column} once",
            found=f"{column} {values[row]} again (first on line {table.lines[first]})",
        )
