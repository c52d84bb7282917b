r"""The popularity-debiased ("intervened") split of MACR and DICE, from any interactions.

A random split inherits the long tail: most test interactions are with
popular items, so a model that recommends by popularity scores well. The
intervened split used by MACR (Wei et al., KDD 2021: "randomly sample 10%
interactions with equal probability in terms of items" as the test set) and
DICE (Zheng et al., WWW 2021, after Bonner & Vasile's CausE: an intervened test
set whose item distribution is uniform) instead draws the test set so that
every item is (as nearly as possible) equally represented, and trains on the
rest, which stays popularity-biased. MACR's released preprocessing does this
by taking a fixed number of each item's interactions (5, its latest ones, and
never all of an item's interactions) for test.

Rule of :func:`intervened_split` (all interactions of the input, ``N`` rows):

1. Anchors (``keep_train=True``): one row of each user and one row of each item,
   drawn uniformly at random, stay in train, so that no user or item is left
   without a training interaction. The other rows are *eligible*; item ``i``
   has ``e_i`` eligible rows.
2. Test quotas ``q_i``: with ``per_item=n``, ``q_i = min(n, e_i)`` (MACR's
   rule). Otherwise the test set has ``T = floor(test_ratio * N + 1/2)`` rows,
   spread over the items by water-filling (:func:`balanced_quotas`): with
   ``c`` the largest integer such that ``sum_i min(c, e_i) <= T``, every item
   gets ``min(c, e_i)`` and ``r = T - sum_i min(c, e_i)`` items drawn uniformly
   among those with ``e_i > c`` get one more. So every item with more than
   ``c`` eligible rows has ``c`` or ``c + 1`` test rows, and an item with
   fewer gives all its eligible rows.
3. Which rows: ``by="random"`` takes ``q_i`` of item ``i``'s eligible rows
   uniformly at random; ``by="time"`` its ``q_i`` latest (largest timestamp,
   equal timestamps: the later row first), as MACR's code does.
4. Validation: ``V = floor(valid_ratio * N + 1/2)`` rows of the remaining
   eligible ones, by the same water-filling over the remaining rows per item
   (``valid="intervened"``, DICE's intervened validation set) or uniformly at
   random among them (``valid="random"``: a validation set with the training
   distribution).
5. Everything else is train. Each part keeps its rows in input order, with
   their ratings and timestamps; the three parts partition the input rows.

Randomness comes from one ``Generator(PCG64(seed))``: the same input and
arguments give the same split. Duplicate ``(user, item)`` rows are treated as
separate rows; an evaluator that masks training pairs drops a test copy of a
training pair. MACR's setting is ``test_ratio=0.1, valid_ratio=0.1``; DICE
holds out 20% for test and 10% for validation (``test_ratio=0.2,
valid_ratio=0.1``; its extra 10% intervened training part, used by CausE, is
not built here).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import replace
from typing import Literal, Optional, Union

import numpy as np

from .dataset import RecDataset
from .interactions import Interactions

__all__ = ["intervened_split", "balanced_quotas"]


def balanced_quotas(capacity: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Spread ``total`` units over bins of the given ``capacity`` as evenly as possible.

    Water-filling: with ``c`` the largest integer such that
    ``sum(min(capacity, c)) <= total``, bin ``i`` gets ``min(capacity[i], c)``,
    and the ``total - sum(min(capacity, c))`` units left (fewer than the bins
    with ``capacity > c``) go one each to bins drawn uniformly without
    replacement among those with ``capacity > c``. Returns int64 quotas that
    sum to ``total``; raises ``ValueError`` when ``total`` exceeds
    ``capacity.sum()``.
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    if capacity.size and capacity.min() < 0:
        raise ValueError("capacity must be non-negative")
    total = int(total)
    available = int(capacity.sum())
    if not 0 <= total <= available:
        raise ValueError(f"cannot place {total} units in bins holding {available}")
    low, high = 0, int(capacity.max()) if capacity.size else 0  # S(low) <= total <= S(high)
    while low < high:  # the largest level whose filled total stays within `total`
        middle = (low + high + 1) // 2
        if int(np.minimum(capacity, middle).sum()) <= total:
            low = middle
        else:
            high = middle - 1
    quota = np.minimum(capacity, low)
    remainder = total - int(quota.sum())
    if remainder:
        room = np.flatnonzero(capacity > low)
        quota[rng.choice(room, remainder, replace=False)] += 1
    return quota


def _first_rows(keys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One row per distinct key, drawn uniformly: the first of each key in a random order."""
    permutation = rng.permutation(len(keys))
    _, first = np.unique(keys[permutation], return_index=True)
    return permutation[first]


def _take_per_item(order: np.ndarray, item: np.ndarray, quota: np.ndarray, num_items: int) -> np.ndarray:
    """The first ``quota[i]`` rows of each item ``i`` in ``order`` (rows grouped by item)."""
    items = item[order]
    counts = np.bincount(items, minlength=num_items)
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(order)) - starts[items]
    return order[rank < quota[items]]


