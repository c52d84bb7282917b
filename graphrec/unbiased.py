r"""Evaluation on randomly exposed data: each user's ranking is over the items
that user was shown at random, with a label per item.

Test sets such as Coat's ``test.ascii`` (Schnabel et al., ICML 2016: 16 items
drawn at random per user, every one rated) or the synthetic world's
``random_exposure`` label *every* exposed pair, positive or negative, and the
exposure did not depend on the user. Ranking all items against such a set would
count every unexposed item as a miss; instead :class:`CandidateEvaluator` ranks,
for each user ``u``, only the candidate set ``C_u`` of items ``u`` was exposed to,
and ``P_u \subseteq C_u`` are the positives (Coat: rating ``>= threshold``;
synthetic world: a click).

Protocol:

* A candidate pair that is also a pair of ``exclude`` is dropped (positive or
  negative). Coat's standard protocol excludes nothing (366 of its 4,640 test
  ratings repeat a training rating, and the literature keeps them); for the
  synthetic world pass the training clicks, as its docstring asks.
* Duplicate candidate pairs count once (their labels must agree).
* Each user's candidates are ordered by score, descending, equal scores by
  lower item index (as :class:`graphrec.evaluate.Evaluator` does); every
  candidate is listed, a ``-inf`` score included. ``L_u@k`` is the first
  ``min(k, |C_u|)`` of them.
* Ranking metrics (keys ``"<name>@<k>"``, names from
  :data:`graphrec.metrics.RANKING_METRICS`) are those of
  :mod:`graphrec.metrics` with the relevant set ``T_u = P_u``: e.g.
  :math:`\mathrm{NDCG@k} = \sum_{r \le k} rel_r / \log_2(r+1)` divided by the
  DCG of ``min(|P_u|, k)`` hits, :math:`\mathrm{Recall@k} = hits@k / |P_u|`,
  :math:`\mathrm{Precision@k} = hits@k / k`. They are averaged over the users
  with at least one positive candidate (:attr:`CandidateEvaluator.num_users`);
  users without one are left out, as the full-ranking evaluator leaves out
  users without a test item. (Part of the public code of the doubly robust
  line of work scores such a user's NDCG as 1 instead; its average is
  ``(n * ndcg + n_0) / (n + n_0)`` with ``n_0`` = :attr:`num_users_without_positive`.)
* ``"auc"`` is the **global** AUC over all labelled candidate pairs of all
  users: the probability that a positive pair's score exceeds a negative
  pair's, ties counting 1/2,

  .. math::
      \mathrm{AUC} = \frac{1}{|P||N|} \sum_{p \in P} \sum_{n \in N}
          \big([s_p > s_n] + \tfrac12 [s_p = s_n]\big),

  with ``P`` / ``N`` all positive / negative candidate pairs. It compares
  scores across users. This is the AUC that the debiasing literature on Coat
  and Yahoo! R3 reports: the public evaluation code of the doubly robust
  family (Wang et al., ICML 2019, and its successors) computes
  ``sklearn.metrics.roc_auc_score`` over all test pairs. (Schnabel et al.
  report MSE, MAE and DCG, no AUC.)
* ``"user_auc"`` is the same formula within each user (``P_u`` against
  ``N_u = C_u \setminus P_u``), averaged without weights over the users who
  have both a positive and a negative candidate (sometimes called GAUC).

``ValueError`` is raised when a score is NaN.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .data.dataset import RecDataset
from .data.interactions import Interactions
from .metrics import RANKING_METRICS, check_ranking_arguments, ranking_metrics

if TYPE_CHECKING:
    from .data.synthetic_world import SyntheticWorld

__all__ = ["CandidateEvaluator", "coat_candidates", "exposure_candidates", "auc_from_scores"]

Device = Union[torch.device, str]


def auc_from_scores(scores: Tensor, labels: Tensor, valid: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Per-row AUC numerators and pair counts, vectorised over rows.

    ``scores`` / ``labels`` (bool) / ``valid`` (bool, default all) are
    ``[B, M]``; returns ``(wins, pairs)``, both ``[B]`` float64, with
    ``wins = \sum_{p, n} [s_p > s_n] + \tfrac12 [s_p = s_n]`` over the valid
    positives ``p`` and valid negatives ``n`` of the row and
    ``pairs = |P| |N|``; a row's AUC is ``wins / pairs``. A 1-D input is one
    row. Each positive's count of lower and of equal negatives comes from a
    binary search in the row's sorted negative scores; non-negative slots are
    set to ``+inf`` there, and cannot be counted: ``searchsorted(..., right=False)``
    never counts a ``+inf`` below any score, and the count of negatives at or
    below a score is clamped to the row's number of negatives.
    """
    squeeze = scores.dim() == 1
    if squeeze:
        scores, labels = scores.unsqueeze(0), labels.unsqueeze(0)
        valid = None if valid is None else valid.unsqueeze(0)
    if valid is None:
        valid = torch.ones_like(labels)
    positive = labels & valid
    negative = ~labels & valid
    num_negative = negative.sum(dim=1, keepdim=True)
    negatives = torch.where(negative, scores, torch.full_like(scores, float("inf"))).sort(dim=1).values
    below = torch.searchsorted(negatives, scores.contiguous(), right=False)
    at_or_below = torch.minimum(torch.searchsorted(negatives, scores.contiguous(), right=True), num_negative)
    credit = below.to(torch.float64) + 0.5 * (at_or_below - below).to(torch.float64)
    wins = torch.where(positive, credit, torch.zeros_like(credit)).sum(dim=1)
    pairs = positive.sum(dim=1).to(torch.float64) * num_negative.squeeze(1).to(torch.float64)
    if squeeze:
        return wins[0], pairs[0]
    return wins, pairs


