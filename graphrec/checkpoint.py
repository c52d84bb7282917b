"""Atomic training checkpoints and the check that one belongs to the current run.

A checkpoint is one ``torch.save`` of a dictionary written through
:mod:`graphrec.atomic` (a staging file next to the destination, fsync, one
rename), so the file on disk is always a complete checkpoint: the previous one
or the new one, never half of each. It holds only tensors and plain Python
values and is read with ``torch.load(..., weights_only=True)``, which executes
no code from the file.

The trainer stores (see :class:`graphrec.train.Trainer`)::

    format, config, epoch, model, debias, optimizer, best, best_metric,
    best_epoch, bad_evaluations, stopped, history, train_seconds, rng

``config`` is the run's fingerprint (model and debiaser description,
parameter shapes, dataset statistics, the trainer's hyper-parameters that
change the trajectory). :func:`check_config` refuses to resume a checkpoint
whose fingerprint differs from the current run's.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Mapping, Union

import torch

from .atomic import publish, staging_file

__all__ = ["CHECKPOINT_FORMAT", "CheckpointMismatchError", "save_checkpoint", "load_checkpoint", "check_config"]

CHECKPOINT_FORMAT = 1

PathLike = Union[str, Path]


class CheckpointMismatchError(ValueError):
    """A checkpoint was written by a run with a different configuration."""


def save_checkpoint(path: PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (plus ``format``) to ``path`` atomically; returns the path."""
    path = Path(path)
    with staging_file(path) as handle:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, handle)
        publish(handle, path)
    return path


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device, None] = "cpu") -> Dict[str, Any]:
    """The dictionary saved by :func:`save_checkpoint` (tensors on ``map_location``)."""
    path = Path(path)
    state = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not a graphrec checkpoint of format {CHECKPOINT_FORMAT} (found {found!r})")
    return state


def _differences(saved: Any, current: Any, prefix: str = "") -> list:
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        lines = []
        for key in sorted(set(saved) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved:
                lines.append(f"  {name}: absent in the checkpoint, {current[key]!r} in this run")
            elif key not in current:
                lines.append(f"  {name}: {saved[key]!r} in the checkpoint, absent in this run")
            else:
                lines.extend(_differences(saved[key], current[key], name))
        return lines
    if saved != current:
        return [f"  {prefix}: {saved!r} in the checkpoint, {current!r} in this run"]
    return []


def check_config(saved: Mapping[str, Any], current: Mapping[str, Any], path: PathLike) -> None:
    """Raise :class:`CheckpointMismatchError` listing every entry where the checkpoint's
    ``config`` and the current run's differ (nested mappings compared key by key)."""
    lines = _differences(saved, current)
    if lines:
        raise CheckpointMismatchError(
            f"the checkpoint {path} was written by a different run, so it cannot be resumed:\n"
            + "\n".join(lines)
            + "\nuse another run directory, or delete the checkpoint to start afresh"
        )
