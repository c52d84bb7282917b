r"""Inverse propensity scoring for pairwise and pointwise losses: two estimators.

Clicks are :math:`Y_{ui} = O_{ui} R_{ui}` (exposure times relevance) with
propensity :math:`\theta_{ui} = P(O_{ui} = 1)`; each weight is
:math:`w_{ui} = 1 / \max(\theta_{ui}, \text{clip})`.

``estimator: click`` (Schnabel et al., ICML 2016), the default. Each training
example :math:`b` (a click :math:`(u_b, i_b)` with the trainer's sampled
non-clicked negatives) is weighted by its click's inverse propensity, so that
in expectation over exposure the positives are those of fully observed data:

.. math::
    L_{\text{IPS}} = \frac{1}{B} \sum_b w_{u_b i_b}\, \ell_b, \qquad
    L_{\text{SNIPS}} = \frac{\sum_b w_{u_b i_b}\, \ell_b}{\sum_b w_{u_b i_b}}

with :math:`\ell_b` the trainer's per-example loss (BPR over the example's
negatives, BCE of the positive and its negatives, or sampled softmax). SNIPS
(self-normalised, Swaminathan & Joachims 2015) trades IPS's unbiasedness for a
much smaller variance; because its normaliser is the sum of the weights, not
the example count, it is refused under data parallelism (``per_example_loss =
False``). The negatives are not re-weighted: a relevant item the user was not
shown can still be drawn as a negative.

``estimator: relevance`` (Saito et al., WSDM 2020, "Rel-MF"; its pairwise
form, Saito, ICTIR 2020, "UBPR"). Every scored pair gets the estimated
relevance :math:`\hat R_{ui} = Y_{ui} w_{ui}`, whose expectation over exposure
is :math:`R_{ui}` (without clipping), and the negatives are drawn uniformly
from *all* items, clicked ones included, so that non-clicks and unseen
relevant items are told apart in expectation. Per example, with the positive
:math:`i` and the negatives :math:`j_1..j_k`:

.. math::
    \text{bce:}\quad \ell_b = \hat R_{ui}\, \ell^+(s_{ui}) + (1 - \hat R_{ui})\, \ell^-(s_{ui})
        + \frac1k \sum_j \big[\hat R_{uj}\, \ell^+(s_{uj}) + (1 - \hat R_{uj})\, \ell^-(s_{uj})\big]

.. math::
    \text{bpr:}\quad \ell_b = \frac1k \sum_j \hat R_{ui}\,(1 - \hat R_{uj})\,
        \big(-\log \sigma(s_{ui} - s_{uj})\big)

(:math:`\ell^+ = -\log\sigma`, :math:`\ell^- = -\log(1 - \sigma)`) and
:math:`L = \frac1B \sum_b \ell_b`. Only ``bpr`` and ``bce`` have this form;
another loss is refused when the trainer starts. Weights below 1 - 1/clip
make terms negative: the estimator is unbounded below, which is why Saito et
al. clip the propensities (clip 0.1 or more is the useful range).

``normalize: true`` divides the loss by the mean weight over the training
clicks, :math:`\bar w = \frac1{|Y|} \sum_{Y_{ui} = 1} w_{ui}` (a constant, so
either estimator stays unbiased up to that scale): the loss keeps the scale of
naive training, and with it the strength of a weight decay tuned for naive
training (the L2 term is not re-weighted).

Propensities (``propensity``):

- ``popularity``: estimated from training popularity as a power law,
  :math:`\theta_{ui} = (c_i / \max_j c_j)^{\eta}` with ``exponent`` :math:`\eta \ge 0`
  (0.5 by default, as Saito et al.; :math:`\eta = 0` is uniform exposure, i.e. no
  reweighting);
- ``dataset``: the dataset's own ``propensity`` matrix (Coat's
  ``propensities.ascii``; the synthetic world's true exposure probabilities).

``clip`` raises propensities below it to it (weights at most ``1 / clip``);
without it an item never clicked in training would have propensity 0, but
only clicked pairs are weighted, so weights stay finite.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.dataset import RecDataset
from ..data.interactions import Interactions
from ..data.sampling import PairSet
from ..losses import bpr_pair_loss
from ..models.base import Recommender
from . import arguments
from .base import Debiaser, PairNegativeSampler
from .popularity import relative_popularity

__all__ = ["IPS", "AllItemsSampler"]

PROPENSITIES = ("popularity", "dataset")
ESTIMATORS = ("click", "relevance")
RELEVANCE_LOSSES = ("bpr", "bce")
DEFAULT_EXPONENT = 0.5


class AllItemsSampler:
    """Negatives drawn uniformly from every item, the user's clicks included
    (the relevance estimator labels each by its estimated relevance)."""

    def __init__(self, num_items: int, device: Union[str, torch.device]) -> None:
        self.num_items = num_items
        self.device = torch.device(device)

    def sample(
        self, users: Tensor, positives: Tensor, num_negatives: int, *, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        return torch.randint(
            self.num_items, (users.numel(), num_negatives), generator=generator, device=self.device
        )


class IPS(Debiaser):
    """Inverse-propensity weighting of each training example; see the module docstring.

    Args:
        dataset: its training popularity (``propensity='popularity'``) or its
            ``propensity`` matrix (``'dataset'``).
        model: unused (every debiaser is built from the dataset and the model).
        propensity: ``popularity`` or ``dataset``.
        exponent: :math:`\\eta` of the popularity power law (``popularity`` only; default 0.5).
        clip: lower bound of the propensities, in ``(0, 1]``; ``None`` does not clip.
        self_normalized: SNIPS instead of IPS (``estimator: click`` only).
        estimator: ``click`` (weight each example by its click) or ``relevance``
            (every pair labelled by its estimated relevance, negatives from all items).
        normalize: divide the loss by the mean weight of the training clicks.
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
        estimator: str = "click",
        normalize: bool = False,
    ) -> None:
        super().__init__()
        options = self.validate(
            propensity=propensity, exponent=exponent, clip=clip, self_normalized=self_normalized,
            estimator=estimator, normalize=normalize,
        )
        self.propensity_source: str = options["propensity"]
        self.exponent: Optional[float] = options["exponent"]
        self.clip: Optional[float] = options["clip"]
        self.self_normalized: bool = options["self_normalized"]
        self.estimator: str = options["estimator"]
        self.normalize: bool = options["normalize"]
        self.per_example_loss = not self.self_normalized
        self.training_loss: Optional[str] = None
        self._clicks: Optional[PairSet] = None
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
        train = self._train = dataset.train  # the clicks Y of the relevance estimator
        #: the loss's divisor: the mean weight of the training clicks (``normalize``), else 1
        self.scale = 1.0
        if self.normalize and len(train):
            clicked = weights[train.item] if weights.ndim == 1 else weights[train.user, train.item]
            self.scale = float(clicked.mean())
        # derived from the dataset and the options: recomputed, not checkpointed
        self.register_buffer("weights", torch.from_numpy(weights.astype(np.float32)), persistent=False)

    @staticmethod
    def validate(
        *, propensity: Any, exponent: Any, clip: Any, self_normalized: Any, estimator: Any = "click",
        normalize: Any = False,
    ) -> Dict[str, Any]:
        """The options checked (errors name the key and the allowed values), with defaults filled in."""
        propensity = arguments.choice("ips", "propensity", propensity, PROPENSITIES)
        estimator = arguments.choice("ips", "estimator", estimator, ESTIMATORS)
        self_normalized = arguments.boolean("ips", "self_normalized", self_normalized)
        if estimator == "relevance" and self_normalized:
            raise ValueError("ips: self_normalized applies to estimator: click only, not to estimator: relevance")
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
            "self_normalized": self_normalized,
            "estimator": estimator,
            "normalize": arguments.boolean("ips", "normalize", normalize),
        }

    def set_training_loss(self, loss: str) -> None:
        if self.estimator == "relevance" and loss not in RELEVANCE_LOSSES:
            raise ValueError(
                f"ips: estimator relevance re-weights the terms of loss bpr or bce, not of {loss!r} "
                "(allowed: loss bpr or bce, or estimator: click)"
            )
        self.training_loss = loss

    def negative_sampler(
        self, train: Interactions, device: Union[str, torch.device]
    ) -> Optional[PairNegativeSampler]:
        if self.estimator == "click":
            return None
        return AllItemsSampler(train.num_items, device)

    def clicks(self, device: torch.device) -> PairSet:
        """The training clicks (:math:`Y_{ui} = 1`), for membership tests on ``device``."""
        if self._clicks is None or self._clicks.keys.device != device:
            self._clicks = PairSet(self._train, device=device)
        return self._clicks

    def estimated_relevance(self, users: Tensor, items: Tensor) -> Tensor:
        r""":math:`\hat R_{ui} = Y_{ui} / \max(\theta_{ui}, \text{clip})` of the pairs, shaped like ``items``."""
        clicked = self.clicks(items.device).contains(users, items)
        weights = self.example_weights(users, items)
        # 1 / 0 = inf for never-clicked items (popularity): only where Y = 0, never used
        return torch.where(clicked, weights, torch.zeros_like(weights))

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
        if self.estimator == "relevance":
            return self._relevance_loss(
                weight, users, negative_items, positive_score, negative_score
            ).mean() / self.scale
        weighted = weight * base_loss
        if self.self_normalized:
            return weighted.sum() / weight.sum()
        return weighted.mean() / self.scale

    def _relevance_loss(
        self, positive_relevance: Tensor, users: Tensor, negative_items: Tensor, positive: Tensor, negative: Tensor
    ) -> Tensor:
        """Per example, the relevance estimator's ``bpr`` or ``bce`` loss (module docstring)."""
        if self.training_loss not in RELEVANCE_LOSSES:
            raise RuntimeError(
                f"ips: estimator relevance needs the trainer's loss (bpr or bce), got {self.training_loss!r}; "
                "the trainer sets it through set_training_loss"
            )
        expanded_users = users.unsqueeze(1).expand_as(negative_items)
        negative_relevance = self.estimated_relevance(expanded_users, negative_items).to(negative.dtype)
        if self.training_loss == "bpr":
            pairwise = bpr_pair_loss(positive, negative)  # -log sigma(s_ui - s_uj), [b, k]
            return positive_relevance * ((1.0 - negative_relevance) * pairwise).mean(dim=1)
        # bce: -log sigma(s) = softplus(-s), -log(1 - sigma(s)) = softplus(s)
        positive_term = positive_relevance * F.softplus(-positive) + (1.0 - positive_relevance) * F.softplus(positive)
        negative_term = negative_relevance * F.softplus(-negative) + (1.0 - negative_relevance) * F.softplus(negative)
        return positive_term + negative_term.mean(dim=1)

    def extra_repr(self) -> str:
        source = f"propensity={self.propensity_source}"
        if self.exponent is not None:
            source += f", exponent={self.exponent}"
        text = f"{source}, clip={self.clip}, self_normalized={self.self_normalized}"
        # the newer options only when set, so that the fingerprints of earlier runs still match
        if self.estimator != "click":
            text += f", estimator={self.estimator}"
        if self.normalize:
            text += f", normalize=True (scale={self.scale:.6g})"
        return text
