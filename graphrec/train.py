r"""The shared trainer: one loop for every model x loss x debiaser.

One epoch, on the training device::

    debias.begin_epoch(epoch); model.begin_epoch(graph, epoch)
    users, positives = train[randperm(N, generator)]      # N training pairs, each once, or with
                                                          #  positive_sampling="users" N user-first
                                                          #  draws (UserUniformPairSampler)
    negatives = sampler.sample(users, k, generator)       # [N, k], in chunks (or the debiaser's
                                                          #  sampler.sample(users, positives, k, generator))
    for each batch b of batch_size consecutive pairs:
        user_emb, item_emb = debias.embed(graph, *model(graph))   # full propagation, as LightGCN
        s+, s-, terms = debias.training_scores(ScoredBatch(rows, model.score(e_u, e_i+), model.score(e_u, e_i-)))
        L_b = debias.loss(loss(s+, s-))                   # loss: bpr | bce | softmax, per example
            + sum(terms)                                  # the debiaser's own terms (MACR's branches, DICE's causes)
            + weight_decay * 0.5 * (||u0||^2 + ||p0||^2 + ||n0||^2 + debias.initial_embeddings) / |b|
            + sum of the auxiliary terms (model.auxiliary_loss, debias.auxiliary_loss, ...)
        Adam step on L_b

(see :mod:`graphrec.debias.base` for the debiaser's hooks; the default is the
identity at each).

The L2 term is LightGCN's: on the batch's layer-0 embeddings
(``model.initial_embeddings``), not Adam's ``weight_decay``. All randomness of
the loop comes from the trainer's own generator on the device; the batch loop
never reads a value back to the host (terms are accumulated as device tensors
and read once per epoch), so the GPU runs ahead of Python.

Evaluation every ``eval_every`` epochs on ``valid`` (training items masked),
or on ``test`` when the dataset has no validation split (LightGCN's protocol;
a warning says that the stopping metric then peeks at test). Early stopping
after ``patience`` evaluations without a strictly higher ``eval_metric``; the
best epoch's parameters are restored at the end and the final test evaluation
masks train and valid.

Checkpoints (``run_dir/checkpoint.pt``, atomic) after each evaluation hold
everything a resumed run needs to continue bit for bit: parameters, optimizer,
debiaser, best state, patience counter, history and every RNG state.
``run_dir/log.jsonl`` gets one JSON line per epoch.

Mixed precision (``amp=True``, CUDA only): the model's forward, the scores and
the auxiliary terms run under ``torch.autocast(dtype=torch.bfloat16)``; the
losses and the L2 term are computed in float32. Autocast also casts sparse
matrix products, and bf16 CSR products are slower than fp32 ones, so a model
keeps its propagation out of it with ``torch.autocast(device_type,
enabled=False)`` around the sparse product.

Data parallel (``torchrun --nproc_per_node=N``): every rank draws the same
permutation and negatives (same seed, same generator) and computes the loss
of its contiguous shard of each global batch; a per-example term of a shard
holding the fraction ``f`` of the batch is scaled by ``f * N`` and a
per-batch term (``model.auxiliary_loss``, computed whole on every rank) is
left as it is, so that DDP's gradient average equals the one-process gradient
of the global batch. That needs a debiaser whose ``loss`` is a per-example mean
(IPS's weighted mean divides by the example count); one that normalises by
something else (SNIPS: the sum of the weights) says so with
``per_example_loss = False`` and is refused. Rank 0 alone evaluates, logs and
checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import math
import operator
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Protocol, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from . import distributed
from .atomic import write_text_atomic
from .checkpoint import check_config, load_checkpoint, save_checkpoint
from .data.dataset import RecDataset
from .data.sampling import PopularityNegativeSampler, UniformNegativeSampler, UserUniformPairSampler
from .debias.base import Debiaser, PairNegativeSampler, ScoredBatch
from .losses import l2_penalty, loss_function
from .models.base import Recommender
from .seeding import rng_state, seed_everything, set_deterministic, set_rng_state

__all__ = ["Trainer", "TrainResult", "TrainingDivergedError", "TimeLimitReached", "AuxiliaryTerm", "Batch", "EvaluatorLike"]

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.jsonl"
RESULT_NAME = "result.json"

#: ``positive_sampling`` choices: every interaction once per epoch, or user-first draws (official LightGCN / NGCF)
POSITIVE_SAMPLING = ("interactions", "users")

# Negatives are drawn for this many (pair, negative) slots at a time: the whole
# epoch at once for k = 1 on the usual datasets, bounded memory for large k.
_SAMPLING_CHUNK = 1 << 24


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite; the last good checkpoint is left untouched."""

    def __init__(self, epoch: int, terms: Sequence[str], checkpoint: Optional[Path]) -> None:
        self.epoch = epoch
        self.terms = list(terms)
        self.checkpoint = checkpoint
        where = (
            f"the last good checkpoint {checkpoint} is kept" if checkpoint is not None and checkpoint.exists()
            else "no checkpoint was written before it"
        )
        super().__init__(
            f"training diverged in epoch {epoch}: the loss term(s) {', '.join(self.terms)} became NaN or infinite; "
            f"{where} (try a lower learning rate, or amp=False)"
        )


