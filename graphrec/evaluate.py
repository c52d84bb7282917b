r"""Full-ranking evaluation over every item, and sampled-negative evaluation through OGB.

Protocol of :class:`Evaluator` (the LightGCN / NGCF protocol):

* Every user with at least one test interaction is evaluated; users without
  one are left out of every average.
* A user's test items ``T_u`` form a set: duplicate test pairs count once.
* Items the user has in ``exclude`` (the training part; training and
  validation when scoring the test part) get the score ``-inf`` and are never
  recommended. A test pair that is also an excluded pair cannot be recommended
  and, by default, is dropped from ``T_u`` (a user left with no test item is
  not evaluated): counting it would cap even a perfect ranker's recall below 1,
  for every model alike. ``count_excluded_test=True`` keeps it in ``|T_u|``
  instead, as the LightGCN code does. (The LightGCN Gowalla split has no such
  pair, so both choices give its published numbers.)
* Each user gets a top-K list of the K highest-scoring items, ``K = max(ks)``;
  the metrics at a smaller ``k`` read its first ``k`` entries. Slots whose
  score is ``-inf`` (a user with fewer than K unmasked items, or ``-inf``
  returned by ``score_fn``) stay empty: they hold no item, no hit, no coverage.
* Equal scores are broken by item index, the lower index ranking first, on
  every device (``torch.topk`` alone leaves the order of ties unspecified, so
  a popularity ranking with many tied counts would give device-dependent
  metrics). This costs a second ``topk`` per batch; ``break_ties=False`` skips
  it, and then the order among equal scores is whatever ``torch.topk`` returns.

Metrics, each averaged over the evaluated users ``U`` (keys ``"<name>@<k>"``):
``recall``, ``ndcg``, ``precision``, ``hit``, ``mrr``, ``map`` with the
formulas of :mod:`graphrec.metrics`, and beyond accuracy, with ``L_u@k`` the
items in user ``u``'s top-``k`` list and ``pop_i`` = ``item_popularity[i]``:

.. math::
    \mathrm{coverage@k}   &= |\textstyle\bigcup_{u \in U} L_u@k| / |I| \\
    \mathrm{popularity@k} &= \frac{1}{|U|} \sum_{u \in U} \frac{1}{|L_u@k|} \sum_{i \in L_u@k} pop_i \\
    \mathrm{longtail@k}   &= \frac{1}{|U|} \sum_{u \in U} \frac{|L_u@k \cap \mathrm{Tail}|}{|L_u@k|}

where ``Tail`` is every item outside the ``ceil(0.2 |I|)`` most popular
(:func:`graphrec.metrics.longtail_items`; ``head_share`` sets the 0.2). A user
whose list is empty adds 0 to popularity and long-tail share. ``coverage`` is
always reported; ``popularity`` and ``longtail`` only when ``item_popularity``
is given (e.g. ``train.item_counts()``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .data.interactions import Interactions
from .data.sampling import UniformNegativeSampler
from .metrics import RANKING_METRICS, check_ranking_arguments, longtail_items, ranking_metrics

__all__ = ["Evaluator", "sampled_evaluate", "top_k"]

Device = Union[torch.device, str]


def _check_id_space(test: Interactions, others: Sequence[Interactions]) -> None:
    for part in others:
        if part.user_ids != test.user_ids or part.item_ids != test.item_ids:
            raise ValueError("exclude must share the id space (user_ids, item_ids) of test")


def _distinct_keys(parts: Sequence[Interactions]) -> np.ndarray:
    """Sorted distinct ``user * num_items + item`` keys of the pairs of ``parts``."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([part.pair_keys() for part in parts]))


