"""Recommender models, one file each, behind the :class:`Recommender` contract.

``create_model(name, graph, **hyperparameters)`` builds one by its config name.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple, Type

from torch_geometric.data import HeteroData

from .base import Recommender

# config name -> (module, class); imported on first use
MODELS: Dict[str, Tuple[str, str]] = {
    "mf": ("mf", "MF"),
    "lightgcn": ("lightgcn", "LightGCN"),
    "ngcf": ("ngcf", "NGCF"),
    "rgcn": ("rgcn", "RGCN"),
    "kgat": ("kgat", "KGAT"),
    "kgin": ("kgin", "KGIN"),
    "pop": ("pop", "Pop"),
    "itemknn": ("itemknn", "ItemKNN"),
}


def model_class(name: str) -> Type[Recommender]:
    """The class registered under ``name``; unknown names list the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    module, cls = MODELS[name]
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def create_model(name: str, graph: HeteroData, **hyperparameters: Any) -> Recommender:
    """The model ``name`` sized for ``graph``, with the given hyper-parameters."""
    return model_class(name).from_graph(graph, **hyperparameters)


__all__ = ["MODELS", "Recommender", "create_model", "model_class"]
