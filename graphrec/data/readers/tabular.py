"""Interaction tables -> RecDataset: :func:`from_pandas`, and the split step the
file readers share."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from ..dataset import RecDataset
from ..idmap import IdMap
from ..interactions import Interactions
from ..unseen import UNSEEN_POLICIES, UnseenPolicy, handle_unseen
from ._tables import sorted_unique, timestamp_values

__all__ = ["from_pandas"]


def from_pandas(
    df: pd.DataFrame,
    user: str = "user",
    item: str = "item",
    rating: Optional[str] = None,
    timestamp: Optional[str] = None,
    *,
    name: str = "dataframe",
    rating_threshold: Optional[float] = None,
) -> RecDataset:
    """A dataset from any table of interactions, all of it in ``train``.

    The raw ids are the values of the ``user`` and ``item`` columns, as they
    are; index ``i`` is the ``i``-th smallest distinct raw id (numeric order for
    numbers, code-point order for strings), so the same table always gives the
    same ids. The id space is built from every row, before ``rating_threshold``
    keeps the rows with ``rating >= rating_threshold``, so a threshold never
    changes which index a raw id has. ``valid`` and ``test`` are empty: split
    with :func:`graphrec.data.split_dataset` afterwards.

    Raises ``ValueError`` for a missing column, and naming the row (its index
    label) for a missing user or item, or a rating / timestamp that is missing
    or not a number.
    """
    wanted = {"user": user, "item": item, "rating": rating, "timestamp": timestamp}
    missing = [column for column in wanted.values() if column is not None and column not in df.columns]
    if missing:
        raise ValueError(f"{name}: no column(s) {missing} in the table; it has {list(df.columns)}")
    if rating_threshold is not None and rating is None:
        raise ValueError(f"{name}: rating_threshold needs a rating column")

    for role in ("user", "item"):
        _reject_rows(df, df[wanted[role]].isna().to_numpy(), name, f"a missing {role} ({wanted[role]!r})")
    users = df[user].to_numpy()
    items = df[item].to_numpy()
    user_ids = IdMap(sorted_unique(users))
    item_ids = IdMap(sorted_unique(items))

    ratings = None if rating is None else _numeric(df, rating, name)
    times = None if timestamp is None else timestamp_values(_numeric(df, timestamp, name))
    interactions = Interactions(
        user=user_ids.index(users),
        item=item_ids.index(items),
        user_ids=user_ids,
        item_ids=item_ids,
        rating=ratings,
        timestamp=times,
    )
    if rating_threshold is not None:
        interactions = interactions.subset(ratings >= rating_threshold)
    return RecDataset(name=name, train=interactions, test=interactions.empty())


def _reject_rows(df: pd.DataFrame, bad: np.ndarray, name: str, what: str) -> None:
    if bad.any():
        positions = np.flatnonzero(bad)
        labels = df.index[positions[:5]].tolist()
        raise ValueError(
            f"{name}: row {labels[0]!r} (position {positions[0]}) has {what}; "
            f"{len(positions)} row(s) in all, index labels {labels}{' ...' if len(positions) > 5 else ''}"
        )


def _numeric(df: pd.DataFrame, column: str, name: str) -> np.ndarray:
    """Column as float64; a missing or non-numeric value is an error naming its row."""
    values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    _reject_rows(df, ~np.isfinite(values), name, f"a missing or non-numeric value in column {column!r}")
    return values


def split_into_dataset(
    name: str,
    interactions: Interactions,
    *,
    ratios: Optional[Sequence[float]],
    seed: int,
    unseen: UnseenPolicy,
    **extras: Any,
) -> RecDataset:
    """Split ``interactions`` per user and build the dataset (``extras``: kg, features).

    ``ratios`` is ``(train, test)`` or ``(train, valid, test)``, cut by
    :func:`graphrec.data.split.random_split` with ``seed``; ``None`` puts
    everything in train.
    """
    if ratios is None:
        parts: tuple = (interactions,)
    else:
        if len(ratios) not in (2, 3):
            raise ValueError(f"ratios must be (train, test) or (train, valid, test), got {tuple(ratios)}")
        from ..split import random_split

        parts = random_split(interactions, ratios, seed=seed)
    train = parts[0]
    valid = parts[1] if len(parts) == 3 else train.empty()
    test = parts[-1] if len(parts) > 1 else train.empty()
    return dataset_from_splits(name, train, valid, test, unseen=unseen, **extras)


def dataset_from_splits(
    name: str,
    train: Interactions,
    valid: Interactions,
    test: Interactions,
    *,
    unseen: UnseenPolicy,
    where: Optional[dict] = None,
    **extras: Any,
) -> RecDataset:
    """A dataset from given splits, after :func:`graphrec.data.unseen.handle_unseen`
    has reported (and, per ``unseen``, kept, dropped or refused) the valid and
    test interactions whose user or item has no training interaction.
    ``where`` names each split in that report (default ``"<name> valid split"``)."""
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"unseen must be one of {UNSEEN_POLICIES}, got {unseen!r}")
    where = {"valid": f"{name} valid split", "test": f"{name} test split", **(where or {})}
    valid = handle_unseen(train, valid, policy=unseen, where=where["valid"])
    test = handle_unseen(train, test, policy=unseen, where=where["test"])
    return RecDataset(name=name, train=train, valid=valid, test=test, **extras)