def top_k(scores: Tensor, width: int, *, break_ties: bool = True) -> Tuple[Tensor, Tensor]:
    """``(values, items)``: the ``width`` highest scores of each row of ``scores`` (``[B, num_items]``)
    and their column indices, best first.

    With ``break_ties`` equal scores rank by column index, the lower index
    first, on every device (``torch.topk`` alone leaves the order of ties
    unspecified); without it the order among equal scores is ``torch.topk``'s.
    """
    values, items = torch.topk(scores, width, dim=1)
    if not break_ties:
        return values, items
    # Order the list by (score desc, item asc): a stable sort by score of
    # the list sorted by item.
    items, order = items.sort(dim=1)
    values = values.gather(1, order)
    values, order = values.sort(dim=1, descending=True, stable=True)
    items = items.gather(1, order)
    # Every item scoring above the width-th value is in the list already;
    # only which items tied with that value fill the tail of the list is
    # up to topk. Recompute them: the lowest indices among the tied items
    # are the largest keys num_items - item. (A second topk over int32
    # keys; a cumsum over the tied mask would also do, but a scan is
    # several times slower than topk on CPU.)
    threshold = values[:, -1:]
    num_above = (values > threshold).sum(dim=1, keepdim=True)
    descending_index = torch.arange(scores.shape[1], 0, -1, dtype=torch.int32, device=scores.device)
    tied = torch.topk(torch.where(scores == threshold, descending_index, 0), width, dim=1).indices
    position = torch.arange(width, device=scores.device)
    fill = torch.gather(tied, 1, (position - num_above).clamp_(min=0))
    items = torch.where(position < num_above, items, fill)
    return values, items


