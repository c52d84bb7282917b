"""Training samplers: which (user, positive) pairs an epoch trains on, and negatives.

Positives. By default the trainer iterates over the training interactions,
each once per epoch in a random order, so a user weighs in proportion to its
activity. :class:`UserUniformPairSampler` is the other scheme in common use,
the one of LightGCN's and NGCF's official code: draw a user uniformly, then
one of its training items uniformly.

Negatives. Both negative samplers draw candidates from a proposal distribution
over all items and reject the user's training positives by exact membership
tests: a pair ``(u, i)`` is a positive iff ``u * num_items + i`` occurs in the
sorted tensor of training pair keys (``torch.searchsorted``). Rejected draws
are redrawn, only those, until none is left, so a negative follows the proposal
distribution restricted to the user's eligible items, exactly. Everything stays
on the sampler's device; the loop runs once per redraw round, never per user
or per draw.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .interactions import Interactions

__all__ = ["PairSet", "UserUniformPairSampler", "UniformNegativeSampler", "PopularityNegativeSampler"]

Device = Union[torch.device, str]


class PairSet:
    """The distinct (user, item) pairs of some interactions, for exact membership tests on a device.

    ``keys`` holds the sorted distinct ``user * num_items + item``; a pair is a
    member iff its key occurs there, found with one ``torch.searchsorted``.
    """

    def __init__(self, interactions: Interactions, *, device: Device = "cpu") -> None:
        self.num_items = interactions.num_items
        self.keys = torch.from_numpy(np.unique(interactions.pair_keys())).to(torch.device(device))

    def contains(self, users: Tensor, items: Tensor) -> Tensor:
        """Boolean tensor shaped like ``items``: is ``(users[k], items[k])`` a member."""
        keys = users * self.num_items + items
        if self.keys.numel() == 0:
            return torch.zeros_like(keys, dtype=torch.bool)
        position = torch.searchsorted(self.keys, keys).clamp_(max=self.keys.numel() - 1)
        return self.keys[position] == keys


class UserUniformPairSampler:
    r"""(user, positive item) pairs drawn user-first, as LightGCN's and NGCF's official samplers do.

    Each draw picks a user uniformly among the users with at least one training
    interaction, then one of that user's distinct training items uniformly:

    .. math::
        P(u, i) = \frac{1}{|U^+|\,|I_u|} \quad \text{for } i \in I_u,

    where :math:`U^+` is the set of users with training items and :math:`I_u`
    the distinct training items of :math:`u`. Iterating over the interactions
    instead gives :math:`P(u, i) = 1 / N` (each once per epoch): a user with
    many interactions then contributes many more examples. The official code
    (``UniformSample_original`` of LightGCN-PyTorch, ``sample`` of the
    TensorFlow LightGCN and NGCF) draws ``N`` = number of training
    interactions pairs per epoch, which :class:`graphrec.train.Trainer` does
    too with ``positive_sampling="users"``.
    """

    def __init__(self, train: Interactions, *, device: Device = "cpu") -> None:
        if len(train) == 0:
            raise ValueError("UserUniformPairSampler needs at least one training interaction")
        self.device = torch.device(device)
        self.num_users = train.num_users
        self.num_items = train.num_items
        keys = np.unique(train.pair_keys())  # sorted: grouped by user, one entry per distinct pair
        users = keys // self.num_items
        counts = np.bincount(users, minlength=self.num_users)
        self.active_users = torch.from_numpy(np.flatnonzero(counts)).to(self.device)
        self.indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)])).to(self.device)
        self.items = torch.from_numpy(keys % self.num_items).to(self.device)

    def sample(self, count: int, *, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """``(users, items)``: ``count`` independent draws, two int64 tensors on the sampler's device."""
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"count must be a non-negative integer, got {count!r}")
        pick = torch.randint(self.active_users.numel(), (int(count),), generator=generator, device=self.device)
        users = self.active_users[pick]
        start = self.indptr[users]
        degree = self.indptr[users + 1] - start
        # float64 keeps floor(u * degree) uniform over 0..degree-1 for any realistic degree;
        # the clamp guards the (measure-zero) rounding of u * degree up to degree
        uniform = torch.rand(int(count), dtype=torch.float64, generator=generator, device=self.device)
        offset = torch.minimum((uniform * degree).long(), degree - 1)
        return users, self.items[start + offset]

    def __repr__(self) -> str:
        return (
            f"UserUniformPairSampler({self.active_users.numel()} users with training items, "
            f"{self.items.numel()} distinct pairs, device={self.device})"
        )


