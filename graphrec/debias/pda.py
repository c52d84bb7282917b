r"""PD / PDA: popularity-deconfounded training and adjusted inference (Zhang et al., SIGIR 2021).

Training models the click as the user-item match times the item's popularity
at the time of the interaction, so that the match is learnt free of the
popularity confounder:

.. math::
    \hat y_{ui} = \operatorname{ELU}'(f(u, i)) \cdot (m_i^t)^{\gamma}, \qquad
    \operatorname{ELU}'(x) = \operatorname{elu}(x) + 1 > 0,

with :math:`f` the model's score, trained with the trainer's loss (BPR in the
paper). :math:`m_i^t` is the item's popularity in time stage :math:`t` of the
interaction (the negatives of a positive take its stage), min-max normalised
per stage as in the official code (:func:`~graphrec.debias.popularity.minmax_popularity`).
With ``stages = 1`` (the default, and the only choice without timestamps) it
is the item's popularity over the whole training data.

Inference (``inference``):

- ``pd``: deconfounded ranking by :math:`\operatorname{ELU}'(f(u, i))`, the
  popularity dropped (the same order as :math:`f`);
- ``pda``: :math:`\operatorname{ELU}'(f(u, i)) \cdot \tilde m_i^{\tilde\gamma}`,
  adjusted with the popularity expected at test time: :math:`\tilde m_i` is
  the min-max popularity of the training interactions in the latest
  ``window`` fraction of the time span when the data has timestamps (the
  paper's "last stage" popularity), else the overall training popularity;
  :math:`\tilde\gamma` is ``gamma_tilde`` (default :math:`\gamma`).

:math:`\gamma = 0` makes every popularity factor 1 (``0 ** 0 = 1``): the
training score is :math:`\operatorname{ELU}'(f)` and both inference modes rank as :math:`f`.
Default :math:`\gamma = 0.1` is the official code's ``--pop_exp``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.dataset import RecDataset
from ..models.base import Recommender
from . import arguments
from .base import Debiaser, ScoredBatch, TrainingScores
from .popularity import latest_window, minmax_popularity, pair_stages, time_stages

__all__ = ["PDA", "elu_plus_one"]

logger = logging.getLogger(__name__)

INFERENCE_MODES = ("pda", "pd")


def elu_plus_one(x: Tensor) -> Tensor:
    r""":math:`\operatorname{elu}(x) + 1`: a positive, increasing match score."""
    return F.elu(x) + 1.0


class PDA(Debiaser):
    """Popularity-deconfounded training and PD / PDA inference; see the module docstring.

    Args:
        dataset: its training interactions give the popularity (and their timestamps the stages).
        model: unused.
        gamma: :math:`\\gamma >= 0`, the popularity exponent in training.
        inference: ``pda`` (adjust with the latest popularity) or ``pd`` (drop it).
        gamma_tilde: :math:`\\tilde\\gamma >= 0` at inference (default ``gamma``).
        window: the latest fraction of the training time span, in ``(0, 1]``,
            whose popularity PDA ranks with (ignored without timestamps).
        stages: number of equal time stages of the local popularity in training
            (1: overall popularity; more needs timestamps).
    """

    name = "pda"

    def __init__(
        self,
        dataset: RecDataset,
        model: Optional[Recommender] = None,
        *,
        gamma: float = 0.1,
        inference: str = "pda",
        gamma_tilde: Optional[float] = None,
        window: float = 0.1,
        stages: int = 1,
    ) -> None:
        super().__init__()
        options = self.validate(gamma=gamma, inference=inference, gamma_tilde=gamma_tilde, window=window, stages=stages)
        self.gamma: float = options["gamma"]
        self.inference: str = options["inference"]
        self.gamma_tilde: float = options["gamma_tilde"]
        self.window: float = options["window"]
        self.stages: int = options["stages"]
        train = dataset.train
        num_items = train.num_items
        has_time = train.timestamp is not None and len(train) > 0
        if self.stages > 1 and not has_time:
            raise ValueError(
                f"pda: stages {self.stages} needs timestamps and {dataset.name}'s training data has none "
                "(allowed for it: stages: 1)"
            )
        stage = time_stages(train.timestamp, self.stages) if has_time else np.zeros(len(train), dtype=np.int64)
        counts = np.bincount(stage * num_items + train.item, minlength=self.stages * num_items)
        local = minmax_popularity(counts.reshape(self.stages, num_items))
        recent = latest_window(train, self.window) if has_time else train
        if not has_time:
            logger.info("pda: %s has no timestamps; PDA inference uses the overall training popularity", dataset.name)
        # derived from the dataset and the options: non-persistent buffers, recomputed on resume
        self.register_buffer("training_factor", torch.from_numpy((local ** self.gamma).astype(np.float32)), persistent=False)
        inference_factor = minmax_popularity(recent.item_counts()) ** self.gamma_tilde
        self.register_buffer("inference_factor", torch.from_numpy(inference_factor.astype(np.float32)), persistent=False)
        if self.stages > 1:
            keys, pair_stage = pair_stages(train, stage)
            self.register_buffer("pair_keys", torch.from_numpy(keys), persistent=False)
            self.register_buffer("pair_stage", torch.from_numpy(pair_stage), persistent=False)
        self.num_items = num_items

    @staticmethod
    def validate(*, gamma: Any, inference: Any, gamma_tilde: Any, window: Any, stages: Any) -> Dict[str, Any]:
        """The options checked (errors name the key and the allowed values), with defaults filled in."""
        gamma = arguments.number("pda", "gamma", gamma, low=0.0)
        return {
            "gamma": gamma,
            "inference": arguments.choice("pda", "inference", inference, INFERENCE_MODES),
            "gamma_tilde": gamma if gamma_tilde is None else arguments.number("pda", "gamma_tilde", gamma_tilde, low=0.0),
            "window": arguments.number("pda", "window", window, low=0.0, low_open=True, high=1.0),
            "stages": arguments.integer("pda", "stages", stages, low=1),
        }

    def _stages_of(self, users: Tensor, positives: Tensor) -> Tensor:
        """The time stage of each training pair (a sorted-key lookup, no host sync)."""
        keys = users * self.num_items + positives
        position = torch.searchsorted(self.pair_keys, keys).clamp_(max=self.pair_keys.numel() - 1)
        return self.pair_stage[position]

    def training_scores(self, batch: ScoredBatch) -> TrainingScores:
        positives, negatives = batch.positive_items, batch.negative_items
        if self.stages == 1:
            factor = self.training_factor[0]
            positive_factor, negative_factor = factor[positives], factor[negatives]
        else:
            stage = self._stages_of(batch.users, positives)
            positive_factor = self.training_factor[stage, positives]
            negative_factor = self.training_factor[stage.unsqueeze(1), negatives]
        positive = elu_plus_one(batch.positive_score) * positive_factor
        negative = elu_plus_one(batch.negative_score) * negative_factor
        return TrainingScores(positive, negative)

    def inference_score(self, scores: Tensor, users: Tensor) -> Tensor:
        match = elu_plus_one(scores)
        if self.inference == "pd":
            return match
        return match * self.inference_factor

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, inference={self.inference}, gamma_tilde={self.gamma_tilde}, "
            f"window={self.window}, stages={self.stages}"
        )