class CandidateEvaluator:
    """Ranking metrics and AUC over each user's labelled candidate items; the
    protocol is in the module docstring.

    ``candidates`` holds the exposed ``(user, item)`` pairs and ``labels``
    (bool, or numbers 0/1, one per pair) says which are positive. The
    candidate structure is built once on ``device`` as a padded
    ``[users, max |C_u|]`` table. :meth:`evaluate` takes the trainer's
    ``score_fn`` protocol (so an instance can be passed as
    ``Trainer(evaluators={"valid": ..., "test": ...})``);
    :meth:`evaluate_pairs` takes a function of aligned ``(users, items)``.
    """

    def __init__(
        self,
        candidates: Interactions,
        labels: Union[np.ndarray, Sequence[float], Tensor],
        *,
        exclude: Sequence[Interactions] = (),
        ks: Sequence[int] = (5,),
        metrics: Sequence[str] = RANKING_METRICS,
        auc: bool = True,
        batch_size: int = 4096,
        device: Device = "cpu",
    ) -> None:
        if isinstance(labels, Tensor):
            labels = labels.cpu().numpy()
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != len(candidates):
            raise ValueError(f"labels has {labels.shape[0]} entries for {len(candidates)} candidate pairs")
        if labels.dtype != np.bool_:
            if not np.isin(labels, (0, 1)).all():
                raise ValueError("labels must be booleans or the numbers 0 and 1")
            labels = labels.astype(bool)
        for part in exclude:
            if part.user_ids != candidates.user_ids or part.item_ids != candidates.item_ids:
                raise ValueError("exclude must share the id space (user_ids, item_ids) of candidates")
        self.ks, self.metrics = check_ranking_arguments(ks, metrics)
        self.auc = bool(auc)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.num_items = candidates.num_items
        num_items = np.int64(self.num_items)

        keys = candidates.pair_keys()
        if exclude:
            kept = ~np.isin(keys, np.concatenate([part.pair_keys() for part in exclude]))
            keys, labels = keys[kept], labels[kept]
        # np.unique sorts: keys grouped by user, items ascending within a user
        keys, inverse = np.unique(keys, return_inverse=True)
        positive = np.zeros(keys.size, dtype=bool)
        negative = np.zeros(keys.size, dtype=bool)
        positive[inverse[labels]] = True
        negative[inverse[~labels]] = True
        if (positive & negative).any():
            key = int(keys[np.flatnonzero(positive & negative)[0]])
            raise ValueError(
                f"candidate pair (user {key // self.num_items}, item {key % self.num_items}) "
                "is listed twice with different labels"
            )
        if keys.size == 0:
            raise ValueError("no candidate pair left to evaluate")
        user, item = keys // num_items, keys % num_items
        users, starts, sizes = np.unique(user, return_index=True, return_counts=True)
        row = np.repeat(np.arange(users.size), sizes)
        column = np.arange(keys.size) - starts[row]
        width = int(sizes.max())
        # Padding slots hold item 0 (any valid column for gather) and are never valid.
        item_table = np.zeros((users.size, width), dtype=np.int64)
        label_table = np.zeros((users.size, width), dtype=bool)
        valid_table = np.zeros((users.size, width), dtype=bool)
        item_table[row, column] = item
        label_table[row, column] = positive
        valid_table[row, column] = True
        num_positive = label_table.sum(axis=1)

        def to_device(array: np.ndarray) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

        self.users = to_device(users)
        self._items = to_device(item_table)
        self._labels = to_device(label_table)
        self._valid = to_device(valid_table)
        self._num_positive = to_device(num_positive)
        self.num_candidates = int(keys.size)
        self.num_positives = int(positive.sum())
        self.num_users = int((num_positive > 0).sum())
        self.num_users_without_positive = int((num_positive == 0).sum())
        self.num_auc_users = int(((num_positive > 0) & (num_positive < sizes)).sum())
        if self.num_users == 0:
            raise ValueError("no user has a positive candidate to evaluate")

    def __repr__(self) -> str:
        return (
            f"CandidateEvaluator({self.num_candidates} candidates ({self.num_positives} positive) of "
            f"{self.users.numel()} users, ks={list(self.ks)}, metrics={list(self.metrics)}, device={self.device})"
        )

    # -- scoring -----------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> Dict[str, float]:
        """Metrics of the ranking given by ``score_fn(users) -> [len(users), num_items]``
        (the protocol of :meth:`graphrec.evaluate.Evaluator.evaluate`; ``users``
        is a 1-D int64 tensor on ``device``, the scores are moved there, an
        integer tensor is cast to float64). Only the candidate columns are read."""

        def candidate_scores(rows: slice, users: Tensor) -> Tensor:
            scores = score_fn(users)
            expected = (users.numel(), self.num_items)
            if tuple(scores.shape) != expected:
                raise ValueError(f"score_fn returned shape {tuple(scores.shape)}; expected {expected}")
            return scores.to(self.device).gather(1, self._items[rows])

        return self._run(candidate_scores)

    @torch.no_grad()
    def evaluate_pairs(self, pair_score_fn: Callable[[Tensor, Tensor], Tensor]) -> Dict[str, float]:
        """Metrics of the ranking given by ``pair_score_fn(users, items) -> [n]``,
        called on aligned 1-D index tensors (on ``device``) of the candidate
        pairs of up to ``batch_size`` users at a time."""

        def candidate_scores(rows: slice, users: Tensor) -> Tensor:
            valid = self._valid[rows]
            pair_users = users.unsqueeze(1).expand_as(valid)[valid]
            scores = pair_score_fn(pair_users, self._items[rows][valid]).reshape(-1).to(self.device)
            if scores.numel() != pair_users.numel():
                raise ValueError(f"pair_score_fn returned {scores.numel()} scores for {pair_users.numel()} pairs")
            if not scores.is_floating_point():
                scores = scores.double()  # the padding is -inf
            table = torch.full(valid.shape, float("-inf"), dtype=scores.dtype, device=self.device)
            table[valid] = scores
            return table

        return self._run(candidate_scores)

    # -- metrics -----------------------------------------------------------------
    def _run(self, candidate_scores: Callable[[slice, Tensor], Tensor]) -> Dict[str, float]:
        device = self.device
        max_k = max(self.ks)
        sums: Dict[str, Tensor] = {}
        auc_wins = torch.zeros((), dtype=torch.float64, device=device)
        flat_scores: List[Tensor] = []
        flat_labels: List[Tensor] = []
        found_nan = torch.zeros((), dtype=torch.bool, device=device)

        for start in range(0, self.users.numel(), self.batch_size):
            rows = slice(start, start + self.batch_size)
            scores = candidate_scores(rows, self.users[rows])
            if not scores.is_floating_point():
                scores = scores.double()  # exact for integers up to 2**53
            elif scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()  # searchsorted needs full-precision types on some devices
            labels, valid = self._labels[rows], self._valid[rows]
            found_nan |= (scores.isnan() & valid).any()
            # Padding goes last: it sits after every candidate of the row, and
            # the stable sort keeps it behind a real -inf score.
            padded = torch.where(valid, scores, torch.full_like(scores, float("-inf")))
            order = padded.sort(dim=1, descending=True, stable=True).indices
            hits = labels.gather(1, order)
            if hits.shape[1] < max_k:  # fewer candidates than k: empty slots
                hits = torch.cat([hits, hits.new_zeros((hits.shape[0], max_k - hits.shape[1]))], dim=1)
            num_positive = self._num_positive[rows]
            counted = num_positive > 0
            per_user = ranking_metrics(hits[:, :max_k], num_positive.clamp(min=1), self.ks, self.metrics)
            for key, value in per_user.items():
                total = torch.where(counted, value, torch.zeros_like(value)).sum()
                sums[key] = sums.get(key, torch.zeros((), dtype=torch.float64, device=device)) + total
            if self.auc:
                wins, pairs = auc_from_scores(scores, labels, valid)
                both = pairs > 0
                auc_wins += torch.where(both, wins / pairs.clamp(min=1), torch.zeros_like(wins)).sum()
                flat_scores.append(scores[valid].to(torch.float64))
                flat_labels.append(labels[valid])

        if bool(found_nan):
            raise ValueError("the scores of some candidates are NaN")
        names = [f"{name}@{k}" for name in self.metrics for k in self.ks]
        values = [sums[name] / self.num_users for name in names]
        if self.auc:
            wins, pairs = auc_from_scores(torch.cat(flat_scores), torch.cat(flat_labels))
            nan = torch.full((), float("nan"), dtype=torch.float64, device=device)
            names += ["auc", "user_auc"]
            values += [
                wins / pairs if self.num_positives < self.num_candidates else nan,
                auc_wins / self.num_auc_users if self.num_auc_users else nan,
            ]
        return dict(zip(names, torch.stack(values).tolist()))


