r"""DICE: disentangling user interest and conformity with causal embeddings (Zheng et al., WWW 2021).

Every user and item has an *interest* and a *conformity* representation of
equal width. Interest comes from the trainer's model; conformity from a second
encoder of the same kind, a deep copy of the model with re-initialised
parameters (so DICE works with any encoder, MF, LightGCN or a KG encoder, as
the official code pairs MF and LightGCN with themselves). The click score is
the inner product of the concatenations, i.e. the sum of the two causes:

.. math::
    s_{ui} = \langle [u^{int}; u^{con}], [i^{int}; i^{con}] \rangle
           = s^{int}_{ui} + s^{con}_{ui}.

Cause-specific data come from popularity-based negative sampling
(:class:`~graphrec.debias.sampling.PopularityMarginSampler`). For a triple
:math:`(u, i, j)` (:math:`i` clicked, :math:`j` a negative) with training
counts :math:`c_i, c_j`:

- :math:`O_1` (:math:`c_j \le c_i`: the negative is less popular): the click
  may be conformity, so conformity must rank :math:`i` above :math:`j`;
- :math:`O_2` (:math:`c_j > c_i`: the negative is more popular): the user
  clicked the less popular item, so interest ranks :math:`i` above
  :math:`j` and conformity ranks :math:`j` above :math:`i`.

(The paper's names: :math:`O_1` has the negatives less popular than the
positives, :math:`O_2` more popular; the sampler's margin keeps the two apart.)
With :math:`\ell(x) = -\log\sigma(x)`, the loss of a batch, each mean over
its :math:`B \times k` triples as the official ``mask_bpr_loss``:

.. math::
    L = L_{click} + w_{int}\, \overline{[O_2]\, \ell(s^{int}_{ui} - s^{int}_{uj})}
      + w_{con}\, \overline{[O_1]\, \ell(s^{con}_{ui} - s^{con}_{uj}) + [O_2]\, \ell(s^{con}_{uj} - s^{con}_{ui})}
      + \lambda\, D

where :math:`L_{click}` is the trainer's loss on the click scores (BPR in the
paper) and :math:`D` the discrepancy between interest and conformity
representations of the batch's users and of its items (positives and
negatives; rows repeated in the batch count as often as they occur, which keeps
the batch loop free of host synchronisation): ``dcor`` (default, official)
adds :math:`\mathrm{dCor}(U^{int}, U^{con}) + \mathrm{dCor}(I^{int}, I^{con})`
(to be minimised); ``l1`` / ``l2`` subtract the mean absolute / squared
difference (to be maximised), as the official code does with
``- dis_pen * discrepancy``. The terms are logged as ``dice_interest``,
``dice_conformity`` and ``dice_discrepancy``.

Official defaults: :math:`w_{int} = w_{con} = 0.1`, :math:`\lambda` =
``dis_pen`` = 0.01, margin 40 and pool 40 (interaction counts, for
MovieLens-10M; scale them to the dataset), and with ``--adaptive`` the margin
and both weights decay by 0.9 per epoch (``margin_decay``, ``loss_decay``; 1
keeps them fixed): epoch :math:`e` uses :math:`0.9^{e-1}` times the initial values.

Inference (``inference``): ``both`` ranks by the click score (the
concatenation, as the official evaluation); ``interest`` by
:math:`s^{int}` alone; ``conformity`` by :math:`s^{con}` alone (for analysis).

The conformity encoder's layer-0 rows join the trainer's L2 penalty; its
own auxiliary loss (KGAT's TransR, KGIN's independence) is not added. Under
data parallelism each rank computes :math:`D` on its shard only.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.data import HeteroData

from ..data.dataset import RecDataset
from ..data.interactions import Interactions
from ..models.base import Recommender
from . import arguments
from .base import Debiaser, ScoredBatch, TrainingScores, representation_dim
from .sampling import PopularityMarginSampler

__all__ = ["DICE", "distance_correlation"]

DISCREPANCIES = ("dcor", "l1", "l2")
INFERENCE_MODES = ("both", "interest", "conformity")
_EPS = 1e-10


def distance_correlation(x: Tensor, y: Tensor) -> Tensor:
    r"""Székely's distance correlation of two samples ``x`` ``[n, p]`` and ``y`` ``[n, q]`` (row ``j`` of
    each is observation ``j``): with :math:`a_{jk} = \lVert x_j - x_k \rVert_2` double-centred to
    :math:`A` (and :math:`B` from ``y``), :math:`\mathrm{dCov}^2(x, y) = \frac{1}{n^2}\sum_{jk} A_{jk} B_{jk}` and

    .. math::
        \mathrm{dCor}(x, y) = \frac{\sqrt{\mathrm{dCov}^2(x, y)}}{\sqrt{\mathrm{dCov}(x, x)\, \mathrm{dCov}(y, y)}}.

    ``1e-10`` inside each square root keeps the gradient finite at zero."""

    def centred(z: Tensor) -> Tensor:
        distance = torch.cdist(z, z, compute_mode="donot_use_mm_for_euclid_dist")  # exact zeros on the diagonal
        return distance - distance.mean(dim=0, keepdim=True) - distance.mean(dim=1, keepdim=True) + distance.mean()

    a, b = centred(x.float()), centred(y.float())
    dcov2_xy = (a * b).mean().clamp_min(0)
    dcov_xx = torch.sqrt((a * a).mean() + _EPS)
    dcov_yy = torch.sqrt((b * b).mean() + _EPS)
    return torch.sqrt(dcov2_xy + _EPS) / torch.sqrt(dcov_xx * dcov_yy + _EPS)


class DICE(Debiaser):
    """Interest and conformity encoders trained on cause-specific data; see the module docstring.

    Args:
        dataset: its training counts split the negatives into :math:`O_1` / :math:`O_2`.
        model: the interest encoder; a deep copy with re-initialised parameters is the conformity encoder.
        int_weight, pop_weight: :math:`w_{int}`, :math:`w_{con}` (>= 0).
        discrepancy: ``dcor``, ``l1`` or ``l2``.
        dis_pen: :math:`\\lambda` (>= 0).
        margin: count margin of the more popular negatives (>= 0).
        pool: minimum size of a popularity set (>= 1).
        margin_decay, loss_decay: per-epoch factors in ``(0, 1]``.
        inference: ``both``, ``interest`` or ``conformity``.
    """

    name = "dice"

    def __init__(
        self,
        dataset: RecDataset,
        model: Recommender,
        *,
        int_weight: float = 0.1,
        pop_weight: float = 0.1,
        discrepancy: str = "dcor",
        dis_pen: float = 0.01,
        margin: float = 40.0,
        pool: int = 40,
        margin_decay: float = 0.9,
        loss_decay: float = 0.9,
        inference: str = "both",
    ) -> None:
        super().__init__()
        options = self.validate(
            int_weight=int_weight, pop_weight=pop_weight, discrepancy=discrepancy, dis_pen=dis_pen, margin=margin,
            pool=pool, margin_decay=margin_decay, loss_decay=loss_decay, inference=inference,
        )
        for key, value in options.items():
            setattr(self, key, value)
        self.dim = representation_dim(model)
        self.conformity = copy.deepcopy(model)
        self.conformity.reset_parameters()
        counts = dataset.train.item_counts().astype(np.float32)
        self.register_buffer("item_counts", torch.from_numpy(counts), persistent=False)
        self.epoch = 1
        self._sampler: Optional[PopularityMarginSampler] = None

    @staticmethod
    def validate(
        *, int_weight: Any, pop_weight: Any, discrepancy: Any, dis_pen: Any, margin: Any, pool: Any,
        margin_decay: Any, loss_decay: Any, inference: Any,
    ) -> Dict[str, Any]:
        """The options checked (errors name the key and the allowed values)."""
        return {
            "int_weight": arguments.number("dice", "int_weight", int_weight, low=0.0),
            "pop_weight": arguments.number("dice", "pop_weight", pop_weight, low=0.0),
            "discrepancy": arguments.choice("dice", "discrepancy", discrepancy, DISCREPANCIES),
            "dis_pen": arguments.number("dice", "dis_pen", dis_pen, low=0.0),
            "margin": arguments.number("dice", "margin", margin, low=0.0),
            "pool": arguments.integer("dice", "pool", pool, low=1),
            "margin_decay": arguments.number("dice", "margin_decay", margin_decay, low=0.0, low_open=True, high=1.0),
            "loss_decay": arguments.number("dice", "loss_decay", loss_decay, low=0.0, low_open=True, high=1.0),
            "inference": arguments.choice("dice", "inference", inference, INFERENCE_MODES),
        }

    # -- schedule and sampling ---------------------------------------------------
    @property
    def current_margin(self) -> float:
        return self.margin * self.margin_decay ** (self.epoch - 1)

    @property
    def current_weights(self) -> Tuple[float, float]:
        """:math:`(w_{int}, w_{con})` of the current epoch."""
        decay = self.loss_decay ** (self.epoch - 1)
        return self.int_weight * decay, self.pop_weight * decay

    def begin_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if self._sampler is not None:
            self._sampler.margin = self.current_margin

    def negative_sampler(self, train: Interactions, device: Union[str, torch.device]) -> PopularityMarginSampler:
        self._sampler = PopularityMarginSampler(train, margin=self.current_margin, pool=self.pool, device=device)
        return self._sampler

    # -- representations and scores -------------------------------------------------
    def embed(self, graph: HeteroData, user_emb: Tensor, item_emb: Tensor) -> Tuple[Tensor, Tensor]:
        conformity_users, conformity_items = self.conformity(graph)
        return torch.cat([user_emb, conformity_users], dim=-1), torch.cat([item_emb, conformity_items], dim=-1)

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.conformity.initial_embeddings(users, items))

    def _split(self, rows: Tensor) -> Tuple[Tensor, Tensor]:
        return rows[..., : self.dim], rows[..., self.dim :]

    def _discrepancy(self, interest: Tensor, conformity: Tensor) -> Tensor:
        if self.discrepancy == "dcor":
            return distance_correlation(interest, conformity)
        difference = interest.float() - conformity.float()
        spread = difference.abs().mean() if self.discrepancy == "l1" else difference.pow(2).mean()
        return -spread  # the official code maximises the L1 / L2 distance

    def training_scores(self, batch: ScoredBatch) -> TrainingScores:
        score = self.conformity.score
        user_int, user_con = self._split(batch.user_emb)
        positive_int, positive_con = self._split(batch.positive_emb)
        negative_int, negative_con = self._split(batch.negative_emb)
        interest_gap = score(user_int, positive_int).unsqueeze(1) - score(user_int.unsqueeze(1), negative_int)
        conformity_gap = score(user_con, positive_con).unsqueeze(1) - score(user_con.unsqueeze(1), negative_con)
        counts = self.item_counts
        o2 = (counts[batch.negative_items] > counts[batch.positive_items].unsqueeze(1)).float()  # [b, k]
        interest_weight, conformity_weight = self.current_weights
        interest = (o2 * F.softplus(-interest_gap.float())).mean()
        conformity = (o2 * F.softplus(conformity_gap.float()) + (1 - o2) * F.softplus(-conformity_gap.float())).mean()
        items_int = torch.cat([positive_int, negative_int.reshape(-1, self.dim)])
        items_con = torch.cat([positive_con, negative_con.reshape(-1, self.dim)])
        discrepancy = self._discrepancy(user_int, user_con) + self._discrepancy(items_int, items_con)
        terms = {
            "dice_interest": interest_weight * interest,
            "dice_conformity": conformity_weight * conformity,
            "dice_discrepancy": self.dis_pen * discrepancy,
        }
        # the click score is the model's score of the concatenations: s_int + s_con
        return TrainingScores(batch.positive_score, batch.negative_score, terms)

    def ranking_scores(self, scores: Tensor, users: Tensor, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        if self.inference == "both":
            return scores
        part = 0 if self.inference == "interest" else 1
        user_part, item_part = self._split(user_emb)[part], self._split(item_emb)[part]
        return self.conformity.full_scores(users, user_part, item_part)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, int_weight={self.int_weight}, pop_weight={self.pop_weight}, "
            f"discrepancy={self.discrepancy}, dis_pen={self.dis_pen}, margin={self.margin}, pool={self.pool}, "
            f"margin_decay={self.margin_decay}, loss_decay={self.loss_decay}, inference={self.inference}"
        )
