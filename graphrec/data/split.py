"""Per-user train / valid / test splits of interactions.

Every split works user by user: a user's interactions are put in an order
(random, by time, ...) and cut into consecutive parts, the first part going to
train. Grouping is done with one stable sort over all rows, never a loop over
users. Each returned part keeps its rows in their input order, so the parts are
a partition of the input's row positions.

Count rule (:func:`random_split`, :func:`temporal_split`): with ratios
``r_1..r_K`` normalised by their sum ``s`` and cumulative sums
``c_j = r_1/s + ... + r_j/s`` (floating point, in that order), a user with
``n`` interactions gets the cut points

    b_0 = 0,  b_j = max(floor(n * c_j + 1/2), min(n, 1)) for 0 < j < K,  b_K = n

and part ``j`` receives the interactions of ranks ``b_{j-1} .. b_j - 1``. The
sizes sum to ``n`` and every user with an interaction keeps at least one in the
first part (train).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Literal, Optional, Sequence, Tuple

import numpy as np

from .dataset import RecDataset
from .interactions import Interactions

__all__ = ["random_split", "temporal_split", "leave_one_out_split", "split_dataset", "with_validation"]


def _cumulative_ratios(ratios: Sequence[float]) -> np.ndarray:
    """``c_1..c_K`` of the module's count rule; ratios must be finite and positive."""
    values = [float(r) for r in ratios]
    if not values:
        raise ValueError("ratios must hold at least one value")
    if not all(math.isfinite(r) and r > 0 for r in values):
        raise ValueError(f"ratios must be finite and positive, got {list(ratios)}")
    total = math.fsum(values)
    # Python floats, accumulated left to right, so the rule is reproducible by hand.
    return np.array(list(itertools.accumulate(r / total for r in values)), dtype=np.float64)


def _ratio_boundaries(counts: np.ndarray, ratios: Sequence[float]) -> np.ndarray:
    """``(num_users, K + 1)`` cut points ``b_0..b_K`` of the count rule."""
    cumulative = _cumulative_ratios(ratios)
    n = counts.astype(np.int64)[:, None]
    inner = np.floor(n * cumulative[None, :-1] + 0.5).astype(np.int64)
    inner = np.maximum(inner, np.minimum(n, 1))  # train keeps >= 1 per user
    return np.concatenate([np.zeros_like(n), inner, n], axis=1)


def _cut(interactions: Interactions, order: np.ndarray, boundaries: np.ndarray) -> Tuple[Interactions, ...]:
    """Cut each user's rows, taken in ``order``, at ``boundaries``.

    ``order`` lists all row positions grouped by ascending user; within a user,
    ranks ``b_{j-1} .. b_j - 1`` (row ``u`` of ``boundaries``) go to part ``j``.
    """
    counts = interactions.user_counts()
    starts = np.cumsum(counts) - counts
    sorted_user = interactions.user[order]
    rank = np.arange(len(order), dtype=np.int64) - starts[sorted_user]
    user_bounds = boundaries[sorted_user]
    # part = number of inner cut points at or below the rank.
    part_sorted = (rank[:, None] >= user_bounds[:, 1:-1]).sum(axis=1)
    part = np.empty(len(order), dtype=np.int64)
    part[order] = part_sorted
    num_parts = boundaries.shape[1] - 1
    return tuple(interactions.subset(np.flatnonzero(part == j)) for j in range(num_parts))


def _random_order(interactions: Interactions, rng: np.random.Generator) -> np.ndarray:
    """Row positions grouped by user, in a uniformly random order within each user."""
    permutation = rng.permutation(len(interactions))
    return permutation[np.argsort(interactions.user[permutation], kind="stable")]


def _time_order(interactions: Interactions, what: str) -> np.ndarray:
    """Row positions grouped by user, earliest first, ties in input order."""
    timestamp = interactions.timestamp
    if timestamp is None:
        raise ValueError(f"{what} needs timestamps, and these interactions have none")
    if np.issubdtype(timestamp.dtype, np.floating) and np.isnan(timestamp).any():
        raise ValueError(f"{what} needs a timestamp on every interaction; {int(np.isnan(timestamp).sum())} are NaN")
    positions = np.arange(len(interactions), dtype=np.int64)
    # lexsort: last key is the primary one; the position key makes ties explicit.
    return np.lexsort((positions, timestamp, interactions.user))


def _generator(seed: Optional[int]) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def random_split(interactions: Interactions, ratios: Sequence[float], *, seed: int) -> Tuple[Interactions, ...]:
    """Split each user's interactions at random into ``len(ratios)`` parts.

    Part sizes follow the module's count rule: ratios are normalised by their
    sum (``(8, 1, 1)`` means ``(0.8, 0.1, 0.1)``) and must be positive; a user
    with ``n`` interactions gets ``b_j - b_{j-1}`` of them in part ``j`` with
    ``b_j = max(floor(n * c_j + 1/2), min(n, 1))``, so the sizes sum to ``n``
    and train keeps at least one. Which interactions go where is a uniformly
    random per-user permutation drawn from ``Generator(PCG64(seed))``.
    Ratings and timestamps follow their rows; all parts share the input's id
    space.
    """
    order = _random_order(interactions, _generator(seed))
    return _cut(interactions, order, _ratio_boundaries(interactions.user_counts(), ratios))


