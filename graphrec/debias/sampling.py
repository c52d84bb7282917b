r"""DICE's popularity-based negative sampling (Zheng et al., WWW 2021; the official ``DICESampler``).

For a positive :math:`(u, i)` with training count :math:`c_i`, the candidate
negatives are split by popularity:

- *more popular*: items with :math:`c_j > c_i + \text{margin}`;
- *less popular*: items with :math:`c_j < c_i / 2`.

If fewer than ``pool`` items are more popular, every negative comes from the
less popular set; else if fewer than ``pool`` are less popular, every negative
comes from the more popular set; otherwise each negative picks one of the two
sets with probability 1/2. Within a set the draw is uniform, and the user's
training items are rejected and redrawn (exact: a negative is uniform over
the set minus the user's items). DICE decays the margin by ``margin_decay``
each epoch (:attr:`PopularityMarginSampler.margin` is set by the debiaser).

Two cases the official code does not handle fall back to a uniform negative
(:class:`~graphrec.data.sampling.UniformNegativeSampler`): the chosen set is
empty (both sets are smaller than ``pool`` and the less popular one is empty,
e.g. for the least popular positives), or after ``max_rounds`` redraws the
user's items still cover every draw (a set made almost only of them).

Everything runs on the sampler's device: the sets are ranges of the items
sorted by count, found with ``searchsorted``; one loop iteration per redraw
round, none per user or item.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from ..data.interactions import Interactions
from ..data.sampling import PairSet, UniformNegativeSampler

__all__ = ["PopularityMarginSampler"]


class PopularityMarginSampler:
    """Negatives more or less popular than their positive by a margin; see the module docstring.

    Args:
        train: training interactions (counts and the positives to avoid).
        margin: count margin of the more popular set (>= 0).
        pool: minimum size of a set for it to be used while the other one is large enough (>= 1).
        device: where the tables live and the draws happen.
        max_rounds: redraw rounds before the remaining draws fall back to uniform negatives.
    """

    def __init__(
        self,
        train: Interactions,
        *,
        margin: float = 40.0,
        pool: int = 40,
        device: Union[str, torch.device] = "cpu",
        max_rounds: int = 100,
    ) -> None:
        self.device = torch.device(device)
        self.margin = float(margin)
        self.pool = int(pool)
        self.max_rounds = int(max_rounds)
        self.num_items = train.num_items
        counts = train.item_counts()
        order = np.argsort(counts, kind="stable")
        self.counts = torch.from_numpy(counts.astype(np.float64)).to(self.device)
        self._order = torch.from_numpy(order).to(self.device)
        self._sorted_counts = torch.from_numpy(counts[order].astype(np.float64)).to(self.device)
        self._positives = PairSet(train, device=self.device)
        self._uniform = UniformNegativeSampler(train, device=self.device)

    def candidate_sets(self, positives: Tensor) -> "tuple[Tensor, Tensor]":
        """``(start, size)`` of the more popular set ``[start, num_items)`` and the size
        of the less popular set ``[0, size)``, as ranges of the items sorted by count."""
        count = self.counts[positives]
        more_start = torch.searchsorted(self._sorted_counts, count + self.margin, right=True)
        less_size = torch.searchsorted(self._sorted_counts, count / 2, right=False)
        return more_start, less_size

    def sample(
        self, users: Tensor, positives: Tensor, num_negatives: int = 1, *, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """``[len(users), num_negatives]`` negatives for the pairs ``(users[b], positives[b])``."""
        users = torch.as_tensor(users, device=self.device).long()
        positives = torch.as_tensor(positives, device=self.device).long()
        if users.shape != positives.shape or users.dim() != 1:
            raise ValueError(f"users and positives must be 1-d of one length, got {tuple(users.shape)}, {tuple(positives.shape)}")
        k = int(num_negatives)
        if k < 1:
            raise ValueError(f"num_negatives must be a positive integer, got {num_negatives!r}")
        more_start, less_size = self.candidate_sets(positives)
        more_size = self.num_items - more_start
        flat_users = users.repeat_interleave(k)
        coin = torch.rand(flat_users.numel(), generator=generator, device=self.device) < 0.5
        use_more = self._choose(more_size, less_size, coin.view(-1, k)).reshape(-1)
        start = torch.where(use_more, more_start.repeat_interleave(k), torch.zeros_like(flat_users))
        size = torch.where(use_more, more_size.repeat_interleave(k), less_size.repeat_interleave(k))

        items = torch.empty_like(flat_users)
        pending = torch.nonzero(size > 0).squeeze(1)
        fallback = [torch.nonzero(size == 0).squeeze(1)]
        for _ in range(self.max_rounds):
            if pending.numel() == 0:
                break
            offset = (torch.rand(pending.numel(), generator=generator, device=self.device, dtype=torch.float64)
                      * size[pending]).long()
            offset = torch.minimum(offset, size[pending] - 1)
            drawn = self._order[start[pending] + offset]
            items[pending] = drawn
            pending = pending[self._positives.contains(flat_users[pending], drawn)]
        fallback.append(pending)
        rest = torch.cat(fallback)
        if rest.numel():
            items[rest] = self._uniform.sample(flat_users[rest], 1, generator=generator).squeeze(1)
        return items.view(users.numel(), k)

    def _choose(self, more_size: Tensor, less_size: Tensor, coin: Tensor) -> Tensor:
        """Per draw, whether it comes from the more popular set (``[b, k]`` bool)."""
        more_small = (more_size < self.pool).unsqueeze(1)
        less_small = (less_size < self.pool).unsqueeze(1)
        return torch.where(more_small, torch.zeros_like(coin), torch.where(less_small, torch.ones_like(coin), coin))

    def __repr__(self) -> str:
        return (
            f"PopularityMarginSampler({self.num_items} items, margin={self.margin}, pool={self.pool}, "
            f"device={self.device})"
        )
