"""Experiment configuration: YAML files and ``--set key=value`` overrides.

Configuration lives here, at the edge; library functions take explicit
arguments. :func:`resolve_config` merges a user's config over
:data:`DEFAULTS`, refuses unknown keys (naming the key and the allowed ones) and
checks the values that would otherwise fail deep inside a run.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import yaml

PathLike = "str | os.PathLike[str]"

#: every key a config may hold, with its default (``eval`` is a nested block)
DEFAULTS: Dict[str, Any] = {
    "dataset": "synthetic",  # a registry name (graphrec datasets) or "synthetic"
    "dataset_args": {},  # keyword arguments of graphrec.data.load / graphrec.data.synthetic
    "split": None,  # e.g. {method: random, ratios: [0.8, 0.1, 0.1], seed: 0}; None keeps the dataset's split
    "model": "lightgcn",
    "model_args": {},
    "loss": "bpr",
    "num_negatives": 1,
    "positive_sampling": "interactions",  # or "users": user-first draws, as LightGCN's / NGCF's official code
    "negative_sampling": "uniform",
    "epochs": 1000,
    "batch_size": 2048,
    "lr": 0.001,
    "weight_decay": 1e-4,
    "seed": 2020,
    "device": "auto",
    "deterministic": False,
    "amp": False,
    "eval": {"ks": [20], "every": 1, "metric": "ndcg@20", "patience": None, "batch_size": 2048},
    "debias": None,
    "debias_args": {},
}

CHOICES: Dict[str, tuple] = {
    "model": ("mf", "lightgcn", "ngcf", "rgcn", "kgat", "kgin", "pop", "itemknn"),
    "loss": ("bpr", "bce", "softmax"),
    "positive_sampling": ("interactions", "users"),
    "negative_sampling": ("uniform", "popularity"),
    "device": ("auto", "cpu", "cuda"),
}
SPLIT_METHODS = ("random", "temporal", "leave_one_out")


class ConfigError(ValueError):
    """A config names an unknown key or holds an impossible value."""


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``1e-4`` is a number.

    PyYAML follows YAML 1.1, whose float needs a dot, and reads ``lr: 1e-3``
    (or ``--set weight_decay=1e-4``) as the *string* ``"1e-3"``, which then fails
    the number check far from where it was typed."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader: no arbitrary objects


def load_config(path: "str | os.PathLike[str]") -> Dict[str, Any]:
    """The mapping in a YAML file; syntax errors name the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    try:
        config = _load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: expected valid YAML, found {getattr(error, 'problem', error)}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(config).__name__}")
    return config


def apply_overrides(config: Mapping[str, Any], overrides: Iterable[str]) -> Dict[str, Any]:
    """``config`` with each ``key=value`` applied; ``a.b=v`` sets a nested key and
    values are parsed as YAML (``lr=1e-3``, ``eval.ks=[10,20]``, ``debias=null``)."""
    result = copy.deepcopy(dict(config))
    for override in overrides:
        key, sep, raw_value = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {override!r}")
        try:
            value = _load_yaml(raw_value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {override!r}: the value is not valid YAML") from None
        parts = key.strip().split(".")
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {override!r}: {part!r} is not a mapping")
            node = child
        node[parts[-1]] = value
    return result


def resolve_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """``config`` merged over :data:`DEFAULTS` and validated; the result is what a run records."""
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; allowed keys: {', '.join(DEFAULTS)}")
    resolved = copy.deepcopy(DEFAULTS)
    for key, value in config.items():
        if key == "eval":
            value = value or {}
            if not isinstance(value, dict):
                raise ConfigError(f"eval must be a mapping with keys {', '.join(DEFAULTS['eval'])}")
            unknown_eval = sorted(set(value) - set(DEFAULTS["eval"]))
            if unknown_eval:
                raise ConfigError(f"unknown eval key(s) {unknown_eval}; allowed: {', '.join(DEFAULTS['eval'])}")
            resolved["eval"].update(value)
        else:
            resolved[key] = copy.deepcopy(value)
    for key in ("dataset_args", "model_args", "debias_args"):
        if resolved[key] is None:
            resolved[key] = {}
        if not isinstance(resolved[key], dict):
            raise ConfigError(f"{key} must be a mapping, got {resolved[key]!r}")
    for key, allowed in CHOICES.items():
        if resolved[key] not in allowed:
            raise ConfigError(f"{key}: {resolved[key]!r} is not one of {', '.join(allowed)}")
    _check_debias(resolved)
    for key in ("epochs", "batch_size", "num_negatives", "seed"):
        value = resolved[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key in ("epochs", "seed") else 1):
            raise ConfigError(f"{key} must be a {'non-negative' if key in ('epochs', 'seed') else 'positive'} integer, got {value!r}")
    for key in ("lr", "weight_decay"):
        value = resolved[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (key == "lr" and value == 0):
            raise ConfigError(f"{key} must be a {'positive' if key == 'lr' else 'non-negative'} number, got {value!r}")
    split = resolved["split"]
    if split is not None:
        if not isinstance(split, dict) or split.get("method") not in SPLIT_METHODS:
            raise ConfigError(f"split must be null or a mapping with method one of {', '.join(SPLIT_METHODS)}, got {split!r}")
        unknown_split = sorted(set(split) - {"method", "ratios", "seed"})
        if unknown_split:
            raise ConfigError(f"unknown split key(s) {unknown_split}; allowed: method, ratios, seed")
    ks = resolved["eval"]["ks"]
    if isinstance(ks, int):
        ks = resolved["eval"]["ks"] = [ks]
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in ks):
        raise ConfigError(f"eval.ks must be a list of positive integers, got {ks!r}")
    metric = resolved["eval"]["metric"]
    name, _, k = str(metric).partition("@")
    if name not in ("recall", "ndcg", "precision", "hit", "mrr", "map") or not k.isdigit() or int(k) not in ks:
        raise ConfigError(
            f"eval.metric must be <recall|ndcg|precision|hit|mrr|map>@K with K in eval.ks {ks}, got {metric!r}"
        )
    return resolved


def _check_debias(resolved: Dict[str, Any]) -> None:
    """``debias`` names a method of :mod:`graphrec.debias` (or is null) and ``debias_args``
    holds only its arguments, with possible values; checks that need the dataset
    (e.g. ``propensity: dataset``) run when the run is built."""
    name, arguments = resolved["debias"], resolved["debias_args"]
    if name is None:
        if arguments:
            raise ConfigError(f"debias_args {arguments!r} is given but debias is null; name a debias method")
        return
    from .debias import DEBIASERS, check_arguments

    if not isinstance(name, str) or name not in DEBIASERS:
        raise ConfigError(f"debias: {name!r} is not one of {', '.join(DEBIASERS)} (or null)")
    try:
        check_arguments(name, arguments)
    except ValueError as error:
        raise ConfigError(f"debias_args: {error}") from None


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a resolved config, keys in :data:`DEFAULTS` order."""
    ordered = {key: config[key] for key in DEFAULTS if key in config}
    return yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None)


def config_from_file(path: Optional["str | os.PathLike[str]"], overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Load (or start empty), apply ``--set`` overrides, resolve."""
    raw = load_config(path) if path is not None else {}
    return resolve_config(apply_overrides(raw, overrides))