class Evaluator:
    """All-item top-K evaluation of a scoring function; see the module docstring for the protocol.

    The test and exclusion structures are built once, on ``device``:
    the evaluated users, ``|T_u|``, the sorted test keys ``row * num_items + item``
    (``row`` = position of the user among the evaluated users) and the excluded
    ``(row, item)`` pairs, plus per-batch offsets into them so that the batch
    loop slices with Python integers and never waits for the device.
    :meth:`evaluate` calls ``score_fn`` once per batch of ``batch_size`` users (2048 by
    default: a Gowalla batch of scores, tie-break keys and masks then stays under 1 GiB).
    """

    def __init__(
        self,
        test: Interactions,
        *,
        exclude: Sequence[Interactions] = (),
        ks: Sequence[int] = (20,),
        metrics: Sequence[str] = RANKING_METRICS,
        item_popularity: Optional[Union[np.ndarray, Tensor]] = None,
        batch_size: int = 2048,
        device: Device = "cpu",
        count_excluded_test: bool = False,
        break_ties: bool = True,
        head_share: float = 0.2,
    ) -> None:
        exclude = list(exclude)
        _check_id_space(test, exclude)
        self.ks, self.metrics = check_ranking_arguments(ks, metrics)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.break_ties = bool(break_ties)
        self.num_items = test.num_items
        num_items = np.int64(self.num_items)

        test_keys = _distinct_keys([test])
        excluded_keys = _distinct_keys(exclude)
        excluded_test = np.isin(test_keys, excluded_keys, assume_unique=True)
        hit_keys = test_keys[~excluded_test]
        counted_keys = test_keys if count_excluded_test else hit_keys
        relevant = np.bincount(counted_keys // num_items, minlength=test.num_users)
        users = np.flatnonzero(relevant)
        if users.size == 0:
            raise ValueError("no user has a test interaction to evaluate")
        row_of_user = np.full(test.num_users, -1, dtype=np.int64)
        row_of_user[users] = np.arange(users.size)

        # user -> row is increasing, so keys re-based on rows stay sorted
        hit_keys = row_of_user[hit_keys // num_items] * num_items + hit_keys % num_items
        excluded_user = excluded_keys // num_items
        evaluated = row_of_user[excluded_user] >= 0
        excluded_rows = row_of_user[excluded_user[evaluated]]
        excluded_items = excluded_keys[evaluated] % num_items

        starts = np.arange(0, users.size, self.batch_size)
        stops = np.minimum(starts + self.batch_size, users.size)
        hit_offsets = np.searchsorted(hit_keys, np.append(starts, users.size) * num_items)
        excluded_offsets = np.searchsorted(excluded_rows, np.append(starts, users.size))
        self._batches: List[Tuple[int, int, int, int, int, int]] = [
            (int(start), int(stop), int(hit_offsets[b]), int(hit_offsets[b + 1]),
             int(excluded_offsets[b]), int(excluded_offsets[b + 1]))
            for b, (start, stop) in enumerate(zip(starts, stops))
        ]

        def to_device(array: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

        self.users = to_device(users)
        self.num_relevant = to_device(relevant[users])
        self._hit_keys = to_device(hit_keys)
        self._excluded_rows = to_device(excluded_rows)
        self._excluded_items = to_device(excluded_items)

        # Index num_items is the empty slot: popularity 0, not long tail.
        self._popularity: Optional[Tensor] = None
        self._longtail: Optional[Tensor] = None
        if item_popularity is not None:
            popularity = torch.as_tensor(item_popularity).to(device=self.device, dtype=torch.float64).reshape(-1)
            if popularity.numel() != self.num_items:
                raise ValueError(f"item_popularity has {popularity.numel()} entries for {self.num_items} items")
            empty = torch.zeros(1, dtype=torch.float64, device=self.device)
            self._popularity = torch.cat([popularity, empty])
            self._longtail = torch.cat([longtail_items(popularity, head_share).to(torch.float64), empty])

    @property
    def num_users(self) -> int:
        """Users evaluated (those with at least one counted test item)."""
        return self.users.numel()

    def __repr__(self) -> str:
        return (
            f"Evaluator({self.num_users} users x {self.num_items} items, ks={list(self.ks)}, "
            f"metrics={list(self.metrics)}, device={self.device})"
        )

    # -- ranking ---------------------------------------------------------------
    def _top_k(self, scores: Tensor, width: int) -> Tuple[Tensor, Tensor]:
        """``(values, items)`` of the ``width`` best items per row, ties by lower item index."""
        return top_k(scores, width, break_ties=self.break_ties)

    @torch.no_grad()
    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> Dict[str, float]:
        """Average metrics of the ranking given by ``score_fn``.

        ``score_fn(users)`` receives a 1-D int64 tensor of user indices on
        ``device`` and returns their ``[len(users), num_items]`` scores (moved
        to ``device`` if elsewhere; an integer tensor is cast to float64). The
        returned tensor is written in place while its batch is ranked (the
        excluded entries set to ``-inf``) and restored before the next call, so
        score_fn may return a view of a tensor it keeps. Raises ``ValueError``
        when a score is NaN.
        """
        device, num_items = self.device, self.num_items
        max_k = max(self.ks)
        width = min(max_k, num_items)
        float64 = dict(dtype=torch.float64, device=device)
        sums: Dict[str, Tensor] = {}
        # Best (0-based) rank at which each item is recommended to anyone;
        # max_k = never. Slot num_items collects empty slots.
        best_rank = torch.full((num_items + 1,), max_k, dtype=torch.long, device=device)
        slot_rank = torch.arange(max_k, device=device)
        found_nan = torch.zeros((), dtype=torch.bool, device=device)

        for start, stop, hit_lo, hit_hi, excluded_lo, excluded_hi in self._batches:
            users = self.users[start:stop]
            scores = score_fn(users)
            if tuple(scores.shape) != (stop - start, num_items):
                raise ValueError(
                    f"score_fn returned shape {tuple(scores.shape)} for {stop - start} users; "
                    f"expected ({stop - start}, {num_items})"
                )
            scores = scores.to(device)
            if not scores.is_floating_point():
                scores = scores.double()  # exact for integers up to 2**53
            if not scores.is_contiguous():  # index_put_ needs non-overlapping memory
                scores = scores.contiguous()
            rows = self._excluded_rows[excluded_lo:excluded_hi] - start
            columns = self._excluded_items[excluded_lo:excluded_hi]
            kept = scores[rows, columns]
            scores.index_put_((rows, columns), scores.new_full((), float("-inf")))
            values, items = self._top_k(scores, width)
            scores.index_put_((rows, columns), kept)

            found_nan |= values[:, 0].isnan().any()  # topk ranks NaN above everything
            filled = values != float("-inf")
            if width < max_k:  # K beyond the catalogue: empty slots
                pad = max_k - width
                items = torch.cat([items, items.new_full((len(users), pad), num_items)], dim=1)
                filled = torch.cat([filled, filled.new_zeros((len(users), pad))], dim=1)
            items = torch.where(filled, items, num_items)

            keys = torch.arange(start, stop, device=device).unsqueeze(1) * num_items + items
            hit_keys = self._hit_keys[hit_lo:hit_hi]
            if hit_keys.numel():
                position = torch.searchsorted(hit_keys, keys).clamp_(max=hit_keys.numel() - 1)
                hits = (hit_keys[position] == keys) & filled
            else:
                hits = torch.zeros_like(filled)

            per_user = ranking_metrics(hits, self.num_relevant[start:stop], self.ks, self.metrics)
            best_rank.scatter_reduce_(0, items.reshape(-1), slot_rank.expand_as(items).reshape(-1), reduce="amin")
            if self._popularity is not None:
                listed = filled.to(torch.float64).cumsum(dim=1).clamp_(min=1)
                popularity = self._popularity[items].cumsum(dim=1) / listed
                longtail = self._longtail[items].cumsum(dim=1) / listed
                for k in self.ks:
                    per_user[f"popularity@{k}"] = popularity[:, k - 1]
                    per_user[f"longtail@{k}"] = longtail[:, k - 1]
            for key, value in per_user.items():
                sums[key] = sums.get(key, torch.zeros((), **float64)) + value.sum()

        results = {name: total / self.num_users for name, total in sums.items()}
        for k in self.ks:
            results[f"coverage@{k}"] = (best_rank[:num_items] < k).sum().to(torch.float64) / num_items
        names = self._ordered_keys()
        values = torch.stack([results[name] for name in names])
        if bool(found_nan):
            raise ValueError("score_fn returned NaN scores")
        return dict(zip(names, values.tolist()))

    def _ordered_keys(self) -> List[str]:
        names = list(self.metrics) + ["coverage"]
        if self._popularity is not None:
            names += ["popularity", "longtail"]
        return [f"{name}@{k}" for name in names for k in self.ks]


@torch.no_grad()
def sampled_evaluate(
    pair_score_fn: Callable[[Tensor, Tensor], Tensor],
    test: Interactions,
    *,
    exclude: Sequence[Interactions] = (),
    num_negatives: int = 100,
    seed: int = 0,
    device: Device = "cpu",
    batch_size: int = 4096,
) -> Dict[str, float]:
    r"""MRR and Hits@1/3/10 of each test pair ranked against sampled negatives (OGB's protocol).

    Each distinct test pair ``(u, i)`` not in ``exclude`` is scored against
    ``num_negatives`` items drawn uniformly, with replacement, among the items
    ``u`` has no pair with in ``exclude`` or ``test``
    (:class:`~graphrec.data.sampling.UniformNegativeSampler`, seeded by
    ``seed`` on ``device``). ``pair_score_fn(users, items)`` scores aligned
    1-D index tensors of equal length (e.g. ``lambda u, i: model.score(U[u],
    I[i])``); it is called on ``batch_size`` test pairs (times
    ``1 + num_negatives``) at a time. The rank, as in
    ``ogb.linkproppred.Evaluator("ogbl-citation2")``, which computes it, counts
    a tied negative as half above the positive:

    .. math::
        \mathrm{rank} = 1 + |\{n : s_n > s_+\}| + \tfrac12 |\{n : s_n = s_+\}|,

    and ``sampled_mrr`` = mean of ``1 / rank``, ``sampled_hits@k`` = share of
    ranks ``<= k``. Raises ``ValueError`` when no test pair is left or a user
    has interacted with every item.
    """
    from ogb.linkproppred import Evaluator as OGBEvaluator  # optional at import time

    device = torch.device(device)
    exclude = list(exclude)
    _check_id_space(test, exclude)
    test_keys = _distinct_keys([test])
    test_keys = test_keys[~np.isin(test_keys, _distinct_keys(exclude), assume_unique=True)]
    if test_keys.size == 0:
        raise ValueError("no test pair to evaluate")
    num_items = np.int64(test.num_items)
    users = torch.from_numpy(test_keys // num_items).to(device)
    positives = torch.from_numpy(test_keys % num_items).to(device)
    sampler = UniformNegativeSampler(Interactions.concat(exclude + [test]), device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    negatives = sampler.sample(users, num_negatives, generator=generator)

    positive_scores, negative_scores = [], []
    for start in range(0, users.numel(), batch_size):
        batch = slice(start, start + batch_size)
        candidates = torch.cat([positives[batch].unsqueeze(1), negatives[batch]], dim=1)
        pair_users = users[batch].unsqueeze(1).expand_as(candidates)
        scores = pair_score_fn(pair_users.reshape(-1), candidates.reshape(-1)).reshape(candidates.shape)
        positive_scores.append(scores[:, 0])
        negative_scores.append(scores[:, 1:])
    result = OGBEvaluator("ogbl-citation2").eval(
        {"y_pred_pos": torch.cat(positive_scores), "y_pred_neg": torch.cat(negative_scores)}
    )
    names = {"mrr_list": "sampled_mrr", "hits@1_list": "sampled_hits@1",
             "hits@3_list": "sampled_hits@3", "hits@10_list": "sampled_hits@10"}
    values = torch.stack([result[key].to(torch.float64).mean() for key in names]).tolist()
    return dict(zip(names.values(), values))
