"""The interface through which a causal-debiasing method plugs into the trainer.

The shared trainer calls a debiaser at three points, and the default (no
debiasing) is the identity at each:

1. ``train_score(score, users, items)``: the score used in the training loss,
   from the model's raw score ``score`` of (user, item) pairs (e.g. PDA
   multiplies by popularity^gamma; MACR adds user and item branches).
2. ``loss(positive, negative, users, positive_items, negative_items, base_loss)``:
   the training loss given the per-example ``base_loss`` tensor (unreduced) and
   the scores; e.g. IPS reweights each example by 1/propensity. Returns a scalar.
3. ``inference_score(scores, users)``: ``[len(users), num_items]`` scores used
   for ranking at evaluation (e.g. MACR subtracts its counterfactual term; PD
   drops popularity).

A debiaser is an ``nn.Module`` so it may own parameters (MACR's branches),
which the trainer optimises with the model's. ``auxiliary_loss`` adds a term.
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn


class Debiaser(nn.Module):
    """No debiasing: the identity at the three call points. Subclass to change one."""

    def train_score(self, score: Tensor, users: Tensor, items: Tensor) -> Tensor:
        return score

    def loss(
        self,
        base_loss: Tensor,
        *,
        users: Tensor,
        positive_items: Tensor,
        negative_items: Tensor,
        positive_score: Tensor,
        negative_score: Tensor,
    ) -> Tensor:
        """Reduce the per-example ``base_loss`` to the scalar that is optimised (default: mean)."""
        return base_loss.mean()

    def inference_score(self, scores: Tensor, users: Tensor) -> Tensor:
        return scores

    def auxiliary_loss(self, users: Tensor, positive_items: Tensor, negative_items: Tensor) -> Optional[Tensor]:
        return None
