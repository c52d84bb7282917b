"""Bijection between a dataset's raw ids and contiguous indices ``0..n-1``."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import pandas as pd


class IdMap:
    """Raw id <-> index map.

    ``raw[i]`` is the raw id of index ``i``; :meth:`index` is the inverse. Raw ids
    may be integers or strings; they must be unique. Lookups are vectorised
    through a :class:`pandas.Index`.
    """

    def __init__(self, raw_ids: "Sequence | np.ndarray | pd.Index") -> None:
        raw = np.asarray(raw_ids)
        if raw.ndim != 1:
            raise ValueError(f"raw ids must be one-dimensional, got shape {raw.shape}")
        index = pd.Index(raw)
        if not index.is_unique:
            duplicated = index[index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"raw ids must be unique; duplicated: {duplicated}")
        self._raw = raw
        self._raw.setflags(write=False)
        self._index = index

    @classmethod
    def range(cls, n: int) -> "IdMap":
        """The identity map over ``0..n-1`` (files whose ids already are indices)."""
        return cls(np.arange(n, dtype=np.int64))

    @property
    def raw(self) -> np.ndarray:
        """Raw ids in index order (read-only)."""
        return self._raw

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return self is other or (
            len(self) == len(other) and bool(np.all(self._index == other._index))
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self._raw[:3].tolist()))
        return f"IdMap(n={len(self)}, raw=[{head}{', ...' if len(self) > 3 else ''}])"

    def index(self, raw_ids: "Iterable | np.ndarray", *, strict: bool = True) -> np.ndarray:
        """Indices of ``raw_ids`` (int64). Unknown ids raise ``KeyError`` when
        ``strict``, else map to ``-1``."""
        positions = self._index.get_indexer(pd.Index(np.asarray(raw_ids)))
        positions = np.asarray(positions, dtype=np.int64)
        if strict and (positions < 0).any():
            unknown = np.asarray(raw_ids)[positions < 0][:5].tolist()
            raise KeyError(f"unknown raw ids: {unknown}")
        return positions

    def raw_of(self, indices: "Iterable[int] | np.ndarray") -> np.ndarray:
        """Raw ids of ``indices``."""
        return self._raw[np.asarray(indices, dtype=np.int64)]
