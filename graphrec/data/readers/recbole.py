"""RecBole atomic files: ``{name}.inter`` (+ ``.item``, ``.user``, ``.kg``, ``.link``).

Every file is tab-separated with a typed header (``user_id:token``,
``rating:float``, ``class:token_seq``; see RecBole's "Atomic Files" docs). The
columns read are RecBole's default field names:

- ``.inter``: ``user_id``, ``item_id`` (required), ``rating``, ``timestamp``;
- ``.item`` / ``.user``: ``item_id`` / ``user_id`` plus any feature columns;
- ``.kg``: ``head_id``, ``relation_id``, ``tail_id`` (entity and relation names);
- ``.link``: ``item_id``, ``entity_id``.

RecBole's pre-split benchmark files ``{name}.train.inter``, ``{name}.valid.inter``
and ``{name}.test.inter`` replace ``{name}.inter`` when present.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..idmap import IdMap
from ..interactions import Interactions
from ..knowledge_graph import KnowledgeGraph
from ..dataset import RecDataset
from ..unseen import UnseenPolicy
from ._tables import (
    Table,
    float_column,
    is_canonical_int,
    read_typed_table,
    require_columns,
    sorted_unique,
    timestamp_values,
)
from .tabular import dataset_from_splits, split_into_dataset

__all__ = ["read_recbole"]

SPLIT_PARTS = ("train", "valid", "test")


def read_recbole(
    folder: "str | os.PathLike[str]",
    name: str,
    *,
    rating_threshold: Optional[float] = None,
    ratios: Optional[Sequence[float]] = (0.8, 0.1, 0.1),
    seed: int = 0,
    unseen: UnseenPolicy = "keep",
) -> RecDataset:
    """Read the RecBole dataset ``name`` from ``folder``.

    Interactions: every row of ``{name}.inter`` is a positive;
    ``rating_threshold`` keeps the rows with ``rating >= rating_threshold``.
    ``rating`` and ``timestamp`` are kept when the file has them (timestamps as
    int64 when all are whole seconds). When ``{name}.train.inter`` exists, the
    files ``{name}.train.inter``, ``{name}.test.inter`` and (optional)
    ``{name}.valid.inter`` are the split and ``{name}.inter``, ``ratios`` and
    ``seed`` are not used; otherwise each user's interactions are split by
    :func:`graphrec.data.split.random_split` (``ratios`` is ``(train, test)`` or
    ``(train, valid, test)``; ``None`` keeps all in train). Valid and test
    interactions unseen in training are then reported and handled per
    ``unseen``.

    Id spaces, built before the threshold so that it never moves an id:

    - items: the items of all interaction files together with those listed in
      ``.item`` (RecBole keeps feature-only items too); users likewise with
      ``.user``. Raw ids are the tokens, as int64 when every token of that id
      space is a plain integer (``"196"`` -> ``196``, numeric order), else as
      strings in code-point order.
    - entities (when ``.kg`` exists): the distinct ``head_id`` / ``tail_id``
      tokens together with the ``.link`` entities, ordered the same way and
      named by their tokens (Freebase ids such as ``m.04ctbw8``). On ml-100k
      every linked entity occurs in a triple, so the union and the distinct
      heads and tails count the same 34,628 entities.
    - relations: ``relation_id`` names in order of first appearance in ``.kg``
      (as RecBole's token remapping numbers them).

    ``item_entity`` comes from ``.link``; ``.item`` / ``.user`` become
    ``item_features`` / ``user_features``: row ``i`` describes index ``i``
    (all-NaN for an id the file does not list), without the id column,
    ``float`` columns as float64 and token columns as strings.

    Raises :class:`DataFormatError` naming the file and line for a typed
    header that is malformed or lacks a required column, a row with the wrong
    number of fields, a non-numeric ``float`` value, an empty interaction file,
    an id listed twice in ``.item`` / ``.user`` / ``.link``, or a ``.link`` row
    whose item is not in the dataset; ``FileNotFoundError`` when there is no
    interaction file.
    """
    folder = Path(folder)
    inter_paths = _interaction_files(folder, name)
    inters = {part: read_typed_table(path, min_rows=0 if part == "valid" else 1) for part, path in inter_paths.items()}
    for table in inters.values():
        require_columns(table, ["user_id", "item_id"] + (["rating"] if rating_threshold is not None else []))
    item_table = _optional_table(folder / f"{name}.item", "item_id")
    user_table = _optional_table(folder / f"{name}.user", "user_id")

    user_tokens = _TokenSpace(
        [t.column("user_id") for t in inters.values()] + ([user_table.column("user_id")] if user_table else [])
    )
    item_tokens = _TokenSpace(
        [t.column("item_id") for t in inters.values()] + ([item_table.column("item_id")] if item_table else [])
    )
    interactions = {
        part: _interactions(table, user_tokens, item_tokens, rating_threshold) for part, table in inters.items()
    }
    extras = {
        "kg": _knowledge_graph(folder, name, item_tokens),
        "item_features": None if item_table is None else _features(item_table, "item_id", item_tokens),
        "user_features": None if user_table is None else _features(user_table, "user_id", user_tokens),
    }
    if "all" in interactions:
        return split_into_dataset(name, interactions["all"], ratios=ratios, seed=seed, unseen=unseen, **extras)
    train = interactions["train"]
    valid = interactions.get("valid", train.empty())
    where = {part: f"{inter_paths[part]} ({name} {part} split)" for part in ("valid", "test") if part in inter_paths}
    return dataset_from_splits(name, train, valid, interactions["test"], unseen=unseen, where=where, **extras)


class _TokenSpace:
    """One id space over the tokens of several columns: sorted distinct tokens,
    int64 raw ids when every token is a plain integer. Lookups go by token text,
    as in RecBole, so ``"07"`` never silently matches item ``7``."""

    def __init__(self, columns: List[pd.Series]) -> None:
        tokens = sorted_unique(*[np.asarray(pd.unique(c), dtype=object) for c in columns])
        if is_canonical_int(tokens):
            raw = np.sort(tokens.astype(np.int64))
        else:
            raw = tokens.astype(str).astype(object)
        self.ids = IdMap(raw)
        self._by_text = IdMap(raw.astype(str).astype(object))

    def index(self, tokens: "pd.Series | np.ndarray", *, strict: bool = True) -> np.ndarray:
        return self._by_text.index(np.asarray(tokens, dtype=object), strict=strict)


def _interaction_files(folder: Path, name: str) -> Dict[str, Path]:
    """``{"all": .inter}`` or the pre-split ``{"train", "valid", "test"}`` files."""
    split = {part: folder / f"{name}.{part}.inter" for part in SPLIT_PARTS}
    if split["train"].is_file():
        if not split["test"].is_file():
            raise FileNotFoundError(f"{split['train']} exists, so its split needs {split['test']} too")
        return {part: path for part, path in split.items() if path.is_file()}
    whole = folder / f"{name}.inter"
    if not whole.is_file():
        raise FileNotFoundError(f"no RecBole interaction file {whole} (nor {split['train']})")
    return {"all": whole}


def _optional_table(path: Path, id_column: str) -> Optional[Table]:
    """A RecBole side file (``.item``, ``.user``, ``.link``), None when absent; ids once each."""
    if not path.is_file():
        return None
    table = read_typed_table(path, min_rows=0)
    require_columns(table, [id_column])
    _reject_duplicates(table, id_column)
    return table


def _reject_duplicates(table: Table, column: str) -> None:
    values = table.column(column)
    duplicated = values.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        first = int(np.flatnonzero((values == values.iloc[row]).to_numpy())[0])
        raise table.error(
            row, f"each {column} once", found=f"{values.iloc[row]!r} again (first on line {table.lines[first]})"
        )


def _interactions(
    table: Table, users: _TokenSpace, items: _TokenSpace, rating_threshold: Optional[float]
) -> Interactions:
    columns = table.frame.columns
    rating = float_column(table, "rating") if "rating" in columns else None
    timestamp = timestamp_values(float_column(table, "timestamp")) if "timestamp" in columns else None
    interactions = Interactions(
        user=users.index(table.column("user_id")),
        item=items.index(table.column("item_id")),
        user_ids=users.ids,
        item_ids=items.ids,
        rating=rating,
        timestamp=timestamp,
    )
    if rating_threshold is not None:
        interactions = interactions.subset(rating >= rating_threshold)
    return interactions


def _knowledge_graph(folder: Path, name: str, items: _TokenSpace) -> Optional[KnowledgeGraph]:
    """The ``.kg`` triples aligned to items through ``.link``; None without ``.kg``."""
    kg_path = folder / f"{name}.kg"
    if not kg_path.is_file():
        return None
    triples = read_typed_table(kg_path, min_rows=0)
    require_columns(triples, ["head_id", "relation_id", "tail_id"])
    link = _optional_table(folder / f"{name}.link", "item_id")
    if link is not None:
        require_columns(link, ["entity_id"])
        _reject_duplicates(link, "entity_id")
        link_items = items.index(link.column("item_id"), strict=False)
        link.first_bad(link_items < 0, "item_id", "an item of the dataset's interactions or .item file")
        link_entities = link.column("entity_id")
    else:
        link_items = np.zeros(0, dtype=np.int64)
        link_entities = pd.Series([], dtype=object)

    entities = _TokenSpace([triples.column("head_id"), triples.column("tail_id"), link_entities])
    relation_names = np.asarray(pd.unique(triples.column("relation_id")), dtype=object)
    relations = IdMap(relation_names)
    item_entity = np.full(len(items.ids), -1, dtype=np.int64)
    item_entity[link_items] = entities.index(link_entities)
    return KnowledgeGraph(
        head=entities.index(triples.column("head_id")),
        relation=relations.index(triples.column("relation_id").to_numpy(dtype=object)),
        tail=entities.index(triples.column("tail_id")),
        entity_names=entities.ids.raw.astype(str).astype(object),
        relation_names=relations.raw,
        item_entity=item_entity,
    )


def _features(table: Table, id_column: str, ids: _TokenSpace) -> pd.DataFrame:
    """Row ``i`` = the file's row for index ``i`` (NaN where it has none), id column dropped."""
    frame = table.frame.drop(columns=[id_column])
    for column, kind in table.types.items():
        if kind == "float" and column != id_column:
            frame[column] = float_column(table, column)
    frame.index = pd.Index(ids.index(table.column(id_column)), name=id_column.removesuffix("_id"))
    return frame.reindex(pd.RangeIndex(len(ids.ids), name=frame.index.name))