class _RejectionNegativeSampler:
    """Shared machinery: positive keys, argument checks and the rejection loop.

    Subclasses set ``self._eligible_items`` (bool per item: can the proposal
    draw it) before calling :meth:`_index_positives`, and implement
    :meth:`_draw`.
    """

    def __init__(self, train: Interactions, device: Device) -> None:
        self.device = torch.device(device)
        self.num_users = train.num_users
        self.num_items = train.num_items
        self._user_ids = train.user_ids

    def _index_positives(self, train: Interactions, eligible_items: np.ndarray) -> None:
        self._positives = PairSet(train, device=self.device)
        keys = self._positives.keys.cpu().numpy()  # sorted, one key per distinct pair
        # A user is exhausted when its positives cover every item the proposal can draw.
        positive_user = keys // self.num_items
        positive_item = keys % self.num_items
        covered = np.bincount(positive_user[eligible_items[positive_item]], minlength=self.num_users)
        exhausted = covered >= int(eligible_items.sum())
        self._exhausted = torch.from_numpy(exhausted).to(self.device)

    def _draw(self, count: int, generator: Optional[torch.Generator]) -> Tensor:
        raise NotImplementedError

    def sample(
        self,
        users: Tensor,
        num_negatives: int = 1,
        *,
        generator: Optional[torch.Generator] = None,
    ) -> Tensor:
        """``[len(users), num_negatives]`` int64 item indices on the sampler's device.

        Row ``k`` holds independent draws for user ``users[k]``, each avoiding
        that user's training items. ``generator`` (on the sampler's device)
        makes the draws reproducible. Raises ``ValueError`` for a user index
        out of range or a user with no item left to sample.
        """
        users = torch.as_tensor(users, device=self.device)
        if users.dim() != 1:
            raise ValueError(f"users must be one-dimensional, got shape {tuple(users.shape)}")
        if users.numel() and (users.dtype.is_floating_point or users.dtype.is_complex or users.dtype == torch.bool):
            raise TypeError(f"users must hold integer indices, got dtype {users.dtype}")
        if isinstance(num_negatives, bool) or not isinstance(num_negatives, (int, np.integer)) or num_negatives < 1:
            raise ValueError(f"num_negatives must be a positive integer, got {num_negatives!r}")
        users = users.long()
        if users.numel() == 0:
            return torch.empty((0, num_negatives), dtype=torch.long, device=self.device)
        low, high = int(users.min()), int(users.max())
        if low < 0 or high >= self.num_users:
            raise ValueError(f"user indices must lie in [0, {self.num_users}), got [{low}, {high}]")
        exhausted = users[self._exhausted[users]].unique()
        if exhausted.numel():
            index = exhausted[:3].cpu().numpy()
            raise ValueError(
                f"{exhausted.numel()} user(s) interacted in training with every item this sampler can draw, "
                f"so no negative exists: user indices {index.tolist()} (raw ids {self._user_ids.raw_of(index).tolist()})"
            )

        flat_users = users.repeat_interleave(num_negatives)
        items = self._draw(flat_users.numel(), generator)
        pending = torch.nonzero(self._positives.contains(flat_users, items)).squeeze(1)
        while pending.numel():
            redrawn = self._draw(pending.numel(), generator)
            items[pending] = redrawn
            pending = pending[self._positives.contains(flat_users[pending], redrawn)]
        return items.view(users.numel(), num_negatives)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.num_users} users x {self.num_items} items, device={self.device})"


class UniformNegativeSampler(_RejectionNegativeSampler):
    """Negatives drawn uniformly from the items a user has not interacted with in ``train``.

    ``P(i | u) = 1 / (num_items - |I_u|)`` for every item ``i`` outside the
    user's training items ``I_u``. Sampling for a user with ``I_u`` = all items
    raises ``ValueError`` naming the user.
    """

    def __init__(self, train: Interactions, *, device: Device = "cpu") -> None:
        super().__init__(train, device)
        self._index_positives(train, np.ones(self.num_items, dtype=bool))

    def _draw(self, count: int, generator: Optional[torch.Generator]) -> Tensor:
        return torch.randint(self.num_items, (count,), generator=generator, device=self.device)


class PopularityNegativeSampler(_RejectionNegativeSampler):
    """Negatives drawn in proportion to training popularity raised to ``exponent``.

    With ``c_i`` the number of training interactions of item ``i`` and the item
    weight ``w_i = c_i ** exponent`` (``w_i = 0`` when ``c_i = 0`` and
    ``exponent != 0``; ``w_i = 1`` for every item when ``exponent == 0``),

        P(i | u) = w_i / sum_{j not in I_u} w_j    for i not in I_u,

    so ``exponent=0`` is the uniform sampler and ``0.75`` is word2vec's smoothed
    unigram distribution. A negative exponent (any finite value is accepted)
    favours the long tail; items never seen in training are still excluded.
    Sampling for a user whose training items cover every positive-weight item
    raises ``ValueError`` naming the user.
    """

    def __init__(self, train: Interactions, *, exponent: float = 0.75, device: Device = "cpu") -> None:
        exponent = float(exponent)
        if not math.isfinite(exponent):
            raise ValueError(f"exponent must be finite, got {exponent}")
        super().__init__(train, device)
        self.exponent = exponent
        counts = train.item_counts().astype(np.float64)
        if exponent == 0.0:
            weights = np.ones(self.num_items, dtype=np.float64)
        else:
            # Guarding the power keeps 0 ** negative (inf) out of the weights.
            weights = np.where(counts > 0, np.power(np.where(counts > 0, counts, 1.0), exponent), 0.0)
        self.weights = torch.from_numpy(weights).to(self.device)
        cumulative = np.cumsum(weights)
        total = cumulative[-1] if len(cumulative) else 0.0
        # Dividing by the cumsum's own last value makes the cdf end at exactly
        # 1.0, so a uniform u in [0, 1) always lands on a positive-weight item
        # through searchsorted(side="right") (zero-weight items add no step).
        cdf = cumulative / total if total > 0 else np.ones(self.num_items)
        self._cdf = torch.from_numpy(cdf).to(self.device)
        self._index_positives(train, weights > 0)

    def _draw(self, count: int, generator: Optional[torch.Generator]) -> Tensor:
        uniform = torch.rand(count, dtype=torch.float64, generator=generator, device=self.device)
        return torch.searchsorted(self._cdf, uniform, right=True)

    def __repr__(self) -> str:
        return (
            f"PopularityNegativeSampler({self.num_users} users x {self.num_items} items, "
            f"exponent={self.exponent}, device={self.device})"
        )