class Batch(NamedTuple):
    """One (shard of a) training batch on the device."""

    users: Tensor  # [b]
    positive_items: Tensor  # [b]
    negative_items: Tensor  # [b, k]


@dataclass(frozen=True)
class AuxiliaryTerm:
    """An extra loss term added to every batch's loss and logged as ``name``.

    ``compute(batch)`` returns a scalar tensor or ``None`` (no term this batch).
    ``per_example=True`` means the term is a mean over the batch's examples
    (it is then weighted by the shard's share under data parallelism);
    ``False`` means it does not depend on the batch (e.g. a KG loss on its own
    samples) and every rank computes it whole.
    """

    name: str
    compute: Callable[[Batch], Optional[Tensor]]
    per_example: bool = True


class EvaluatorLike(Protocol):
    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> Dict[str, float]: ...


class TimeLimitReached(Exception):
    """``fit()`` used its ``time_limit``: the run is checkpointed at an epoch boundary and
    the same ``fit()`` (or command) resumes it, ending exactly as an uninterrupted run."""

    def __init__(self, epoch: int, epochs: int, seconds: float, checkpoint: Optional[Path]) -> None:
        self.epoch = epoch
        self.epochs = epochs
        self.seconds = seconds
        self.checkpoint = checkpoint
        super().__init__(
            f"time limit reached after epoch {epoch} of {epochs} ({seconds:.0f} s in this call): checkpoint "
            f"{checkpoint} saved; run the same training again to resume from it"
        )


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns (also written to ``run_dir/result.json``).

    ``valid`` holds the metrics of the best evaluation on the validation split
    (``validation_split``: ``"valid"``, or ``"test"`` for datasets without
    one); ``test`` the final test metrics of the restored best state;
    ``train_seconds`` the time spent in training epochs only; ``history`` one
    record per epoch (the lines of ``log.jsonl``).
    """

    valid: Dict[str, float]
    test: Dict[str, float]
    epochs: int
    best_epoch: int
    train_seconds: float
    history: List[Dict[str, Any]] = field(default_factory=list)
    validation_split: str = "valid"
    stopped_early: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


class _Objective(nn.Module):
    """The loss of one batch, as a module so that DistributedDataParallel can wrap it.

    ``forward`` returns ``(total, terms)``: ``total`` is what is back-propagated,
    ``terms`` (detached) each term's contribution to the global batch's value:
    ``share * value`` for per-example terms, ``value / world_size`` for
    per-batch ones, so that summing ``terms`` over ranks gives the one-process
    value and ``total = world_size * sum(terms)`` gives, after DDP's average
    over ranks, the one-process gradient.
    """

    def __init__(
        self,
        model: Recommender,
        debias: Debiaser,
        graph: HeteroData,
        loss: Callable[[Tensor, Tensor], Tensor],
        weight_decay: float,
        terms: Sequence[AuxiliaryTerm],
        autocast: Optional[torch.dtype] = None,
        device_type: str = "cuda",
    ) -> None:
        super().__init__()
        self.model = model
        self.debias = debias
        self.graph = graph
        self.loss = loss
        self.weight_decay = weight_decay
        self.terms = list(terms)
        self.autocast = autocast
        self.device_type = device_type

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast)

    def forward(
        self, users: Tensor, positives: Tensor, negatives: Tensor, share: float = 1.0, world_size: int = 1
    ) -> Tuple[Tensor, Dict[str, Tensor]]:
        model, debias = self.model, self.debias
        batch = Batch(users, positives, negatives)
        per_batch: Dict[str, Tensor] = {}
        with self._autocast():
            user_emb, item_emb = debias.embed(self.graph, *model(self.graph))
            user_rows, positive_rows, negative_rows = user_emb[users], item_emb[positives], item_emb[negatives]
            scored = debias.training_scores(
                ScoredBatch(
                    users, positives, negatives, user_rows, positive_rows, negative_rows,
                    model.score(user_rows, positive_rows), model.score(user_rows.unsqueeze(1), negative_rows),
                )
            )
            extra: Dict[str, Tensor] = {name: value.float() for name, value in scored.terms.items()}
            for term in self.terms:
                value = term.compute(batch)
                if value is not None:
                    if term.name in scored.terms:
                        raise ValueError(f"the debiaser's loss term {term.name!r} clashes with an auxiliary term's name")
                    (extra if term.per_example else per_batch)[term.name] = value.float()
        positive, negative = scored.positive.float(), scored.negative.float()
        per_example = {
            "loss": debias.loss(
                self.loss(positive, negative),
                users=users,
                positive_items=positives,
                negative_items=negatives,
                positive_score=positive,
                negative_score=negative,
            )
        }
        if self.weight_decay:
            items = torch.cat([positives, negatives.reshape(-1)])
            user0, item0 = model.initial_embeddings(users, items)
            per_example["l2"] = l2_penalty(
                user0, item0, *debias.initial_embeddings(users, items),
                weight_decay=self.weight_decay, batch_size=users.numel(),
            )
        clash = per_example.keys() & extra.keys()
        if clash:
            raise ValueError(f"loss term name(s) {sorted(clash)} are reserved for the trainer's loss and L2 terms")
        per_example.update(extra)

        if world_size == 1 and share == 1.0:  # one process: no scaling kernels
            terms = {**per_example, **per_batch}
            return _add(terms.values()), {name: value.detach() for name, value in terms.items()}
        contributions = {name: value * share for name, value in per_example.items()}
        contributions.update({name: value / world_size for name, value in per_batch.items()})
        return _add(contributions.values()) * world_size, {name: value.detach() for name, value in contributions.items()}


def _add(values: Iterable[Tensor]) -> Tensor:
    """The sum of tensors without Python ``sum``'s extra ``0 + t`` kernel."""
    return functools.reduce(operator.add, values)


