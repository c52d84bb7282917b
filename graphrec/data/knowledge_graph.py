"""Knowledge-graph triples and their alignment to items."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd


@dataclass(eq=False)
class KnowledgeGraph:
    """Triples ``(head[k], relation[k], tail[k])`` over entity and relation indices.

    ``entity_names[e]`` / ``relation_names[r]`` are the source's names (integers
    as strings for id-only sources, IRIs for RDF). ``item_entity[i]`` is the
    entity index of item ``i`` or ``-1`` when the item is not linked; its length
    is the dataset's number of items. ``entity_attributes`` optionally keeps
    literal values (columns ``entity``, ``predicate``, ``value``, and for RDF
    ``datatype``, ``language``) that are not
    part of the graph. The triples are exactly what the source holds: no inverse
    relations are added here (the graph builder adds reverse edge types).
    """

    head: np.ndarray
    relation: np.ndarray
    tail: np.ndarray
    entity_names: np.ndarray
    relation_names: np.ndarray
    item_entity: np.ndarray
    entity_attributes: Optional[pd.DataFrame] = None

    def __post_init__(self) -> None:
        for name in ("head", "relation", "tail", "item_entity"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.int64))
        self.entity_names = np.asarray(self.entity_names, dtype=object)
        self.relation_names = np.asarray(self.relation_names, dtype=object)
        n = len(self.head)
        if len(self.relation) != n or len(self.tail) != n:
            raise ValueError("head, relation and tail must have one entry per triple")
        for name, values, size in (
            ("head", self.head, self.num_entities),
            ("tail", self.tail, self.num_entities),
            ("relation", self.relation, self.num_relations),
        ):
            if n and (values.min() < 0 or values.max() >= size):
                raise ValueError(f"{name} indices must lie in [0, {size}), got [{values.min()}, {values.max()}]")
        linked = self.item_entity[self.item_entity >= 0]
        if linked.size and linked.max() >= self.num_entities:
            raise ValueError(f"item_entity points past the {self.num_entities} entities")
        if len(np.unique(linked)) != len(linked):
            raise ValueError("two items are aligned to the same entity; each entity may stand for one item")

    @property
    def num_entities(self) -> int:
        return len(self.entity_names)

    @property
    def num_relations(self) -> int:
        return len(self.relation_names)

    @property
    def num_triples(self) -> int:
        return len(self.head)

    @property
    def num_items(self) -> int:
        return len(self.item_entity)

    def entity_item(self) -> np.ndarray:
        """Inverse alignment: ``entity_item()[e]`` is the item of entity ``e`` or -1."""
        inverse = np.full(self.num_entities, -1, dtype=np.int64)
        linked = np.flatnonzero(self.item_entity >= 0)
        inverse[self.item_entity[linked]] = linked
        return inverse

    def __repr__(self) -> str:
        linked = int((self.item_entity >= 0).sum())
        return (
            f"KnowledgeGraph({self.num_triples} triples, {self.num_entities} entities, "
            f"{self.num_relations} relations, {linked}/{self.num_items} items linked)"
        )
