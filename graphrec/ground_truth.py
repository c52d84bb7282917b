r"""Metrics against a known truth: the synthetic world's true preference and
realised relevance (:class:`graphrec.data.SyntheticWorld`).

Observed clicks are a popularity-biased sample of what users like, so metrics
on held-out clicks reward a model for recovering the bias too. On the
synthetic world the truth is known, and :class:`PreferenceEvaluator` measures
the ranking against it. For each user ``u``, with ``A_u`` the items that are
not excluded for ``u`` (by default: not a training or validation click),
``L_u`` the model's top-``k`` list over ``A_u`` (score descending, equal scores
by lower item index, as in :class:`graphrec.evaluate.Evaluator`; an item
scored ``-inf`` is not listed) and ``p^*_{u,(r)}`` the ``r``-th largest true
preference in ``A_u``:

.. math::
    \mathrm{preference\_ndcg@k}(u) =
        \frac{\sum_{r=1}^{|L_u|} p_{u, L_u[r]} / \log_2(r + 1)}
             {\sum_{r=1}^{\min(k, |A_u|)} p^*_{u,(r)} / \log_2(r + 1)}

(graded gains equal to the preference :math:`p_{ui} \in (0, 1)`, linear, the
ideal list being the ``k`` most preferred available items), averaged over the
users with an available item of positive preference. With the realised relevance
:math:`R_{ui}` (``world.relevance``), ``Rel_u = \{i \in A_u : R_{ui} = 1\}``
are the items ``u`` would click if shown, exposed or not, and

.. math::
    \mathrm{relevance\_recall@k}(u) = |L_u \cap Rel_u| / |Rel_u|, \qquad
    \mathrm{relevance\_precision@k}(u) = |L_u \cap Rel_u| / k,

averaged over the users with ``Rel_u`` non-empty.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .data.interactions import Interactions
from .evaluate import top_k
from .metrics import ranking_metrics

if TYPE_CHECKING:
    from .data.synthetic_world import SyntheticWorld

__all__ = ["PreferenceEvaluator", "preference_ndcg"]

Device = Union[torch.device, str]


def _discount(width: int, device: torch.device) -> Tensor:
    """``1 / log2(r + 1)`` for ranks ``r = 1..width``, float64."""
    return 1.0 / torch.log2(torch.arange(2, width + 2, dtype=torch.float64, device=device))


class PreferenceEvaluator:
    """NDCG against the true preference, and recall / precision against the realised
    relevance, of a scoring function; formulas in the module docstring.

    ``preference`` is the dense ``[num_users, num_items]`` matrix of true
    preferences (non-negative gains); ``relevance`` (optional, bool, same
    shape) the realised relevance; ``exclude`` the pairs not ranked. Both
    matrices and the exclusion mask live on ``device`` (about 9 bytes per
    user-item pair), and the ideal DCG is computed once here. :meth:`evaluate`
    follows the trainer's ``score_fn`` protocol, so an instance can be the
    trainer's test (or valid) evaluator. :meth:`from_world` builds one from a
    synthetic world.
    """

    def __init__(
        self,
        preference: Union[np.ndarray, Tensor],
        *,
        relevance: Optional[Union[np.ndarray, Tensor]] = None,
        exclude: Sequence[Interactions] = (),
        ks: Sequence[int] = (20,),
        batch_size: int = 4096,
        device: Device = "cpu",
        break_ties: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.preference = torch.as_tensor(preference).to(self.device)
        if self.preference.dim() != 2:
            raise ValueError(f"preference must be [num_users, num_items], got shape {tuple(self.preference.shape)}")
        if not self.preference.is_floating_point():
            self.preference = self.preference.double()
        if bool((self.preference < 0).any()) or bool(self.preference.isnan().any()):
            raise ValueError("preference must hold non-negative numbers (the gains of NDCG)")
        num_users, num_items = self.preference.shape
        self.num_items = num_items
        self.relevance: Optional[Tensor] = None
        if relevance is not None:
            self.relevance = torch.as_tensor(relevance).to(device=self.device, dtype=torch.bool)
            if self.relevance.shape != self.preference.shape:
                raise ValueError(
                    f"relevance has shape {tuple(self.relevance.shape)}, preference {tuple(self.preference.shape)}"
                )
        self.ks: Tuple[int, ...] = tuple(dict.fromkeys(int(k) for k in ks))
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"ks must be positive integers, got {list(ks)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.batch_size = int(batch_size)
        self.break_ties = bool(break_ties)

        self.excluded = torch.zeros((num_users, num_items), dtype=torch.bool, device=self.device)
        for part in exclude:
            if part.num_users != num_users or part.num_items != num_items:
                raise ValueError(
                    f"exclude has {part.num_users} users x {part.num_items} items; "
                    f"preference has {num_users} x {num_items}"
                )
            rows, columns = (torch.from_numpy(index).to(self.device) for index in (part.user, part.item))
            self.excluded[rows, columns] = True

        # Ideal DCG@k per user: the k largest available preferences.
        width = min(max(self.ks), num_items)
        discount = _discount(width, self.device)
        ideal: Dict[int, List[Tensor]] = {k: [] for k in self.ks}
        relevant_counts: List[Tensor] = []
        for start in range(0, num_users, self.batch_size):
            rows = slice(start, start + self.batch_size)
            available = self.preference[rows].to(torch.float64).masked_fill(self.excluded[rows], float("-inf"))
            best = torch.topk(available, width, dim=1).values
            gains = torch.where(best == float("-inf"), torch.zeros_like(best), best) * discount
            cumulative = gains.cumsum(dim=1)
            for k in self.ks:
                ideal[k].append(cumulative[:, min(k, width) - 1])
            if self.relevance is not None:
                relevant_counts.append((self.relevance[rows] & ~self.excluded[rows]).sum(dim=1))
        self._ideal = {k: torch.cat(parts) for k, parts in ideal.items()}
        # A user whose available items all have preference 0 has no ideal list to normalise by
        # (the same users for every k: the ideal DCG is positive iff the best available gain is).
        self._counted = self._ideal[self.ks[0]] > 0
        self.num_users = int(self._counted.sum())
        if self.num_users == 0:
            raise ValueError("no user has an available item of positive preference")
        self._num_relevant = torch.cat(relevant_counts) if relevant_counts else None

    @classmethod
    def from_world(
        cls,
        world: "SyntheticWorld",
        *,
        split: Literal["test", "valid"] = "test",
        ks: Sequence[int] = (20,),
        **options,
    ) -> "PreferenceEvaluator":
        """The evaluator of ``world``'s true preference and relevance for the
        ``split`` evaluation: ``"test"`` excludes the training and validation
        clicks, ``"valid"`` the training clicks (the trainer's masks). ``options``
        go to ``__init__`` (``batch_size``, ``device``, ...)."""
        dataset = world.dataset
        if split == "test":
            exclude = [dataset.train, dataset.valid]
        elif split == "valid":
            exclude = [dataset.train]
        else:
            raise ValueError(f"split must be 'test' or 'valid', got {split!r}")
        return cls(world.preference, relevance=world.relevance, exclude=exclude, ks=ks, **options)

    def __repr__(self) -> str:
        return (
            f"PreferenceEvaluator({self.num_users} users x {self.num_items} items, ks={list(self.ks)}, "
            f"relevance={self.relevance is not None}, device={self.device})"
        )

    @torch.no_grad()
    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> Dict[str, float]:
        """Average ``preference_ndcg@k`` (and ``relevance_recall@k``,
        ``relevance_precision@k`` when the relevance is known) of the ranking
        given by ``score_fn(users) -> [len(users), num_items]`` (the protocol of
        :meth:`graphrec.evaluate.Evaluator.evaluate`; ``users`` is a 1-D int64
        tensor on ``device``). Raises ``ValueError`` on NaN scores."""
        device, num_items = self.device, self.num_items
        num_users = self.preference.shape[0]
        max_k = max(self.ks)
        width = min(max_k, num_items)
        discount = _discount(max_k, device)
        zero = torch.zeros((), dtype=torch.float64, device=device)
        sums: Dict[str, Tensor] = {}
        found_nan = torch.zeros((), dtype=torch.bool, device=device)

        for start in range(0, num_users, self.batch_size):
            rows = slice(start, start + self.batch_size)
            users = torch.arange(start, min(start + self.batch_size, num_users), device=device)
            scores = score_fn(users)
            expected = (users.numel(), num_items)
            if tuple(scores.shape) != expected:
                raise ValueError(f"score_fn returned shape {tuple(scores.shape)}; expected {expected}")
            scores = scores.to(device)
            if not scores.is_floating_point():
                scores = scores.double()
            found_nan |= scores.isnan().any()
            scores = scores.masked_fill(self.excluded[rows], float("-inf"))
            values, items = top_k(scores, width, break_ties=self.break_ties)
            filled = values != float("-inf")
            if width < max_k:  # k beyond the catalogue: empty slots
                pad = max_k - width
                items = torch.cat([items, items.new_zeros((items.shape[0], pad))], dim=1)
                filled = torch.cat([filled, filled.new_zeros((filled.shape[0], pad))], dim=1)

            gains = self.preference[rows].gather(1, items).to(torch.float64) * filled
            dcg = (gains * discount).cumsum(dim=1)
            counted = self._counted[rows]
            for k in self.ks:
                ndcg = dcg[:, k - 1] / torch.where(counted, self._ideal[k][rows], torch.ones_like(dcg[:, 0]))
                key = f"preference_ndcg@{k}"
                sums[key] = sums.get(key, zero) + torch.where(counted, ndcg, zero).sum()
            if self.relevance is not None:
                hits = self.relevance[rows].gather(1, items) & filled
                num_relevant = self._num_relevant[rows]
                counted = num_relevant > 0
                per_user = ranking_metrics(hits, num_relevant.clamp(min=1), self.ks, ("recall", "precision"))
                for name, value in per_user.items():
                    key = f"relevance_{name}"
                    sums[key] = sums.get(key, zero) + torch.where(counted, value, zero).sum()

        if bool(found_nan):
            raise ValueError("score_fn returned NaN scores")
        names = [f"preference_ndcg@{k}" for k in self.ks]
        values = [sums[name] / self.num_users for name in names]
        if self.relevance is not None:
            relevant_users = int((self._num_relevant > 0).sum())
            for name in ("recall", "precision"):
                for k in self.ks:
                    names.append(f"relevance_{name}@{k}")
                    values.append(sums[names[-1]] / relevant_users if relevant_users else zero * float("nan"))
        return dict(zip(names, torch.stack(values).tolist()))


def preference_ndcg(
    score_fn: Callable[[Tensor], Tensor],
    world: "SyntheticWorld",
    *,
    ks: Sequence[int] = (20,),
    exclude: Optional[Sequence[Interactions]] = None,
    device: Device = "cpu",
    batch_size: int = 4096,
) -> Dict[str, float]:
    """One-shot :class:`PreferenceEvaluator` on ``world``: the metrics of
    ``score_fn`` with ``exclude`` masked (default: the world's training and
    validation clicks, the test-time mask)."""
    if exclude is None:
        exclude = [world.dataset.train, world.dataset.valid]
    evaluator = PreferenceEvaluator(
        world.preference, relevance=world.relevance, exclude=exclude, ks=ks, device=device, batch_size=batch_size
    )
    return evaluator.evaluate(score_fn)
