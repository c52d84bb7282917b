"""Seeds, deterministic mode and random-number-generator state for exact resume.

Every random draw of a training run comes from one of these sources:

- Python's :mod:`random` and NumPy's global generator (data helpers);
- torch's default CPU generator and one default generator per CUDA device
  (parameter initialisation, dropout);
- the trainer's own :class:`torch.Generator` on the training device
  (permutations, negatives, models' auxiliary samples).

:func:`seed_everything` seeds the global ones; :func:`rng_state` /
:func:`set_rng_state` capture and restore all of them so that a resumed run
draws exactly what an uninterrupted one would. The state is made of plain
Python values and CPU tensors, so ``torch.load(..., weights_only=True)`` reads it.

Deterministic mode (:func:`set_deterministic`) makes PyTorch pick
deterministic kernels or raise where none exists
(``torch.use_deterministic_algorithms``), turns off cuDNN autotuning, and sets
``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS needs for reproducible
matrix products on CUDA >= 10.2. cuBLAS reads that variable when it creates its
handle, i.e. at the first CUDA matrix product of the process: enable the mode
before any CUDA work (the trainer does so in its constructor). The mode is
process-wide, as PyTorch's switch is; bit-identical results still need the same
hardware, library versions and world size.
"""
from __future__ import annotations

import os
import random
from typing import Any, Dict, Optional

import numpy as np
import torch

__all__ = ["seed_everything", "set_deterministic", "rng_state", "set_rng_state", "CUBLAS_WORKSPACE_CONFIG"]

CUBLAS_WORKSPACE_CONFIG = ":4096:8"


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # NumPy's legacy seed must fit in 32 bits
    torch.manual_seed(seed)  # also seeds every CUDA device (lazily when CUDA starts later)


def set_deterministic(enabled: bool = True) -> None:
    """Switch PyTorch's deterministic mode on (or off) for this process; see the module docstring."""
    if enabled:
        # setdefault: a user's own (equally valid) ":16:8" is kept
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    if enabled:
        torch.backends.cudnn.benchmark = False  # autotuning may pick a different kernel per run


def rng_state(generator: Optional[torch.Generator] = None) -> Dict[str, Any]:
    """Every generator's state: ``python``, ``numpy``, ``torch``, ``cuda`` (one per device, when
    CUDA is initialised) and ``generator`` (``generator``'s, when given)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state: Dict[str, Any] = {
        "python": random.getstate(),
        # as a tensor, not an ndarray, so that weights_only loading accepts it
        "numpy": (
            kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(position), int(has_gauss), float(cached_gaussian)
        ),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
    }
    if generator is not None:
        state["generator"] = generator.get_state()
    return state


def set_rng_state(state: Dict[str, Any], generator: Optional[torch.Generator] = None) -> None:
    """Restore what :func:`rng_state` captured (``generator`` gets the ``generator`` entry).

    CUDA states are restored when this process sees as many devices as were
    saved; otherwise they are skipped (resuming a GPU run on another machine
    changes only dropout draws, never the trainer's own generator).
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda_states):
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"].cpu())
