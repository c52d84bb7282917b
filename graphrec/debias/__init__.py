"""Causal debiasing methods behind one interface (:class:`Debiaser`), one file each.

``create_debiaser(name, dataset, model, **args)`` builds one by its config
name (``debias`` / ``debias_args`` of an experiment config):

========  ==================================================================
``none``  no debiasing (the identity at every hook)
``ips``   inverse propensity scoring, IPS / SNIPS (:mod:`.ips`)
``macr``  model-agnostic counterfactual reasoning (:mod:`.macr`)
``pda``   popularity-deconfounded training, PD / PDA inference (:mod:`.pda`)
``dice``  disentangled interest and conformity encoders (:mod:`.dice`)
========  ==================================================================

:func:`check_arguments` validates a name and its arguments without data (at
config resolution); dataset-dependent checks (missing propensities, time
stages without timestamps) happen when the debiaser is built.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, Mapping, Optional, Tuple, Type

from ..data.dataset import RecDataset
from ..models.base import Recommender
from .base import Debiaser, PairNegativeSampler, ScoredBatch, TrainingScores, representation_dim

# config name -> (module, class); imported on first use
DEBIASERS: Dict[str, Optional[Tuple[str, str]]] = {
    "none": None,
    "ips": ("ips", "IPS"),
    "macr": ("macr", "MACR"),
    "pda": ("pda", "PDA"),
    "dice": ("dice", "DICE"),
}


def debiaser_class(name: str) -> Type[Debiaser]:
    """The class registered under ``name``; an unknown name lists the known ones."""
    if not isinstance(name, str) or name not in DEBIASERS:
        raise ValueError(f"debias: {name!r} is not one of {', '.join(DEBIASERS)}")
    entry = DEBIASERS[name]
    if entry is None:
        return Debiaser
    module, cls = entry
    return getattr(importlib.import_module(f".{module}", __name__), cls)


def _options(cls: Type[Debiaser]) -> Dict[str, Any]:
    """The keyword-only hyper-parameters of ``cls.__init__`` and their defaults."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_arguments(name: str, args: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Validate ``name`` and its ``args`` without building anything; returns the
    arguments with every default filled in. Raises ``ValueError`` naming the
    offending key and its allowed values."""
    cls = debiaser_class(name)
    args = dict(args or {})
    options = _options(cls)
    unknown = sorted(set(args) - set(options))
    if unknown:
        allowed = ", ".join(options) if options else "none (it takes no arguments)"
        raise ValueError(f"{name}: unknown argument(s) {unknown}; allowed: {allowed}")
    merged = {**options, **args}
    if options:
        cls.validate(**merged)  # type: ignore[attr-defined]
    return merged


def create_debiaser(name: str, dataset: RecDataset, model: Recommender, **args: Any) -> Debiaser:
    """The debiaser ``name`` for ``dataset`` and ``model`` with hyper-parameters ``args``.

    Every method needs a model trained by gradient descent (``model.trainable``)."""
    cls = debiaser_class(name)
    check_arguments(name, args)
    if cls is Debiaser:
        return Debiaser()
    if not getattr(model, "trainable", True):
        raise ValueError(
            f"debias: {name} changes how a model is trained, and {type(model).__name__} is fit in closed form "
            "(allowed for it: debias: none)"
        )
    return cls(dataset, model, **args)


__all__ = [
    "DEBIASERS",
    "Debiaser",
    "PairNegativeSampler",
    "ScoredBatch",
    "TrainingScores",
    "check_arguments",
    "create_debiaser",
    "debiaser_class",
    "representation_dim",
]