def _share(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def intervened_split(
    data: Union[RecDataset, Interactions],
    *,
    test_ratio: Optional[float] = None,
    per_item: Optional[int] = None,
    valid_ratio: float = 0.1,
    valid: Literal["intervened", "random"] = "intervened",
    by: Literal["random", "time"] = "random",
    keep_train: bool = True,
    seed: int = 0,
    name: Optional[str] = None,
) -> RecDataset:
    """Re-split all interactions of ``data`` (train + valid + test of a dataset)
    into a biased train part and an item-balanced test part; see the module
    docstring for the rule.

    ``test_ratio`` (default 0.1) sizes the test part as a share of all rows;
    ``per_item`` instead takes up to that many rows of each item (give one of
    the two). ``valid_ratio`` sizes the validation part (0 leaves it empty),
    drawn as ``valid`` says. ``by`` picks which rows of an item go to test
    (and validation): at random or the latest by timestamp. A dataset keeps
    its id space, KG, features and propensity; the name is ``name`` or
    ``"<name>-intervened"``. Raises ``ValueError`` for an impossible request
    (e.g. more test rows than can leave train).
    """
    if isinstance(data, RecDataset):
        interactions, base_name = data.all_interactions(), data.name
    elif isinstance(data, Interactions):
        interactions, base_name = data, "interactions"
    else:
        raise TypeError(f"data must be a RecDataset or Interactions, got {type(data).__name__}")
    if per_item is not None and test_ratio is not None:
        raise ValueError("give test_ratio or per_item, not both")
    if per_item is not None:
        if isinstance(per_item, bool) or not isinstance(per_item, numbers.Integral) or per_item < 1:
            raise ValueError(f"per_item must be a positive integer, got {per_item!r}")
    test_share = _share("test_ratio", 0.1 if test_ratio is None else test_ratio)
    valid_share = _share("valid_ratio", valid_ratio)
    if per_item is None and test_share + valid_share >= 1.0:
        raise ValueError(f"test_ratio + valid_ratio must stay below 1, got {test_share} + {valid_share}")
    if valid not in ("intervened", "random"):
        raise ValueError(f"valid must be 'intervened' or 'random', got {valid!r}")
    if by not in ("random", "time"):
        raise ValueError(f"by must be 'random' or 'time', got {by!r}")

    rng = np.random.Generator(np.random.PCG64(seed))
    num_rows, num_items = len(interactions), interactions.num_items
    user, item = interactions.user, interactions.item
    eligible = np.ones(num_rows, dtype=bool)
    if keep_train:
        eligible[_first_rows(user, rng)] = False
        eligible[_first_rows(item, rng)] = False

    # Rows grouped by item, in the order in which an item gives them up.
    if by == "random":
        permutation = rng.permutation(num_rows)
        order = permutation[np.argsort(item[permutation], kind="stable")]
    else:
        timestamp = interactions.timestamp
        if timestamp is None:
            raise ValueError("by='time' needs timestamps, and these interactions have none")
        position = np.arange(num_rows)
        # lexsort: last key primary; latest first within an item, the later row first among equal times
        order = np.lexsort((-position, -timestamp.astype(np.float64), item))
    order = order[eligible[order]]

    capacity = np.bincount(item[order], minlength=num_items)
    if per_item is not None:
        quota = np.minimum(capacity, int(per_item))
    else:
        wanted = math.floor(test_share * num_rows + 0.5)
        if wanted > capacity.sum():
            raise ValueError(
                f"test_ratio={test_share} asks for {wanted} test interactions; only {int(capacity.sum())} "
                f"can leave train{' (keep_train keeps one per user and one per item)' if keep_train else ''}"
            )
        quota = balanced_quotas(capacity, wanted, rng)
    part = np.zeros(num_rows, dtype=np.int8)  # 0 train, 1 valid, 2 test
    test_rows = _take_per_item(order, item, quota, num_items)
    part[test_rows] = 2
    eligible[test_rows] = False

    valid_size = math.floor(valid_share * num_rows + 0.5)
    if valid_size:
        order = order[eligible[order]]
        if valid_size > len(order):
            raise ValueError(f"valid_ratio={valid_share} asks for {valid_size} validation interactions; "
                             f"only {len(order)} are left after the test part")
        if valid == "intervened":
            capacity = np.bincount(item[order], minlength=num_items)
            part[_take_per_item(order, item, balanced_quotas(capacity, valid_size, rng), num_items)] = 1
        else:
            part[rng.choice(np.flatnonzero(eligible), valid_size, replace=False)] = 1

    train, valid_part, test = (interactions.subset(np.flatnonzero(part == j)) for j in range(3))
    name = name or f"{base_name}-intervened"
    if isinstance(data, RecDataset):
        return replace(data, name=name, train=train, valid=valid_part, test=test)
    return RecDataset(name=name, train=train, valid=valid_part, test=test)
