"""A recommendation dataset: train / valid / test interactions, an optional KG."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import pandas as pd

from .interactions import Interactions
from .knowledge_graph import KnowledgeGraph

STAT_KEYS = ("users", "items", "train", "valid", "test", "entities", "relations", "triples")


@dataclass(eq=False)
class RecDataset:
    """Everything a recommender trains and is evaluated on.

    ``train``, ``valid`` (possibly empty) and ``test`` share one id space (the
    same :class:`IdMap` objects). ``kg`` is optional; its ``item_entity`` has
    one entry per item. ``item_features`` / ``user_features`` are optional
    tables whose row ``i`` describes item / user index ``i``. ``propensity`` is
    an optional dense ``(num_users, num_items)`` matrix of exposure
    probabilities shipped by the source (Coat).
    """

    name: str
    train: Interactions
    test: Interactions
    valid: Optional[Interactions] = None
    kg: Optional[KnowledgeGraph] = None
    item_features: Optional[pd.DataFrame] = None
    user_features: Optional[pd.DataFrame] = None
    propensity: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.valid is None:
            self.valid = self.train.empty()
        for split_name in ("valid", "test"):
            split = getattr(self, split_name)
            if split.user_ids != self.train.user_ids or split.item_ids != self.train.item_ids:
                raise ValueError(f"{self.name}: {split_name} does not share train's id space")
        if self.kg is not None and self.kg.num_items != self.num_items:
            raise ValueError(
                f"{self.name}: the KG aligns {self.kg.num_items} items, the interactions have {self.num_items}"
            )
        if self.item_features is not None and len(self.item_features) != self.num_items:
            raise ValueError(f"{self.name}: item_features has {len(self.item_features)} rows for {self.num_items} items")
        if self.user_features is not None and len(self.user_features) != self.num_users:
            raise ValueError(f"{self.name}: user_features has {len(self.user_features)} rows for {self.num_users} users")
        if self.propensity is not None and self.propensity.shape != (self.num_users, self.num_items):
            raise ValueError(
                f"{self.name}: propensity has shape {self.propensity.shape}, "
                f"expected ({self.num_users}, {self.num_items})"
            )

    @property
    def num_users(self) -> int:
        return self.train.num_users

    @property
    def num_items(self) -> int:
        return self.train.num_items

    @property
    def user_ids(self):
        """Raw user id map shared by all splits."""
        return self.train.user_ids

    @property
    def item_ids(self):
        """Raw item id map shared by all splits."""
        return self.train.item_ids

    def all_interactions(self) -> Interactions:
        """train, valid and test together (in that order)."""
        return Interactions.concat([self.train, self.valid, self.test])

    def stats(self) -> Dict[str, int]:
        """``{users, items, train, valid, test, entities, relations, triples}``.

        train/valid/test count interactions; entities, relations and triples
        count what the KG source holds (no inverse relations), 0 without a KG.
        """
        kg = self.kg
        return {
            "users": self.num_users,
            "items": self.num_items,
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "entities": kg.num_entities if kg is not None else 0,
            "relations": kg.num_relations if kg is not None else 0,
            "triples": kg.num_triples if kg is not None else 0,
        }

    def __repr__(self) -> str:
        body = ", ".join(f"{key}={value:,}" for key, value in self.stats().items())
        return f"RecDataset({self.name!r}: {body})"