def _finite(value: float) -> Optional[float]:
    return value if math.isfinite(value) else None


def _json_record(record: Mapping[str, Any]) -> str:
    """One JSON line; NaN and infinities (not JSON) become null."""
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return _finite(value)
        if isinstance(value, Mapping):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(record), allow_nan=False)


def _resolve_device(device: Union[str, torch.device]) -> torch.device:
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        index = distributed.local_rank() if distributed.is_distributed() else torch.cuda.current_device()
        resolved = torch.device("cuda", index)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    return resolved


class Trainer:
    """Train ``model`` on ``dataset`` and evaluate it (see the module docstring for the loop).

    Args:
        model: a :class:`~graphrec.models.Recommender`, already initialised
            (seed with :func:`graphrec.seeding.seed_everything` before building
            it for reproducible initial parameters). It is moved to ``device``.
        dataset: train / valid / test interactions.
        graph: the training graph; default :func:`graphrec.graph.build` of ``dataset``.
        loss: ``bpr``, ``bce`` or ``softmax`` (:mod:`graphrec.losses`);
            ``temperature`` is the softmax temperature.
        num_negatives: negatives per positive (``k``).
        positive_sampling: which (user, positive) pairs an epoch trains on:
            ``interactions`` (every training interaction once, in a random
            order) or ``users`` (as many pairs drawn user-first: a user
            uniformly among those with training items, then one of its items
            uniformly; the sampler of LightGCN's and NGCF's official code,
            :class:`graphrec.data.sampling.UserUniformPairSampler`).
        negative_sampling: ``uniform``, or ``popularity`` (proportional to
            training popularity ** ``popularity_exponent``).
        epochs, batch_size, lr: Adam's learning rate; ``weight_decay`` is the
            L2 coefficient of the batch's layer-0 embeddings.
        seed: seeds Python, NumPy, torch and the trainer's generator at the
            start of a fresh run (a resumed run restores their states).
        device: ``auto`` (CUDA when available; ``cuda:LOCAL_RANK`` under torchrun), ``cpu``, ``cuda:1``...
        deterministic: PyTorch's deterministic mode for the whole process
            (:func:`graphrec.seeding.set_deterministic`).
        amp: bf16 autocast on CUDA for the dense parts (ignored on CPU).
        eval_every: evaluate every this many epochs (and always after the
            last one); 0 evaluates after the last epoch only.
        eval_ks, eval_metric: cut-offs of the evaluator and the metric
            (higher is better) that selects the best epoch and stops early.
        patience: stop after this many evaluations without improvement; ``None`` never stops early.
        debias: a :class:`~graphrec.debias.Debiaser` (:func:`graphrec.debias.create_debiaser`);
            default the identity. Its parameters are optimised and checkpointed with
            the model's; a debiaser with its own negative sampler (DICE) overrides
            ``negative_sampling``.
        run_dir: folder for ``checkpoint.pt``, ``log.jsonl`` and ``result.json``;
            ``None`` writes nothing (and cannot resume).
        progress: a tqdm bar over epochs (silent when stderr is not a terminal).
        auxiliary_terms: more :class:`AuxiliaryTerm` s, after the model's and the debiaser's.
        evaluators: ``{"valid": ..., "test": ...}`` objects with ``evaluate(score_fn)`` replacing
            the default :class:`graphrec.evaluate.Evaluator` of that split.
        evaluator_options: extra keyword arguments of the default evaluators
            (``metrics``, ``item_popularity``, ``batch_size``...).
        restore_best: load the best evaluation's parameters at the end.
        config: extra entries of the run's fingerprint (e.g. the model name and
            hyper-parameters from a YAML file); a checkpoint whose fingerprint
            differs is refused.
        find_unused_parameters: passed to DistributedDataParallel (needed
            when some parameter gets no gradient in a batch).
        time_limit: seconds of wall time for one :meth:`fit` call (``None``: no
            limit). At the first epoch boundary past it, the run is checkpointed
            and :class:`TimeLimitReached` is raised; calling :meth:`fit` again
            (a new trainer on the same ``run_dir``) resumes it exactly. For
            machines that grant time in slices (batch queues, a 10-minute
            device call). Needs ``run_dir``; not part of the run's fingerprint.
    """

    def __init__(
        self,
        model: Recommender,
        dataset: RecDataset,
        *,
        graph: Optional[HeteroData] = None,
        loss: str = "bpr",
        num_negatives: int = 1,
        positive_sampling: str = "interactions",
        negative_sampling: str = "uniform",
        popularity_exponent: float = 0.75,
        temperature: float = 1.0,
        epochs: int = 1000,
        batch_size: int = 2048,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        seed: int = 2020,
        device: Union[str, torch.device] = "auto",
        deterministic: bool = False,
        amp: bool = False,
        eval_every: int = 1,
        eval_ks: Sequence[int] = (20,),
        eval_metric: str = "ndcg@20",
        patience: Optional[int] = None,
        debias: Optional[Debiaser] = None,
        run_dir: Optional[Union[str, Path]] = None,
        progress: bool = True,
        auxiliary_terms: Sequence[AuxiliaryTerm] = (),
        evaluators: Optional[Mapping[str, EvaluatorLike]] = None,
        evaluator_options: Optional[Mapping[str, Any]] = None,
        restore_best: bool = True,
        config: Optional[Mapping[str, Any]] = None,
        find_unused_parameters: bool = False,
        time_limit: Optional[float] = None,
    ) -> None:
        counts = (("epochs", epochs, 0), ("batch_size", batch_size, 1), ("num_negatives", num_negatives, 1),
                  ("eval_every", eval_every, 0))
        for name, value, low in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
        if positive_sampling not in POSITIVE_SAMPLING:
            raise ValueError(f"positive_sampling must be one of {POSITIVE_SAMPLING}, got {positive_sampling!r}")
        if negative_sampling not in ("uniform", "popularity"):
            raise ValueError(f"negative_sampling must be 'uniform' or 'popularity', got {negative_sampling!r}")
        if time_limit is not None and (isinstance(time_limit, bool) or not time_limit > 0):
            raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
        if time_limit is not None and run_dir is None:
            raise ValueError("time_limit needs run_dir: the checkpoint written at the limit is what a later call resumes")
        if not lr > 0 or not weight_decay >= 0:
            raise ValueError(f"lr must be positive and weight_decay >= 0, got lr={lr}, weight_decay={weight_decay}")
        self.loss_fn = loss_function(loss, temperature=temperature)
        if model.trainable and len(dataset.train) == 0:
            raise ValueError(f"{dataset.name} has no training interactions to train on")
        eval_ks = tuple(int(k) for k in eval_ks)
        if evaluators is None or "valid" not in evaluators or "test" not in evaluators:
            _check_metric_cutoff(eval_metric, eval_ks)

        self.dataset = dataset
        self.loss = loss
        self.num_negatives = num_negatives
        self.positive_sampling = positive_sampling
        self.negative_sampling = negative_sampling
        self.popularity_exponent = float(popularity_exponent)
        self.temperature = float(temperature)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.seed = int(seed)
        self.deterministic = deterministic
        self.eval_every = eval_every
        self.eval_ks = eval_ks
        self.eval_metric = eval_metric
        self.patience = patience
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.progress = progress
        self.restore_best = restore_best
        self.extra_config = dict(config or {})
        self.find_unused_parameters = find_unused_parameters
        self.time_limit = None if time_limit is None else float(time_limit)
        self._evaluators: Dict[str, EvaluatorLike] = dict(evaluators or {})
        self._evaluator_options = dict(evaluator_options or {})

        if deterministic:
            set_deterministic(True)  # before any CUDA work: cuBLAS reads its env var once
        wants_cuda = str(device).startswith("cuda") or (str(device) == "auto" and torch.cuda.is_available())
        distributed.init_from_env(backend="nccl" if wants_cuda else "gloo")
        self.rank = distributed.rank()
        self.world_size = distributed.world_size()
        self.device = _resolve_device(device)
        self.amp = bool(amp) and self.device.type == "cuda"
        if amp and not self.amp:
            logger.info("amp=True is ignored on %s: mixed precision runs on CUDA only", self.device)

        self.model = model.to(self.device)
        self.debias = (debias if debias is not None else Debiaser()).to(self.device)
        self.debias.set_training_loss(loss)
        if self.world_size > 1 and not self.debias.per_example_loss:
            raise ValueError(
                f"debias {self.debias.name!r} reduces the loss by something other than the example count "
                f"({self.debias!r}), which sharding a batch over {self.world_size} processes cannot reproduce: "
                "train it in one process (or use its per-example variant, e.g. ips with self_normalized: false)"
            )
        if graph is None:
            from .graph import build

            graph = build(dataset)
        # a shallow copy: the caller's graph keeps its tensors where they are
        self.graph = copy.copy(graph).to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.seed)
        self.validation_split = "valid" if len(dataset.valid) else "test"

        self._auxiliary_terms = [
            AuxiliaryTerm(
                "model_aux", lambda batch: self.model.auxiliary_loss(self.graph, generator=self.generator), per_example=False
            ),
            AuxiliaryTerm("debias_aux", lambda batch: self.debias.auxiliary_loss(*batch)),
            *auxiliary_terms,
        ]
        self._objective = _Objective(
            self.model, self.debias, self.graph, self.loss_fn, self.weight_decay, self._auxiliary_terms,
            torch.bfloat16 if self.amp else None,
        )
        self._step_module: nn.Module = self._objective
        self.optimizer: Optional[torch.optim.Optimizer] = None
        if self.model.trainable:
            self.optimizer = _adam(self._parameters(), self.lr, self.device)
        self._sampler = None
        self._pair_sampler: Optional[PairNegativeSampler] = None
        self._positive_sampler: Optional[UserUniformPairSampler] = None
        self._train_pairs: Optional[Tuple[Tensor, Tensor]] = None

    # -- public API ------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Optional[Path]:
        return self.run_dir / CHECKPOINT_NAME if self.run_dir is not None else None

    @property
    def log_path(self) -> Optional[Path]:
        return self.run_dir / LOG_NAME if self.run_dir is not None else None

    def config(self) -> Dict[str, Any]:
        """The run's fingerprint stored in checkpoints (what must match to resume)."""
        trainer: Dict[str, Any] = {
            "loss": self.loss,
            "temperature": self.temperature,
            "num_negatives": self.num_negatives,
            "negative_sampling": self.negative_sampling,
            "popularity_exponent": self.popularity_exponent,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "seed": self.seed,
            "amp": self.amp,
            "auxiliary_terms": [term.name for term in self._auxiliary_terms],
        }
        if self.positive_sampling != "interactions":  # absent at the default: older checkpoints still resume
            trainer["positive_sampling"] = self.positive_sampling
        return {
            "model": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "model_repr": repr(self.model),
            "parameters": {name: list(p.shape) for name, p in self.model.named_parameters()},
            "debias": repr(self.debias),
            "dataset": {"name": self.dataset.name, **self.dataset.stats()},
            "trainer": trainer,
            "extra": self.extra_config,
        }

    def score_function(self) -> Callable[[Tensor], Tensor]:
        """``score_fn(users) -> [len(users), num_items]`` ranking scores of the current
        parameters: the representations once (``debias.embed`` of ``model(graph)``),
        then per call ``debias.ranking_scores`` of ``model.full_scores``. Call it, and
        the function it returns, under ``torch.no_grad()`` with the model and the
        debiaser in eval mode (:meth:`evaluate` does)."""
        user_emb, item_emb = self.debias.embed(self.graph, *self.model(self.graph))

        def score_fn(users: Tensor) -> Tensor:
            users = users.to(self.device)
            scores = self.model.full_scores(users, user_emb, item_emb)
            return self.debias.ranking_scores(scores, users, user_emb, item_emb).float()

        return score_fn

    def evaluate(self, split: str = "test") -> Dict[str, float]:
        """Metrics of the current parameters on ``split`` (``valid`` masks train;
        ``test`` masks train and valid), ranked by :meth:`score_function`."""
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        evaluator = self._evaluator(split)
        was_training = self.model.training, self.debias.training
        self.model.eval()
        self.debias.eval()
        try:
            with torch.no_grad():
                metrics = evaluator.evaluate(self.score_function())
        finally:
            self.model.train(was_training[0])
            self.debias.train(was_training[1])
        return {name: float(value) for name, value in metrics.items()}

    def fit(self) -> TrainResult:
        """Train (resuming from ``run_dir/checkpoint.pt`` when present), restore the best
        state, evaluate on test and return the :class:`TrainResult`."""
        if not self.model.trainable:
            return self._fit_closed_form()
        if self.validation_split == "test" and self.rank == 0:
            logger.warning(
                "%s has no validation split: model selection and early stopping use the test split, "
                "so the reported test metrics are optimistic (LightGCN's protocol)", self.dataset.name
            )
        began_fit = time.perf_counter()
        state = self._start()
        self._wrap_distributed()
        history: List[Dict[str, Any]] = state["history"]
        epoch = state["epoch"]
        bar = tqdm(
            total=self.epochs, initial=min(epoch, self.epochs), desc="train", unit="epoch",
            disable=True if (not self.progress or self.rank != 0) else None, dynamic_ncols=True,
        )
        try:
            while epoch < self.epochs and not state["stopped"]:
                epoch += 1
                began = time.perf_counter()
                self.debias.begin_epoch(epoch)
                self.model.begin_epoch(self.graph, epoch)
                terms = self._train_epoch()
                seconds = time.perf_counter() - began
                state["train_seconds"] += seconds
                record: Dict[str, Any] = {"epoch": epoch, **terms, "seconds": seconds}
                broken = [name for name, value in terms.items() if not math.isfinite(value)]
                if broken:
                    record["diverged"] = broken
                    self._append_log(record)
                    raise TrainingDivergedError(epoch, broken, self.checkpoint_path)
                evaluated = epoch == self.epochs or (self.eval_every > 0 and epoch % self.eval_every == 0)
                if evaluated:
                    self._validate(epoch, record, state)
                history.append(record)
                self._append_log(record)
                state["epoch"] = epoch
                if evaluated:
                    self._save(state)
                bar.update(1)
                bar.set_postfix(loss=f"{terms.get('loss', float('nan')):.4f}", best=f"{state['best_metric']:.4f}")
                if self._out_of_time(began_fit) and epoch < self.epochs and not state["stopped"]:
                    if not evaluated:
                        self._save(state)  # at this epoch boundary: the resumed run continues from here
                    raise TimeLimitReached(epoch, self.epochs, time.perf_counter() - began_fit, self.checkpoint_path)
        finally:
            bar.close()
        if epoch > self.epochs:
            logger.warning("the checkpoint is at epoch %d, beyond epochs=%d; nothing was trained", epoch, self.epochs)
        return self._finish(state)

    def _out_of_time(self, began: float) -> bool:
        """Whether this ``fit()`` call has used its ``time_limit`` (rank 0's clock decides for every rank)."""
        if self.time_limit is None:
            return False
        out = time.perf_counter() - began >= self.time_limit if self.rank == 0 else None
        return bool(distributed.broadcast_object(out))

    # -- training ------------------------------------------------------------
    def _parameters(self) -> List[nn.Parameter]:
        seen, parameters = set(), []
        for parameter in list(self.model.parameters()) + list(self.debias.parameters()):
            if parameter.requires_grad and id(parameter) not in seen:
                seen.add(id(parameter))
                parameters.append(parameter)
        return parameters

    def _build_samplers(self) -> None:
        """Once per trainer: the source of the epoch's positive pairs and the negative sampler."""
        if self._sampler is not None or self._pair_sampler is not None:
            return
        train = self.dataset.train
        if self.positive_sampling == "users":
            self._positive_sampler = UserUniformPairSampler(train, device=self.device)
        else:
            self._train_pairs = (torch.from_numpy(train.user).to(self.device), torch.from_numpy(train.item).to(self.device))
        self._pair_sampler = self.debias.negative_sampler(train, self.device)
        if self._pair_sampler is not None:
            if self.negative_sampling != "uniform" and self.rank == 0:
                logger.warning(
                    "negative_sampling=%r is ignored: debias %r draws its own negatives",
                    self.negative_sampling, self.debias.name,
                )
        elif self.negative_sampling == "uniform":
            self._sampler = UniformNegativeSampler(train, device=self.device)
        else:
            self._sampler = PopularityNegativeSampler(train, exponent=self.popularity_exponent, device=self.device)

    def _negatives(self, users: Tensor, positives: Tensor) -> Tensor:
        """``[len(users), k]`` negatives from the debiaser's sampler, else the trainer's."""
        if self._pair_sampler is not None:
            return self._pair_sampler.sample(users, positives, self.num_negatives, generator=self.generator)
        return self._sampler.sample(users, self.num_negatives, generator=self.generator)

    def _wrap_distributed(self) -> None:
        if self.world_size == 1 or self._step_module is not self._objective:
            return
        from torch.nn.parallel import DistributedDataParallel

        # Cached sparse matrices (adjacency) cannot be broadcast; every rank builds its own.
        sparse = [name for name, buffer in self._objective.named_buffers() if buffer.layout != torch.strided]
        if sparse:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self._objective, sparse)
        self._step_module = DistributedDataParallel(
            self._objective,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            broadcast_buffers=False,
            find_unused_parameters=self.find_unused_parameters,
        )

    def _epoch_pairs(self) -> Tuple[Tensor, Tensor]:
        """The epoch's ``(users, positives)``, as many as there are training interactions:
        those interactions in a random order, or user-first draws (``positive_sampling``)."""
        self._build_samplers()
        if self._positive_sampler is not None:
            return self._positive_sampler.sample(len(self.dataset.train), generator=self.generator)
        assert self._train_pairs is not None
        all_users, all_items = self._train_pairs
        order = torch.randperm(all_users.numel(), generator=self.generator, device=self.device)
        return all_users[order], all_items[order]

    def _train_epoch(self) -> Dict[str, float]:
        """One pass over the epoch's training pairs; the mean over batches of each loss term."""
        self.model.train()
        self.debias.train()
        users, positives = self._epoch_pairs()
        count = users.numel()
        batch_size, k = self.batch_size, self.num_negatives
        chunk = max(batch_size, (_SAMPLING_CHUNK // k) // batch_size * batch_size)
        step, optimizer = self._step_module, self.optimizer
        rank, world_size = self.rank, self.world_size
        collected: Dict[str, List[Tensor]] = {}
        batches = 0
        for chunk_start in range(0, count, chunk):
            chunk_end = min(count, chunk_start + chunk)
            negatives = self._negatives(users[chunk_start:chunk_end], positives[chunk_start:chunk_end])
            for start in range(chunk_start, chunk_end, batch_size):
                end = min(chunk_end, start + batch_size)
                low, high = distributed.shard(start, end, rank, world_size)
                share = (high - low) / (end - start)
                if high == low:  # a last batch smaller than the world: weight 0, still a backward for DDP
                    low, high = start, start + 1
                local = slice(low - chunk_start, high - chunk_start)
                total, terms = step(users[low:high], positives[low:high], negatives[local], share, world_size)
                optimizer.zero_grad(set_to_none=True)
                total.backward()
                optimizer.step()
                for name, value in terms.items():
                    collected.setdefault(name, []).append(value)
                batches += 1
        names = list(collected)
        sums = torch.stack([torch.stack(collected[name]).sum() for name in names]).double()
        values = (distributed.all_reduce_sum(sums) / max(batches, 1)).tolist()  # the epoch's one sync
        return dict(zip(names, values))

    # -- evaluation and early stopping --------------------------------------------
    def _evaluator(self, split: str) -> EvaluatorLike:
        if split not in self._evaluators:
            from .evaluate import Evaluator

            data = self.dataset
            interactions, exclude = (data.valid, [data.train]) if split == "valid" else (data.test, [data.train, data.valid])
            # training popularity adds the popularity and long-tail metrics, which debiasing studies report
            options = {"item_popularity": data.train.item_counts(), **self._evaluator_options}
            self._evaluators[split] = Evaluator(
                interactions, exclude=exclude, ks=self.eval_ks, device=self.device, **options
            )
        return self._evaluators[split]

    def _validate(self, epoch: int, record: Dict[str, Any], state: Dict[str, Any]) -> None:
        """Evaluate (rank 0), update best state and patience, decide on stopping (all ranks)."""
        decision = None
        if self.rank == 0:
            metrics = self.evaluate(self.validation_split)
            if self.eval_metric not in metrics:
                raise KeyError(
                    f"eval_metric {self.eval_metric!r} is not among the evaluator's metrics: {', '.join(sorted(metrics))}"
                )
            record[self.validation_split] = metrics
            value = metrics[self.eval_metric]
            improved = value > state["best_metric"]  # NaN never improves
            decision = (improved, value, metrics)
        improved, value, metrics = distributed.broadcast_object(decision)
        if improved:
            state["best_metric"], state["best_epoch"], state["best_valid"] = value, epoch, metrics
            state["bad_evaluations"] = 0
            state["best"] = self._snapshot()
        else:
            state["bad_evaluations"] += 1
        if self.patience is not None and state["bad_evaluations"] >= self.patience:
            state["stopped"] = True
            if self.rank == 0:
                logger.info(
                    "early stop after epoch %d: %s has not improved for %d evaluations (best %.6f at epoch %d)",
                    epoch, self.eval_metric, self.patience, state["best_metric"], state["best_epoch"],
                )

    def _snapshot(self) -> Dict[str, Dict[str, Tensor]]:
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "debias": {k: v.detach().clone() for k, v in self.debias.state_dict().items()},
        }

    # -- state, checkpoints, logs -------------------------------------------------
    def _fresh_state(self) -> Dict[str, Any]:
        return {
            "epoch": 0,
            "best": None,
            "best_metric": -math.inf,
            "best_epoch": 0,
            "best_valid": {},
            "bad_evaluations": 0,
            "stopped": False,
            "history": [],
            "train_seconds": 0.0,
        }

    def _start(self) -> Dict[str, Any]:
        """A fresh state (everything seeded) or the one resumed from the checkpoint."""
        path = self.checkpoint_path
        if path is None or not path.exists():
            seed_everything(self.seed)
            self.generator.manual_seed(self.seed)
            self._truncate_log(0)
            return self._fresh_state()
        saved = load_checkpoint(path, map_location="cpu")
        check_config(saved["config"], self.config(), path)
        self.model.load_state_dict(saved["model"])
        self.debias.load_state_dict(saved["debias"])
        self.optimizer.load_state_dict(saved["optimizer"])
        try:
            set_rng_state(saved["rng"], self.generator)
        except RuntimeError:
            # a CPU generator's state does not fit a CUDA one (and back): continue, no longer bit for bit
            logger.warning("%s was written on another device type: the trainer's generator is reseeded", path)
            self.generator.manual_seed(self.seed + saved["epoch"])
        state = self._fresh_state()
        for key in state:
            state[key] = saved[key]
        if state["best"] is not None:
            state["best"] = {
                part: {k: v.to(self.device) for k, v in tensors.items()} for part, tensors in state["best"].items()
            }
        self._truncate_log(state["epoch"])
        if self.rank == 0:
            logger.info("resumed %s at epoch %d", path, state["epoch"])
        return state

    def _save(self, state: Mapping[str, Any]) -> None:
        if self.rank == 0 and self.checkpoint_path is not None:
            save_checkpoint(
                self.checkpoint_path,
                {
                    **state,
                    "config": self.config(),
                    "model": self.model.state_dict(),
                    "debias": self.debias.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "rng": rng_state(self.generator),
                },
            )
        distributed.barrier()  # nobody reads a half-published run directory

    def _append_log(self, record: Mapping[str, Any]) -> None:
        if self.rank == 0 and self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            # append + flush: a crash keeps every line written before it
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(_json_record(record) + "\n")
                handle.flush()

    def _truncate_log(self, epoch: int) -> None:
        """Drop log lines of epochs after ``epoch`` (trained after the checkpoint, then lost)."""
        path = self.log_path
        if self.rank != 0 or path is None or not path.exists():
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = []
        for line in lines:
            try:
                if json.loads(line).get("epoch", 0) <= epoch:
                    kept.append(line)
            except (ValueError, AttributeError):
                continue  # a line cut by a crash mid-write
        if len(kept) != len(lines):
            write_text_atomic(path, "".join(line + "\n" for line in kept))

    def _finish(self, state: Dict[str, Any]) -> TrainResult:
        if self.restore_best and state["best"] is not None:
            self.model.load_state_dict(state["best"]["model"])
            self.debias.load_state_dict(state["best"]["debias"])
        result = None
        if self.rank == 0:
            result = TrainResult(
                valid=dict(state["best_valid"]),
                test=self.evaluate("test"),
                epochs=state["epoch"],
                best_epoch=state["best_epoch"],
                train_seconds=state["train_seconds"],
                history=list(state["history"]),
                validation_split=self.validation_split,
                stopped_early=bool(state["stopped"]) and state["epoch"] < self.epochs,
            )
            self._write_result(result)
        return distributed.broadcast_object(result)

    def _fit_closed_form(self) -> TrainResult:
        """Models without gradient training (``trainable = False``): ``fit(train)``, then evaluate."""
        began = time.perf_counter()
        self.model.fit(self.dataset.train)
        self.model.to(self.device)
        seconds = time.perf_counter() - began
        result = None
        if self.rank == 0:
            valid = self.evaluate(self.validation_split)
            result = TrainResult(
                valid=valid, test=self.evaluate("test"), epochs=0, best_epoch=0, train_seconds=seconds,
                history=[], validation_split=self.validation_split,
            )
            self._write_result(result)
        return distributed.broadcast_object(result)

    def _write_result(self, result: TrainResult) -> None:
        if self.run_dir is not None:
            write_text_atomic(self.run_dir / RESULT_NAME, _json_record(result.to_dict()) + "\n")


def _adam(parameters: List[nn.Parameter], lr: float, device: torch.device) -> torch.optim.Adam:
    # fused Adam: one kernel per step instead of one per tensor and operation (launch overhead dominates at ~3 ms/batch)
    fused = device.type == "cuda" and bool(parameters)
    return torch.optim.Adam(parameters, lr=lr, fused=True if fused else None)


def _check_metric_cutoff(metric: str, ks: Sequence[int]) -> None:
    """``ndcg@20`` needs 20 among ``eval_ks``: fail before training, not after the first epoch."""
    if "@" in metric:
        _, _, cutoff = metric.partition("@")
        if cutoff.isdigit() and int(cutoff) not in ks:
            raise ValueError(f"eval_metric {metric!r} needs cut-off {cutoff} in eval_ks, got {list(ks)}")
