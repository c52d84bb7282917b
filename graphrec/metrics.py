r"""Per-user top-K ranking metrics from a hit matrix, vectorised over users.

Every function here takes the top-K list of a batch of users in the form of a
boolean hit matrix ``hits`` of shape ``[B, K]`` (``hits[b, r - 1]`` is true when
the item at rank ``r`` of user ``b``'s list is one of the user's relevant
(test) items ``T_b``) and ``num_relevant[b] = |T_b| >= 1``, and returns one
value per user (float64, on the device of ``hits``). A list with empty slots
(fewer than ``K`` items could be recommended) simply has no hit there.

With ``rel_r`` the hit indicator at rank ``r`` and ``hits@k = sum_{r<=k} rel_r``:

.. math::
    \mathrm{Recall@k}    &= \mathrm{hits@k} / |T_u| \\
    \mathrm{Precision@k} &= \mathrm{hits@k} / k \\
    \mathrm{Hit@k}       &= [\mathrm{hits@k} > 0] \\
    \mathrm{NDCG@k}      &= \frac{\sum_{r \le k} rel_r / \log_2(r + 1)}
                                 {\sum_{r \le \min(|T_u|, k)} 1 / \log_2(r + 1)} \\
    \mathrm{MRR@k}       &= 1 / \min\{r \le k : rel_r = 1\}\ \text{(0 without a hit)} \\
    \mathrm{MAP@k}       &= \frac{1}{\min(|T_u|, k)} \sum_{r \le k} \mathrm{Precision@r} \cdot rel_r

NDCG uses binary relevance and the ideal DCG of ``min(|T_u|, k)`` hits at the
top, as in the LightGCN / NGCF evaluation code.
"""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["RANKING_METRICS", "ranking_metrics", "longtail_items"]

#: Names of the per-user accuracy metrics, in the order they are reported.
RANKING_METRICS = ("recall", "ndcg", "precision", "hit", "mrr", "map")


def _check_ks(ks: Sequence[int], width: int) -> None:
    for k in ks:
        if not 1 <= k <= width:
            raise ValueError(f"every k must lie in [1, {width}] (the width of hits), got {k}")


def ranking_metrics(
    hits: Tensor,
    num_relevant: Tensor,
    ks: Sequence[int],
    names: Sequence[str] = RANKING_METRICS,
) -> Dict[str, Tensor]:
    """Per-user metrics ``{"<name>@<k>": Tensor[B]}`` for each name in ``names`` and k in ``ks``.

    ``hits``: ``[B, K]`` bool, rank 1 first, ``K >= max(ks)``; ``num_relevant``:
    ``[B]`` counts ``|T_u| >= 1``. Formulas in the module docstring. No
    host-device synchronisation: the results stay on the device.
    """
    unknown = [name for name in names if name not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(RANKING_METRICS)}")
    if hits.dim() != 2:
        raise ValueError(f"hits must be [users, K], got shape {tuple(hits.shape)}")
    _check_ks(ks, hits.shape[1])
    width = max(ks) if ks else 0
    relevance = hits[:, :width].to(torch.float64)
    relevant = num_relevant.to(device=hits.device, dtype=torch.float64)
    positions = torch.arange(1, width + 1, device=hits.device, dtype=torch.float64)  # rank r = 1..K

    cumulative_hits = relevance.cumsum(dim=1)  # hits@r for every r
    discount = 1.0 / torch.log2(positions + 1.0)
    gain = (relevance * discount).cumsum(dim=1)  # DCG@r
    ideal_gain = discount.cumsum(dim=0)  # IDCG with r hits on top
    # 1/rank at hits, 0 elsewhere: the running max is 1/(first hit rank) up to r.
    reciprocal = torch.cummax(relevance / positions, dim=1).values
    # sum_{s<=r} Precision@s * rel_s
    precision_sum = (cumulative_hits / positions * relevance).cumsum(dim=1)

    results: Dict[str, Tensor] = {}
    for k in ks:
        at_k = cumulative_hits[:, k - 1]
        # min(|T_u|, k) >= 1 indexes the ideal DCG and normalises AP
        capped = relevant.clamp(max=k, min=1)
        values = {
            "recall": lambda: at_k / relevant,
            "ndcg": lambda: gain[:, k - 1] / ideal_gain[capped.long() - 1],
            "precision": lambda: at_k / k,
            "hit": lambda: (at_k > 0).to(torch.float64),
            "mrr": lambda: reciprocal[:, k - 1],
            "map": lambda: precision_sum[:, k - 1] / capped,
        }
        for name in names:
            results[f"{name}@{k}"] = values[name]()
    return results


def longtail_items(popularity: Tensor, head_share: float = 0.2) -> Tensor:
    """Bool mask of the long-tail items: all but the ``ceil(head_share * num_items)`` most popular.

    Items are ranked by ``popularity`` (descending); equal popularity is
    broken by item index (the lower index counts as more popular), so the head
    holds exactly ``ceil(head_share * num_items)`` items.
    """
    if not 0.0 <= head_share <= 1.0:
        raise ValueError(f"head_share must lie in [0, 1], got {head_share}")
    popularity = torch.as_tensor(popularity)
    num_items = popularity.numel()
    # rounding first keeps float noise (0.2 * 15 = 3.0000000000000004) from adding an item
    head_size = math.ceil(round(head_share * num_items, 9))
    # stable sort of -popularity: descending popularity, ascending index among ties
    order = torch.sort(-popularity.to(torch.float64), stable=True).indices
    tail = torch.ones(num_items, dtype=torch.bool, device=popularity.device)
    tail[order[:head_size]] = False
    return tail


def check_ranking_arguments(ks: Sequence[int], metrics: Sequence[str]) -> Tuple[Tuple[int, ...], Tuple[str, ...]]:
    """``(ks, metrics)`` as tuples, cut-offs de-duplicated in order; ``ValueError`` for a cut-off
    below 1 or a metric name outside :data:`RANKING_METRICS`."""
    cutoffs = tuple(dict.fromkeys(int(k) for k in ks))
    if not cutoffs or min(cutoffs) < 1:
        raise ValueError(f"ks must be positive integers, got {list(ks)}")
    unknown = [name for name in metrics if name not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(RANKING_METRICS)}")
    return cutoffs, tuple(metrics)
