"""Coat shopping (Schnabel et al., ICML 2016): dense rating matrices.

Files of a folder (``R[u, i]`` is user ``u``'s rating of item ``i``, 0 = unobserved):

* ``train.ascii``: ratings of items users chose to rate (self-selected, MNAR);
* ``test.ascii``: ratings of items shown at random (MAR), same shape;
* ``propensities.ascii`` (optional): the authors' estimated ``P(observed)`` per
  cell, same shape, floats in ``(0, 1]``;
* ``user_item_features/{user,item}_features.ascii`` (optional): one-hot rows,
  column names one per line in ``{user,item}_features_map.txt``.

Raw ids are row / column numbers (``IdMap.range``). An interaction is kept when
``R[u, i] > 0`` and ``R[u, i] >= threshold`` (every observed rating when
``threshold`` is None); its ``rating`` column holds ``R[u, i]``. Interactions
are in row-major order (user, then item).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import pandas as pd

from ..dataset import RecDataset
from ..errors import DataFormatError
from ..idmap import IdMap
from ..interactions import Interactions
from ..unseen import UnseenPolicy, handle_unseen
from ._text import Rows, read_float_rows, read_int_rows

TRAIN_FILE = "train.ascii"
TEST_FILE = "test.ascii"
PROPENSITY_FILE = "propensities.ascii"
FEATURE_FOLDER = "user_item_features"
MAX_RATING = 5


def _check_rows(path: Path, rows: Rows, expected_rows: int, what: str) -> None:
    if len(rows.values) != expected_rows:
        raise DataFormatError(path, f"{expected_rows} rows ({what})", found=f"{len(rows.values)} rows")


def _ratings(path: Path, shape: Optional[Tuple[int, int]]) -> Rows:
    """A dense rating matrix with values in ``0..MAX_RATING``; ``shape`` when given."""
    rows = read_int_rows(path, None if shape is None else shape[1], layout="one rating per item", what="rating")
    if shape is not None:
        _check_rows(path, rows, shape[0], f"one per user, as in {TRAIN_FILE}")
    outside = np.argwhere(rows.values > MAX_RATING)
    if outside.size:
        row, column = outside[0]
        raise DataFormatError(
            path,
            f"ratings 0..{MAX_RATING} (0 = unobserved)",
            line=int(rows.line[row]),
            found=f"{rows.values[row, column]} in column {column + 1}",
        )
    return rows


def _propensity(path: Path, shape: Tuple[int, int]) -> np.ndarray:
    rows = read_float_rows(path, shape[1], layout="one propensity per item")
    _check_rows(path, rows, shape[0], "one per user")
    outside = np.argwhere(~((rows.values > 0) & (rows.values <= 1)))
    if outside.size:
        row, column = outside[0]
        raise DataFormatError(
            path,
            "propensities in (0, 1]",
            line=int(rows.line[row]),
            found=f"{rows.values[row, column]} in column {column + 1}",
        )
    return rows.values


def _features(folder: Path, kind: str, count: int) -> Optional[pd.DataFrame]:
    """``{kind}_features.ascii`` as a ``count``-row table named by ``{kind}_features_map.txt``."""
    values_path = folder / FEATURE_FOLDER / f"{kind}_features.ascii"
    names_path = folder / FEATURE_FOLDER / f"{kind}_features_map.txt"
    if not values_path.is_file():
        return None
    if not names_path.is_file():
        raise FileNotFoundError(f"{names_path}: no such file (it names the columns of {values_path})")
    names = [line.strip() for line in names_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = read_int_rows(values_path, len(names), layout=f"one per name in {names_path.name}", what="feature value")
    _check_rows(values_path, rows, count, f"one per {kind}")
    return pd.DataFrame(rows.values, columns=pd.Index(names, name=f"{kind}_feature"))


def _interactions(
    ratings: np.ndarray, threshold: Optional[float], user_ids: IdMap, item_ids: IdMap
) -> Interactions:
    kept = ratings > 0
    if threshold is not None:
        kept &= ratings >= threshold
    user, item = np.nonzero(kept)
    return Interactions(user=user, item=item, user_ids=user_ids, item_ids=item_ids, rating=ratings[user, item])


def read_coat(
    folder: "str | os.PathLike[str]",
    *,
    threshold: Optional[float] = 4,
    name: str = "coat",
    unseen: UnseenPolicy = "keep",
) -> RecDataset:
    """A :class:`RecDataset` from the Coat folder.

    train = ``train.ascii`` (MNAR), test = ``test.ascii`` (MAR), valid empty.
    Positives are ratings ``>= threshold`` (all observed ratings when None).
    ``propensity``, ``user_features`` and ``item_features`` are filled when
    their files exist. Unseen test users/items follow ``unseen``.
    """
    folder = Path(folder)
    for required in (TRAIN_FILE, TEST_FILE):
        if not (folder / required).is_file():
            raise FileNotFoundError(f"{folder / required}: no such file (Coat needs {TRAIN_FILE} and {TEST_FILE})")
    train_ratings = _ratings(folder / TRAIN_FILE, None).values
    test_ratings = _ratings(folder / TEST_FILE, train_ratings.shape).values
    n_users, n_items = train_ratings.shape
    user_ids, item_ids = IdMap.range(n_users), IdMap.range(n_items)

    train = _interactions(train_ratings, threshold, user_ids, item_ids)
    test = handle_unseen(
        train, _interactions(test_ratings, threshold, user_ids, item_ids), policy=unseen, where=str(folder / TEST_FILE)
    )
    propensity_path = folder / PROPENSITY_FILE
    return RecDataset(
        name=name,
        train=train,
        test=test,
        propensity=_propensity(propensity_path, (n_users, n_items)) if propensity_path.is_file() else None,
        user_features=_features(folder, "user", n_users),
        item_features=_features(folder, "item", n_items),
    )
