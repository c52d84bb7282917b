r"""Inverse propensity scoring (Schnabel et al., ICML 2016) for pairwise and pointwise losses.

Each training example :math:`b` (a clicked pair :math:`(u_b, i_b)` with its
sampled negatives) is weighted by the inverse propensity of its click,
:math:`w_b = 1 / \max(p_{u_b i_b}, \text{clip})`, so that in expectation over
exposure the loss is the one of fully observed data:

.. math::
    L_{\text{IPS}} = \frac{1}{B} \sum_b w_b\, \ell_b, \qquad
    L_{\text{SNIPS}} = \frac{\sum_b w_b\, \ell_b}{\sum_b w_b}

with :math:`\ell_b` the trainer's per-example loss (BPR over the example's
negatives, or BCE of the positive and its negatives). SNIPS (self-normalised,
Swaminathan & Joachims 2015) trades IPS's unbiasedness for a much smaller
variance; because its normaliser is the sum of the weights, not the example
count, it is refused under data parallelism (``per_example_loss = False``).

Propensities (``propensity``):

- ``popularity``: estimated from training popularity as a power law,
  :math:`p_{ui} = (c_i / \max_j c_j)^{\eta}` with ``exponent`` :math:`\eta \ge 0`
  (0.5 by default; :math:`\eta = 0` is uniform exposure, i.e. no reweighting);
- ``dataset``: the dataset's own ``propensity`` matrix (Coat's
  ``propensities.ascii``; the synthetic world's true exposure probabilities).

``clip`` raises propensities below it to it (weights at most ``1 / clip``);
without it an item never clicked in training would have propensity 0, but
only clicked pairs are weighted, so weights stay finite.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import Tensor

from ..data.dataset import RecDataset
from ..models.base import Recommender
from . import arguments
from .base import Debiaser
from .popularity import relative_popularity

__all__ = ["IPS"]

PROPENSITIES = ("popularity", "dataset")
DEFAULT_EXPONENT = 0.5


class IPS(Debiaser):
    """Inverse-propensity weighting of each training example; see the module docstring.

    Args:
        dataset: its training popularity (``propensity='popularity'``) or its
            ``propensity`` matrix (``'dataset'``).
        model: unused (every debiaser is built from the dataset and the model).
        propensity: ``popularity`` or ``dataset``.
        exponent: :math:`\\eta` of the popularity power law (``popularity`` only; default 0.5).
        clip: lower bound of the propensities, in ``(0, 1]``; ``None`` does not clip.
        self_normalized: SNIPS instead of IPS.
    """

    name = "ips"

    def __init__(
        self,
        dataset: RecDataset,
        model: Optional[Recommender] = None,
        *,
        propensity: str = "popularity",
        exponent: Optional[float] = None,
        clip: Optional[float] = None,
        self_normalized: bool = False,
    ) -> None:
        super().__init__()
        options = self.validate(propensity=propensity, exponent=exponent, clip=clip, self_normalized=self_normalized)
        self.propensity_source: str = options["propensity"]
        self.exponent: Optional[float] = options["exponent"]
        self.clip: Optional[float] = options["clip"]
        self.self_normalized: bool = options["self_normalized"]
        self.per_example_loss = not self.self_normalized
        if self.propensity_source == "popularity":
            table = relative_popularity(dataset.train.item_counts()) ** self.exponent  # 0 ** 0 = 1: uniform
        else:
            if dataset.propensity is None:
                raise ValueError(
                    f"ips: propensity 'dataset' needs the dataset's propensities, and {dataset.name} has none "
                    f"(allowed for it: propensity: popularity)"
                )
            table = np.asarray(dataset.propensity, dtype=np.float64)
            clicked = table[dataset.train.user, dataset.train.item]
            if self.clip is None and clicked.size and not clicked.min() > 0:
                raise ValueError(
                    f"ips: {dataset.name} gives propensity {clicked.min()} to a training click; "
                    "set clip (a number in (0, 1]) to bound the weights"
                )
        if self.clip is not None:
            table = np.maximum(table, self.clip)
        # 1 / p with 1 / 0 = inf only for items never clicked (popularity); they are never weighted
        with np.errstate(divide="ignore"):
            weights = 1.0 / table
        # derived from the dataset and the options: recomputed, not checkpointed
        self.register_buffer("weights", torch.from_numpy(weights.astype(np.float32)), persistent=False)

    @staticmethod
    def validate(
        *, propensity: Any, exponent: Any, clip: Any, self_normalized: Any
    ) -> Dict[str, Any]:
        """The options checked (errors name the key and the allowed values), with defaults filled in."""
        propensity = arguments.choice("ips", "propensity", propensity, PROPENSITIES)
        if propensity == "dataset" and exponent is not None:
            raise ValueError("ips: exponent applies to propensity: popularity only, not to propensity: dataset")
        if propensity == "popularity":
            exponent = arguments.number(
                "ips", "exponent", DEFAULT_EXPONENT if exponent is None else exponent, low=0.0
            )
        return {
            "propensity": propensity,
            "exponent": exponent,
            "clip": arguments.optional_number("ips", "clip", clip, low=0.0, low_open=True, high=1.0),
            "self_normalized": arguments.boolean("ips", "self_normalized", self_normalized),
        }

    def example_weights(self, users: Tensor, items: Tensor) -> Tensor:
        """:math:`1 / \\max(p_{ui}, \\text{clip})` of the pairs, shaped like ``items``."""
        if self.weights.dim() == 1:
            return self.weights[items]
        return self.weights[users, items]

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
        weight = self.example_weights(users, positive_items).to(base_loss.dtype)
        weighted = weight * base_loss
        if self.self_normalized:
            return weighted.sum() / weight.sum()
        return weighted.mean()

    def extra_repr(self) -> str:
        source = f"propensity={self.propensity_source}"
        if self.exponent is not None:
            source += f", exponent={self.exponent}"
        return f"{source}, clip={self.clip}, self_normalized={self.self_normalized}"