# -- candidate sets ------------------------------------------------------------------
def coat_candidates(
    source: Union[str, "os.PathLike[str]", RecDataset], threshold: float = 4
) -> Tuple[Interactions, np.ndarray]:
    """Coat's random-exposure test set as ``(candidates, labels)``.

    ``source`` is the Coat folder (read by
    :func:`graphrec.data.read_coat` with ``threshold=None``) or a dataset read
    that way. Every observed rating of ``test.ascii`` is a candidate (Coat: 16
    per user, 4,640 in all); its label is ``rating >= threshold``. The id
    space is ``read_coat``'s (row and column numbers), the same as that of a
    training set read with any threshold. Raises ``ValueError`` when the
    dataset's test split has no ratings or holds positives only (it was read
    with a threshold, which drops the negatives).
    """
    if isinstance(source, RecDataset):
        test = source.test
    else:
        from .data.readers.coat import read_coat

        test = read_coat(source, threshold=None).test
    if test.rating is None:
        raise ValueError("the Coat test split has no ratings to label the candidates with")
    labels = test.rating >= threshold
    if len(test) and labels.all() and test.rating.min() > 1:
        raise ValueError(
            f"every test rating is >= {threshold}: the dataset was read with a threshold, which drops "
            "the negative candidates; read it with read_coat(folder, threshold=None)"
        )
    return test, labels


def exposure_candidates(world: "SyntheticWorld") -> Tuple[Interactions, np.ndarray]:
    """The synthetic world's random-exposure set as ``(candidates, labels)``:
    every randomly exposed pair, labelled by its click (``rating == 1``).
    Pass ``exclude=[world.dataset.train]`` to the evaluator to leave out the
    few exposed pairs that repeat a training click."""
    exposure = world.random_exposure
    return exposure, exposure.rating > 0
