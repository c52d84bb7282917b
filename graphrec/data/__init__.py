"""Datasets: the data model, readers per file format, the registry, splits,
training samplers (positives and negatives) and the synthetic world.

Names are imported lazily so that ``import graphrec.data`` stays cheap; every
name listed in ``__all__`` is importable as ``from graphrec.data import name``.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # data model
    "IdMap": "idmap",
    "Interactions": "interactions",
    "KnowledgeGraph": "knowledge_graph",
    "RecDataset": "dataset",
    "STAT_KEYS": "dataset",
    "handle_unseen": "unseen",
    "DataFormatError": "errors",
    "ChecksumError": "errors",
    "DatasetNotFoundError": "errors",
    "StatisticsMismatchError": "errors",
    "UnseenInteractionsWarning": "errors",
    # readers
    "read_lightgcn": "readers.lightgcn",
    "read_kgat": "readers.kgat",
    "read_kgcn": "readers.kgcn",
    "read_recbole": "readers.recbole",
    "read_rdf": "readers.rdf",
    "read_coat": "readers.coat",
    "from_pandas": "readers.tabular",
    # registry
    "load": "registry",
    "DatasetSpec": "registry",
    "RemoteFile": "registry",
    "registered_datasets": "registry",
    "get_spec": "registry",
    "register": "registry",
    # splits, filters, samplers
    "random_split": "split",
    "temporal_split": "split",
    "leave_one_out_split": "split",
    "split_dataset": "split",
    "with_validation": "split",
    "kcore": "filter",
    "intervened_split": "intervene",
    "UserUniformPairSampler": "sampling",
    "UniformNegativeSampler": "sampling",
    "PopularityNegativeSampler": "sampling",
    # synthetic world
    "synthetic": "synthetic_world",
    "SyntheticWorld": "synthetic_world",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphrec.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__
