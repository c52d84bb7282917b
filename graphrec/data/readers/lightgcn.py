"""LightGCN / NGCF text format: ``train.txt`` and ``test.txt``, one line per user.

Each line reads ``user item item ...``; a user alone on a line has no
interactions in that file. Ids are already indices: following LightGCN's own
loader, ``n_users = max user id + 1`` and ``n_items = max item id + 1`` over
both files, so the raw-id maps are :meth:`IdMap.range`.

Duplicate ``(user, item)`` pairs are kept as listed: the reader reports what the
file holds, so ``len(train)`` equals the pair count of ``train.txt`` (LightGCN's
``trainDataSize``). The published releases hold none (Gowalla: 810,128 pairs,
810,128 distinct); deduplicate downstream if a source of yours has them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Tuple

import numpy as np

from ..dataset import RecDataset
from ..idmap import IdMap
from ..interactions import Interactions
from ..unseen import UnseenPolicy, handle_unseen
from ._text import Adjacency, read_adjacency

TRAIN_FILE = "train.txt"
TEST_FILE = "test.txt"


def _require(path: Path, fmt: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({fmt} needs {TRAIN_FILE} and {TEST_FILE})")
    return path


def _max_or(values: np.ndarray, default: int) -> int:
    return int(values.max()) if values.size else default


def read_train_test(
    folder: "str | os.PathLike[str]", *, fmt: str = "the LightGCN format"
) -> Tuple[Interactions, Interactions, Path]:
    """``(train, test, test_path)`` from ``folder/train.txt`` and ``folder/test.txt``
    in one id space, before any unseen-interaction handling (the public readers
    call :func:`~graphrec.data.unseen.handle_unseen` themselves so that its
    warning points at their caller)."""
    folder = Path(folder)
    train_path = _require(folder / TRAIN_FILE, fmt)
    test_path = _require(folder / TEST_FILE, fmt)
    train_pairs = read_adjacency(train_path, what="user or item id")
    test_pairs = read_adjacency(test_path, what="user or item id")
    user_ids = IdMap.range(max(_max_or(p.row_user, -1) for p in (train_pairs, test_pairs)) + 1)
    item_ids = IdMap.range(max(_max_or(p.item, -1) for p in (train_pairs, test_pairs)) + 1)

    def interactions(pairs: Adjacency) -> Interactions:
        return Interactions(user=pairs.user, item=pairs.item, user_ids=user_ids, item_ids=item_ids)

    return interactions(train_pairs), interactions(test_pairs), test_path


def read_lightgcn(
    folder: "str | os.PathLike[str]", *, name: str = "lightgcn", unseen: UnseenPolicy = "keep"
) -> RecDataset:
    """A :class:`RecDataset` from a LightGCN-format folder (``train.txt``, ``test.txt``).

    ``valid`` is empty; ids are indices (``IdMap.range``); duplicate pairs are
    kept as listed; unseen test users/items follow ``unseen``
    (``"keep"`` warns, ``"drop"`` drops and warns, ``"error"`` raises).
    """
    train, test, test_path = read_train_test(folder)
    test = handle_unseen(train, test, policy=unseen, where=str(test_path))
    return RecDataset(name=name, train=train, test=test)
