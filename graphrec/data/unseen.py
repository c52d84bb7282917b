"""Reporting evaluation interactions whose user or item never occurs in training."""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from .errors import UnseenInteractionsWarning
from .interactions import Interactions

UnseenPolicy = Literal["keep", "drop", "error"]
UNSEEN_POLICIES = ("keep", "drop", "error")


def unseen_mask(train: Interactions, other: Interactions) -> np.ndarray:
    """True for each interaction of ``other`` whose user or item has no training interaction."""
    seen_users = train.user_counts() > 0
    seen_items = train.item_counts() > 0
    return ~(seen_users[other.user] & seen_items[other.item])


def handle_unseen(train: Interactions, other: Interactions, *, policy: UnseenPolicy, where: str) -> Interactions:
    """Apply ``policy`` to the interactions of ``other`` that training never saw.

    ``keep`` keeps them and warns, ``drop`` removes them and warns, ``error``
    raises ``ValueError``. The message names ``where`` (a file or split) and
    counts the interactions, users and items concerned. Nothing happens when
    there are none, so the report is never silent and never spurious.
    """
    if policy not in UNSEEN_POLICIES:
        raise ValueError(f"unseen policy must be one of {UNSEEN_POLICIES}, got {policy!r}")
    mask = unseen_mask(train, other)
    count = int(mask.sum())
    if count == 0:
        return other
    new_users = np.setdiff1d(other.user[mask], train.user)
    new_items = np.setdiff1d(other.item[mask], train.item)
    message = (
        f"{where}: {count} of {len(other)} interactions involve a user or item with no training "
        f"interaction ({len(new_users)} users, {len(new_items)} items; e.g. user raw ids "
        f"{other.user_ids.raw_of(new_users[:3]).tolist()}, item raw ids {other.item_ids.raw_of(new_items[:3]).tolist()})"
    )
    if policy == "error":
        raise ValueError(message + "; pass unseen='keep' or unseen='drop'")
    if policy == "drop":
        warnings.warn(message + "; dropped them (unseen='drop')", UnseenInteractionsWarning, stacklevel=3)
        return other.subset(~mask)
    warnings.warn(message + "; kept them (unseen='keep')", UnseenInteractionsWarning, stacklevel=3)
    return other
