r"""The interface through which a causal-debiasing method plugs into the trainer.

The shared trainer (:mod:`graphrec.train`) calls a debiaser at fixed points;
the default (no debiasing) is the identity at each. One training batch::

    user_emb, item_emb = debias.embed(graph, *model(graph))          # (1) representations
    batch   = ScoredBatch(users, positives, negatives, rows of user_emb / item_emb,
                          model.score(...) of the positives and negatives)
    scores  = debias.training_scores(batch)                           # (2) training score
    L       = debias.loss(loss_fn(scores.positive, scores.negative), ...)   # (3) reduction
            + sum(scores.terms) + L2 of model.initial_embeddings and debias.initial_embeddings
            + debias.auxiliary_loss(users, positives, negatives) + ...

and one evaluation::

    user_emb, item_emb = debias.embed(graph, *model(graph))
    ranking = debias.ranking_scores(model.full_scores(users, user_emb, item_emb),
                                    users, user_emb, item_emb)          # (4) inference score

Two levels of hooks:

- **Full hooks**, what the trainer calls: :meth:`Debiaser.embed`,
  :meth:`Debiaser.training_scores`, :meth:`Debiaser.loss`,
  :meth:`Debiaser.ranking_scores`, plus :meth:`Debiaser.initial_embeddings`
  (extra rows for the L2 penalty), :meth:`Debiaser.negative_sampler` (a
  sampler that replaces the trainer's), :meth:`Debiaser.set_training_loss`
  (the trainer's loss name, once) and :meth:`Debiaser.begin_epoch`.
  They see the embeddings, so a method may add its own branches (MACR) or a
  second encoder (DICE).
- **Simple hooks**, which the full hooks call by default, for a method that
  needs only scores and ids: ``train_score(score, users, items)`` (PDA
  multiplies by popularity), ``inference_score(scores, users)`` and
  ``auxiliary_loss(users, positive_items, negative_items)``.

A debiaser is an ``nn.Module``: its parameters are optimised with the model's,
its ``state_dict`` is checkpointed with the model's (derived tables that can be
recomputed from the dataset are non-persistent buffers), and its ``repr`` is
part of the run's fingerprint (see ``extra_repr`` of each method).

Data parallel training (``torchrun``) gives each rank a contiguous shard of a
batch and scales every per-example term by the shard's share, so
:meth:`Debiaser.loss` must be a mean over the shard's examples (a weighted
mean whose normaliser is the example count, not the weights); a method whose
reduction is not (SNIPS) sets ``per_example_loss = False`` and the trainer
refuses to run it on several processes.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, NamedTuple, Optional, Protocol, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from ..data.interactions import Interactions

__all__ = ["Debiaser", "ScoredBatch", "TrainingScores", "PairNegativeSampler", "representation_dim"]

_NO_TERMS: Mapping[str, Tensor] = MappingProxyType({})


class ScoredBatch(NamedTuple):
    """One (shard of a) training batch with the model's representations and raw scores.

    Rows come from the representations after :meth:`Debiaser.embed`; ``d`` is their width.
    """

    users: Tensor  #: ``[b]`` user indices
    positive_items: Tensor  #: ``[b]`` item indices
    negative_items: Tensor  #: ``[b, k]`` item indices
    user_emb: Tensor  #: ``[b, d]`` the users' rows
    positive_emb: Tensor  #: ``[b, d]`` the positives' rows
    negative_emb: Tensor  #: ``[b, k, d]`` the negatives' rows
    positive_score: Tensor  #: ``[b]`` ``model.score(user_emb, positive_emb)``
    negative_score: Tensor  #: ``[b, k]`` ``model.score(user_emb[:, None], negative_emb)``


class TrainingScores(NamedTuple):
    """What :meth:`Debiaser.training_scores` returns.

    ``positive`` (``[b]``) and ``negative`` (``[b, k]``) are the scores the
    trainer's loss (BPR, BCE, softmax) is applied to. ``terms`` are extra loss
    terms, each a scalar mean over the batch's examples, already weighted,
    added to the batch loss and logged under their names (e.g. MACR's
    ``macr_item``).
    """

    positive: Tensor
    negative: Tensor
    terms: Mapping[str, Tensor] = _NO_TERMS


class PairNegativeSampler(Protocol):
    """A negative sampler that sees each positive (DICE draws by the positive's popularity)."""

    def sample(
        self, users: Tensor, positives: Tensor, num_negatives: int, *, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """``[len(users), num_negatives]`` items, none a training item of its user."""
        ...


def representation_dim(model: nn.Module) -> int:
    """Width of the representations ``model(graph)`` returns: ``output_dim`` when the
    model has one (NGCF, RGCN, KGAT concatenate layers), else ``embedding_dim``."""
    for name in ("output_dim", "embedding_dim"):
        value = getattr(model, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    raise ValueError(
        f"{type(model).__name__} has neither an output_dim nor an embedding_dim attribute, "
        "so the width of its representations is unknown"
    )


class Debiaser(nn.Module):
    """No debiasing: the identity at every call point. Subclass and override a hook to change one."""

    #: config name of the method
    name: str = "none"
    #: ``loss`` is a mean over the examples (False: the trainer refuses data parallelism)
    per_example_loss: bool = True

    # -- full hooks: what the trainer calls ---------------------------------------
    def embed(self, graph: HeteroData, user_emb: Tensor, item_emb: Tensor) -> Tuple[Tensor, Tensor]:
        """The representations that are scored, from the model's ``[num_users, d]``
        and ``[num_items, d]`` (default: unchanged; DICE appends its conformity encoder's)."""
        return user_emb, item_emb

    def training_scores(self, batch: ScoredBatch) -> TrainingScores:
        """Training scores of a batch (default: :meth:`train_score` on the positives and on the negatives)."""
        users, negatives = batch.users, batch.negative_items
        positive = self.train_score(batch.positive_score, users, batch.positive_items)
        negative = self.train_score(batch.negative_score, users.unsqueeze(1).expand_as(negatives), negatives)
        return TrainingScores(positive, negative)

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
        """Reduce the per-example ``base_loss`` (``[b]``) to the scalar that is optimised (default: mean).

        ``positive_score`` / ``negative_score`` are the training scores the
        base loss was computed from."""
        return base_loss.mean()

    def ranking_scores(self, scores: Tensor, users: Tensor, user_emb: Tensor, item_emb: Tensor) -> Tensor:
        """``[len(users), num_items]`` scores the evaluator ranks, from the model's
        ``full_scores`` ``scores``; ``user_emb`` / ``item_emb`` are the whole tables
        after :meth:`embed` (default: :meth:`inference_score`)."""
        return self.inference_score(scores, users)

    def initial_embeddings(self, users: Tensor, items: Tensor) -> Tuple[Tensor, ...]:
        """Layer-0 rows of the debiaser's own embeddings for the batch, which the trainer
        adds to its L2 penalty (default: none)."""
        return ()

    def negative_sampler(
        self, train: Interactions, device: Union[str, torch.device]
    ) -> Optional[PairNegativeSampler]:
        """A sampler the trainer must use instead of its own, or ``None`` (default)."""
        return None

    def set_training_loss(self, loss: str) -> None:
        """Called once by the trainer with its loss name (``bpr``, ``bce``, ``softmax``)
        before training. A method whose :meth:`loss` re-weights the loss's terms
        itself records it, and refuses a loss it cannot re-weight (default: any loss)."""

    def begin_epoch(self, epoch: int) -> None:
        """Called before training epoch ``epoch`` (1-based; also after a resume), e.g. to
        decay a weight. State set here must follow from ``epoch`` alone, so that a
        resumed run continues exactly."""

    # -- simple hooks: what the default full hooks call ------------------------------
    def train_score(self, score: Tensor, users: Tensor, items: Tensor) -> Tensor:
        """The training score of (user, item) pairs from the model's ``score`` (same shapes)."""
        return score

    def inference_score(self, scores: Tensor, users: Tensor) -> Tensor:
        """The ranking scores ``[len(users), num_items]`` from the model's full scores."""
        return scores

    def auxiliary_loss(self, users: Tensor, positive_items: Tensor, negative_items: Tensor) -> Optional[Tensor]:
        """An extra scalar term per batch (a mean over its examples), or ``None``."""
        return None
