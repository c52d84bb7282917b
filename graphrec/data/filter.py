"""k-core filtering of interactions."""
from __future__ import annotations

import numpy as np

from .idmap import IdMap
from .interactions import Interactions

__all__ = ["kcore"]


def kcore(interactions: Interactions, *, user_k: int, item_k: int) -> Interactions:
    """The largest subset in which every user has ``>= user_k`` and every item ``>= item_k`` interactions.

    Rows of users (items) with too few interactions are removed repeatedly
    until nothing changes; removing rows only lowers counts, so the fixed point
    reached is the unique maximal (user_k, item_k)-core. Interactions are
    counted as rows (a repeated (user, item) pair counts twice).

    The result is re-indexed into new compact :class:`IdMap` s holding exactly
    the users and items that remain, in their old index order and with their
    raw ids; the kept rows stay in input order with their rating and timestamp.
    """
    for name, k in (("user_k", user_k), ("item_k", item_k)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {k!r}")
    user, item = interactions.user, interactions.item
    keep = np.ones(len(interactions), dtype=bool)
    # Each pass is vectorised; the number of passes depends on the data (a
    # removal can push other users / items below their threshold).
    while True:
        user_counts = np.bincount(user[keep], minlength=interactions.num_users)
        item_counts = np.bincount(item[keep], minlength=interactions.num_items)
        still = keep & (user_counts[user] >= user_k) & (item_counts[item] >= item_k)
        if np.array_equal(still, keep):
            break
        keep = still

    kept = interactions.subset(keep)
    users = np.unique(kept.user)
    items = np.unique(kept.item)
    new_user = np.full(interactions.num_users, -1, dtype=np.int64)
    new_user[users] = np.arange(len(users), dtype=np.int64)
    new_item = np.full(interactions.num_items, -1, dtype=np.int64)
    new_item[items] = np.arange(len(items), dtype=np.int64)
    return Interactions(
        user=new_user[kept.user],
        item=new_item[kept.item],
        user_ids=IdMap(interactions.user_ids.raw_of(users)),
        item_ids=IdMap(interactions.item_ids.raw_of(items)),
        rating=kept.rating,
        timestamp=kept.timestamp,
    )
