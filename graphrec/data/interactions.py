"""User-item interactions in one contiguous id space."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd
import torch

from .idmap import IdMap


def _as_int64(name: str, values: "np.ndarray | list") -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


@dataclass(eq=False)
class Interactions:
    """A list of (user, item) interactions.

    ``user[k]`` and ``item[k]`` are int64 indices into ``user_ids`` and ``item_ids``,
    the raw-id maps that train, valid and test of one dataset share. ``rating``
    (float32) and ``timestamp`` (int64 or float64 seconds) are optional and, when
    present, have one entry per interaction.
    """

    user: np.ndarray
    item: np.ndarray
    user_ids: IdMap
    item_ids: IdMap
    rating: Optional[np.ndarray] = None
    timestamp: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.user = _as_int64("user", self.user)
        self.item = _as_int64("item", self.item)
        n = len(self.user)
        if len(self.item) != n:
            raise ValueError(f"user and item differ in length: {n} vs {len(self.item)}")
        if self.rating is not None:
            self.rating = np.ascontiguousarray(self.rating, dtype=np.float32)
            if len(self.rating) != n:
                raise ValueError(f"rating has {len(self.rating)} entries for {n} interactions")
        if self.timestamp is not None:
            self.timestamp = np.ascontiguousarray(self.timestamp)
            if len(self.timestamp) != n:
                raise ValueError(f"timestamp has {len(self.timestamp)} entries for {n} interactions")
        for name, values, size in (("user", self.user, len(self.user_ids)), ("item", self.item, len(self.item_ids))):
            if n and (values.min() < 0 or values.max() >= size):
                raise ValueError(f"{name} indices must lie in [0, {size}), got [{values.min()}, {values.max()}]")

    # -- sizes ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.user)

    @property
    def num_users(self) -> int:
        """Users in the id space (not only those that occur here)."""
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        """Items in the id space (not only those that occur here)."""
        return len(self.item_ids)

    def __repr__(self) -> str:
        extras = "".join(f", {name}" for name in ("rating", "timestamp") if getattr(self, name) is not None)
        return f"Interactions({len(self)} of {self.num_users} users x {self.num_items} items{extras})"

    # -- derived views -------------------------------------------------------
    def subset(self, selection: "np.ndarray | slice") -> "Interactions":
        """The interactions picked by a boolean mask or an index array, same id space."""
        return Interactions(
            user=self.user[selection],
            item=self.item[selection],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            rating=None if self.rating is None else self.rating[selection],
            timestamp=None if self.timestamp is None else self.timestamp[selection],
        )

    def empty(self) -> "Interactions":
        """No interactions, same id space and columns."""
        return self.subset(np.zeros(0, dtype=np.int64))

    @staticmethod
    def concat(parts: "list[Interactions]") -> "Interactions":
        """Interactions of several parts that share one id space, in order."""
        if not parts:
            raise ValueError("concat needs at least one Interactions")
        first = parts[0]
        for part in parts[1:]:
            if part.user_ids != first.user_ids or part.item_ids != first.item_ids:
                raise ValueError("concat needs parts that share one id space")

        def column(name: str) -> Optional[np.ndarray]:
            values = [getattr(p, name) for p in parts]
            if any(v is None for v in values):
                return None
            return np.concatenate(values)

        return Interactions(
            user=np.concatenate([p.user for p in parts]),
            item=np.concatenate([p.item for p in parts]),
            user_ids=first.user_ids,
            item_ids=first.item_ids,
            rating=column("rating"),
            timestamp=column("timestamp"),
        )

    def edge_index(self) -> torch.Tensor:
        """``[2, n]`` LongTensor of (user, item) pairs, PyG's edge layout."""
        return torch.from_numpy(np.stack([self.user, self.item]))

    def pair_keys(self) -> np.ndarray:
        """``user * num_items + item``: one int64 per pair, for set operations."""
        return self.user * np.int64(self.num_items) + self.item

    def user_counts(self) -> np.ndarray:
        """Interactions per user index (length ``num_users``)."""
        return np.bincount(self.user, minlength=self.num_users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item index (length ``num_items``)."""
        return np.bincount(self.item, minlength=self.num_items)

    def to_pandas(self, raw_ids: bool = False) -> pd.DataFrame:
        """A table with columns ``user, item`` (+ ``rating``, ``timestamp``);
        indices, or the dataset's raw ids when ``raw_ids``."""
        frame = pd.DataFrame(
            {
                "user": self.user_ids.raw_of(self.user) if raw_ids else self.user,
                "item": self.item_ids.raw_of(self.item) if raw_ids else self.item,
            }
        )
        if self.rating is not None:
            frame["rating"] = self.rating
        if self.timestamp is not None:
            frame["timestamp"] = self.timestamp
        return frame