def temporal_split(interactions: Interactions, ratios: Sequence[float]) -> Tuple[Interactions, ...]:
    """Split each user's interactions by time: the earliest go to the first part.

    Same count rule as :func:`random_split`; a user's interactions are ranked
    by timestamp, equal timestamps in input order. Raises ``ValueError`` when
    there are no timestamps (or some are NaN).
    """
    order = _time_order(interactions, "temporal_split")
    return _cut(interactions, order, _ratio_boundaries(interactions.user_counts(), ratios))


def leave_one_out_split(
    interactions: Interactions,
    *,
    seed: Optional[int] = None,
    by: Literal["time", "random"] = "time",
    valid: bool = True,
) -> Tuple[Interactions, Interactions, Interactions]:
    """Hold out each user's last interaction for test and the one before for valid.

    ``by="time"`` ranks a user's interactions by timestamp (ties in input
    order; ``ValueError`` without timestamps); ``by="random"`` uses a random
    per-user order from ``Generator(PCG64(seed))`` (fresh entropy when ``seed``
    is None). Train always keeps at least one interaction per user, so a user
    with ``n`` interactions gives test ``1`` if ``n >= 2``, valid ``1`` if
    ``valid`` and ``n >= 3``, and the rest to train. With ``valid=False`` the
    valid part is empty. Returns ``(train, valid, test)``.
    """
    if by == "time":
        order = _time_order(interactions, "leave_one_out_split(by='time')")
    elif by == "random":
        order = _random_order(interactions, _generator(seed))
    else:
        raise ValueError(f"by must be 'time' or 'random', got {by!r}")
    n = interactions.user_counts().astype(np.int64)
    test_size = (n >= 2).astype(np.int64)
    valid_size = ((n >= 3) & valid).astype(np.int64)
    boundaries = np.stack([np.zeros_like(n), n - test_size - valid_size, n - test_size, n], axis=1)
    train, valid_part, test = _cut(interactions, order, boundaries)
    return train, valid_part, test


def split_dataset(
    dataset: RecDataset,
    method: Literal["random", "temporal", "leave_one_out"],
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> RecDataset:
    """Re-split all of ``dataset``'s interactions (train + valid + test).

    ``ratios`` has two entries (train, test; valid empty) or three (train,
    valid, test) and is ignored by ``"leave_one_out"``, which holds out by time
    when every split has timestamps and at random (``seed``) otherwise. The
    id space, KG, features and propensity are kept as they are. A column
    (rating, timestamp) that some split lacks is dropped from all.
    """
    everything = dataset.all_interactions()
    if method == "leave_one_out":
        by = "time" if everything.timestamp is not None else "random"
        train, valid, test = leave_one_out_split(everything, seed=seed, by=by, valid=True)
        return replace(dataset, train=train, valid=valid, test=test)
    if len(ratios) not in (2, 3):
        raise ValueError(f"ratios must be (train, test) or (train, valid, test), got {tuple(ratios)}")
    if method == "random":
        parts = random_split(everything, ratios, seed=seed)
    elif method == "temporal":
        parts = temporal_split(everything, ratios)
    else:
        raise ValueError(f"method must be 'random', 'temporal' or 'leave_one_out', got {method!r}")
    if len(parts) == 2:
        return replace(dataset, train=parts[0], valid=parts[0].empty(), test=parts[1])
    return replace(dataset, train=parts[0], valid=parts[1], test=parts[2])


def with_validation(
    dataset: RecDataset,
    ratio: float,
    *,
    seed: int = 0,
    by: Literal["random", "time"] = "random",
) -> RecDataset:
    """Carve a per-user validation set out of ``dataset.train``; test is untouched.

    Train is split with ratios ``(1 - ratio, ratio)`` by :func:`random_split`
    (``by="random"``, ``seed``) or :func:`temporal_split` (``by="time"``, the
    latest interactions to valid), so each user keeps at least one training
    interaction. ``ratio`` must lie in ``(0, 1)``. Raises ``ValueError`` when
    the dataset already has a non-empty valid split.
    """
    if len(dataset.valid) > 0:
        raise ValueError(
            f"{dataset.name} already has {len(dataset.valid)} validation interactions; "
            "use split_dataset to re-split everything"
        )
    if not 0.0 < float(ratio) < 1.0:
        raise ValueError(f"ratio must lie in (0, 1), got {ratio}")
    ratios = (1.0 - float(ratio), float(ratio))
    if by == "random":
        train, valid = random_split(dataset.train, ratios, seed=seed)
    elif by == "time":
        train, valid = temporal_split(dataset.train, ratios)
    else:
        raise ValueError(f"by must be 'random' or 'time', got {by!r}")
    return replace(dataset, train=train, valid=valid)
