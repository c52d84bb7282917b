"""The shared trainer on tiny worlds: loss terms, learning, early stopping,
divergence, logs, closed-form models, determinism and the hooks."""
from __future__ import annotations

import json
import logging
import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from graphrec.checkpoint import load_checkpoint
from graphrec.data import RecDataset, synthetic
from graphrec.data.interactions import Interactions
from graphrec.debias import Debiaser
from graphrec.models.base import Recommender
from graphrec.seeding import seed_everything, set_deterministic
from graphrec.train import AuxiliaryTerm, Trainer, TrainingDivergedError


# -- stand-ins ---------------------------------------------------------------------
class TinyMF(Recommender):
    """Matrix factorisation: forward returns the layer-0 tables themselves."""

    def __init__(self, num_users: int, num_items: int, dim: int = 8, init_std: float = 0.1) -> None:
        super().__init__(num_users, num_items)
        self.init_std = init_std
        self.user = nn.Embedding(num_users, dim)
        self.item = nn.Embedding(num_items, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.user.weight, std=self.init_std)
        nn.init.normal_(self.item.weight, std=self.init_std)

    def forward(self, graph):
        return self.user.weight, self.item.weight

    def initial_embeddings(self, users, items):
        return self.user(users), self.item(items)


class PoisonedMF(TinyMF):
    """Its auxiliary loss turns NaN from the ``poison_from``-th training batch on."""

    def __init__(self, num_users: int, num_items: int, poison_from: int) -> None:
        super().__init__(num_users, num_items)
        self.poison_from = poison_from
        self.calls = 0

    def auxiliary_loss(self, graph, *, generator=None):
        self.calls += 1
        value = self.item.weight.sum() * 0.0
        return value + float("nan") if self.calls >= self.poison_from else value


class Popularity(Recommender):
    """Closed-form stand-in: score = training count, ties broken towards lower item index."""

    trainable = False

    def __init__(self, num_users: int, num_items: int) -> None:
        super().__init__(num_users, num_items)
        self.register_buffer("counts", torch.zeros(num_items))
        self.fitted_on: Optional[Interactions] = None

    def fit(self, train: Interactions) -> "Popularity":
        self.fitted_on = train
        tie_break = torch.arange(self.num_items, 0, -1, dtype=torch.float64) * 1e-6
        self.counts = torch.from_numpy(train.item_counts()).double().add(tie_break).float()
        return self

    def forward(self, graph):
        return torch.zeros(self.num_users, 1), self.counts.unsqueeze(1)

    def full_scores(self, users, user_emb, item_emb):
        return self.counts.expand(len(users), -1)


class ScriptedEvaluator:
    """Returns the next value of a script as ``ndcg@20`` at each call."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def evaluate(self, score_fn) -> Dict[str, float]:
        score_fn(torch.arange(2))  # the trainer's scoring path works
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return {"ndcg@20": value}


def numpy_recall(scores: np.ndarray, test: Interactions, exclude: Sequence[Interactions], k: int = 20) -> float:
    """Recall@k over users with a test item, excluded pairs masked and dropped from the test sets."""
    scores = scores.astype(np.float64).copy()
    excluded = set()
    for part in exclude:
        scores[part.user, part.item] = -np.inf
        excluded.update(zip(part.user.tolist(), part.item.tolist()))
    relevant: Dict[int, set] = {}
    for u, i in zip(test.user.tolist(), test.item.tolist()):
        if (u, i) not in excluded:
            relevant.setdefault(u, set()).add(i)
    recalls = []
    for u, items in relevant.items():
        top = np.argsort(-scores[u], kind="stable")[:k]
        recalls.append(len(items.intersection(top.tolist())) / len(items))
    return float(np.mean(recalls))


@pytest.fixture(scope="module")
def world():
    return synthetic(num_users=150, num_items=100, clicks_per_user=12.0, seed=3)


def stub_evaluators(valid_values=(0.0,)):
    return {"valid": ScriptedEvaluator(valid_values), "test": ScriptedEvaluator([0.0])}


def make_trainer(model, dataset, **kwargs) -> Trainer:
    options = dict(device="cpu", progress=False, epochs=2, batch_size=256, lr=0.01, seed=7)
    options.update(kwargs)
    if "evaluators" not in options:
        options["evaluators"] = stub_evaluators()
    return Trainer(model, dataset, **options)


# -- loss terms ---------------------------------------------------------------------
@pytest.mark.parametrize("num_negatives", [1, 3])
def test_bpr_and_l2_terms_match_a_hand_computation(world, num_negatives):
    dataset = world.dataset
    model = TinyMF(dataset.num_users, dataset.num_items, dim=2)
    with torch.no_grad():  # every user (1, 2), every item (0.5, 0.5): all scores equal
        model.user.weight.copy_(torch.tensor([1.0, 2.0]))
        model.item.weight.fill_(0.5)
    trainer = make_trainer(model, dataset, epochs=1, batch_size=len(dataset.train), weight_decay=0.1,
                           num_negatives=num_negatives)
    record = trainer.fit().history[0]
    # equal scores: -log sigma(0) = log 2 for every negative
    assert record["loss"] == pytest.approx(math.log(2), rel=1e-6)
    # 0.1 * 0.5 * (B * |u|^2 + B * |p|^2 + k * B * |n|^2) / B
    assert record["l2"] == pytest.approx(0.1 * 0.5 * (5.0 + 0.5 + num_negatives * 0.5), rel=1e-6)


def test_weight_decay_zero_has_no_l2_term(world):
    dataset = world.dataset
    record = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, epochs=1, weight_decay=0.0).fit().history[0]
    assert "l2" not in record


# -- learning -------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["bpr", "bce", "softmax"])
def test_training_lowers_the_loss_and_beats_random(world, loss):
    dataset = world.dataset
    seed_everything(0)
    model = TinyMF(dataset.num_users, dataset.num_items, dim=16)
    trainer = make_trainer(model, dataset, loss=loss, num_negatives=4 if loss == "softmax" else 1,
                           epochs=25, batch_size=128, lr=0.02, weight_decay=1e-4, eval_every=0)
    result = trainer.fit()
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < 0.8 * losses[0]
    with torch.no_grad():
        scores = (model.user.weight @ model.item.weight.t()).numpy()
    trained = numpy_recall(scores, dataset.test, [dataset.train, dataset.valid])
    random_scores = np.random.default_rng(0).normal(size=scores.shape)
    chance = numpy_recall(random_scores, dataset.test, [dataset.train, dataset.valid])
    assert trained > 1.5 * chance, (trained, chance)


def test_popularity_negatives_and_softmax_with_many_negatives_train(world):
    dataset = world.dataset
    model = TinyMF(dataset.num_users, dataset.num_items, dim=16)
    result = make_trainer(model, dataset, loss="softmax", num_negatives=8, negative_sampling="popularity",
                          temperature=0.5, epochs=5, eval_every=0).fit()
    losses = [record["loss"] for record in result.history]
    assert losses[-1] < losses[0]
    # cross entropy over 1 + 8 candidates starts near log 9
    assert losses[0] == pytest.approx(math.log(9), rel=0.05)


# -- evaluation and early stopping ---------------------------------------------------------
def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_state(world, tmp_path):
    dataset = world.dataset
    seed_everything(1)
    model = TinyMF(dataset.num_users, dataset.num_items)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    evaluators = stub_evaluators([0.1, 0.3, 0.2, 0.25, 0.9, 0.9])
    result = make_trainer(model, dataset, epochs=10, patience=2, evaluators=evaluators, run_dir=tmp_path).fit()
    # best 0.3 at epoch 2; epochs 3 and 4 do not improve -> stop after epoch 4
    assert (result.epochs, result.best_epoch, result.stopped_early) == (4, 2, True)
    assert result.valid == {"ndcg@20": 0.3}
    assert evaluators["valid"].calls == 4 and evaluators["test"].calls == 1
    assert [record["valid"]["ndcg@20"] for record in result.history] == [0.1, 0.3, 0.2, 0.25]

    reference = TinyMF(dataset.num_users, dataset.num_items)
    reference.load_state_dict(initial)
    make_trainer(reference, dataset, epochs=2, restore_best=False).fit()  # same seed, two epochs: the best state
    for name, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert load_checkpoint(tmp_path / "checkpoint.pt")["stopped"] is True


def test_evaluation_cadence_and_final_epoch(world):
    dataset = world.dataset
    evaluators = stub_evaluators([0.1, 0.2, 0.3])
    result = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, epochs=5, eval_every=2,
                          evaluators=evaluators).fit()
    assert [record["epoch"] for record in result.history if "valid" in record] == [2, 4, 5]
    assert result.best_epoch == 5 and not result.stopped_early


def test_without_validation_split_the_test_split_selects_with_a_warning(world, caplog):
    data = world.dataset
    dataset = RecDataset(name="no-valid", train=data.train, test=data.test)
    evaluators = {"test": ScriptedEvaluator([0.4, 0.5, 0.6])}
    with caplog.at_level(logging.WARNING, logger="graphrec.train"):
        result = make_trainer(TinyMF(data.num_users, data.num_items), dataset, evaluators=evaluators).fit()
    assert "peek" in caplog.text or "optimistic" in caplog.text
    assert result.validation_split == "test"
    assert [record["test"]["ndcg@20"] for record in result.history] == [0.4, 0.5]
    assert result.test == {"ndcg@20": 0.6}


def test_unknown_eval_metric_is_reported_with_the_available_ones(world):
    dataset = world.dataset
    with pytest.raises(ValueError, match="cut-off 10"):
        Trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, device="cpu", eval_metric="recall@10")
    trainer = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, eval_metric="hit@20")
    with pytest.raises(KeyError, match="ndcg@20"):
        trainer.fit()


def test_lightgcn_with_the_real_evaluator(world):
    from graphrec.models import create_model
    from graphrec.graph import build

    dataset = world.dataset
    graph = build(dataset)
    seed_everything(0)
    model = create_model("lightgcn", graph, embedding_dim=16, num_layers=2)
    trainer = Trainer(model, dataset, graph=graph, device="cpu", progress=False, epochs=4, batch_size=256,
                      lr=0.02, seed=1, eval_ks=(10, 20))
    result = trainer.fit()
    assert {"recall@20", "ndcg@10", "popularity@20", "coverage@20"} <= set(result.test)
    with torch.no_grad():
        user_emb, item_emb = model(graph)
    scores = (user_emb @ item_emb.t()).numpy()
    expected = numpy_recall(scores, dataset.test, [dataset.train, dataset.valid])
    assert result.test["recall@20"] == pytest.approx(expected, abs=1e-6)
    best = max(result.history, key=lambda record: record["valid"]["ndcg@20"])
    assert result.best_epoch == best["epoch"] and result.valid == best["valid"]


# -- divergence --------------------------------------------------------------------------
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(world, tmp_path):
    dataset = world.dataset
    model = PoisonedMF(dataset.num_users, dataset.num_items, poison_from=2)  # one batch per epoch: epoch 2
    trainer = make_trainer(model, dataset, epochs=5, batch_size=len(dataset.train), run_dir=tmp_path)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2.*model_aux") as caught:
        trainer.fit()
    assert caught.value.epoch == 2 and caught.value.terms == ["model_aux"]
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values())
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert lines[1]["model_aux"] is None and lines[1]["diverged"] == ["model_aux"]

    # the kept checkpoint resumes (the poison is gone)
    fresh = PoisonedMF(dataset.num_users, dataset.num_items, poison_from=10**9)
    result = make_trainer(fresh, dataset, epochs=3, batch_size=len(dataset.train), run_dir=tmp_path).fit()
    assert [record["epoch"] for record in result.history] == [1, 2, 3]
    logged = [json.loads(line)["epoch"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3]  # the diverged line of the broken run was dropped


# -- logs and results ---------------------------------------------------------------------
def test_jsonl_log_has_one_parsable_line_per_epoch(world, tmp_path):
    dataset = world.dataset
    result = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, epochs=3, eval_every=2,
                          evaluators=stub_evaluators([0.1, 0.2]), run_dir=tmp_path).fit()
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    for line, record in zip(lines, result.history):
        assert set(line) >= {"epoch", "loss", "l2", "seconds"}
        assert line["loss"] == pytest.approx(record["loss"])
        assert line["seconds"] >= 0
    assert "valid" not in lines[0] and lines[1]["valid"] == {"ndcg@20": 0.1}
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["best_epoch"] == 3 and saved["epochs"] == 3 and saved["valid"] == {"ndcg@20": 0.2}


def test_train_seconds_count_training_only(world):
    dataset = world.dataset
    result = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, epochs=3).fit()
    assert result.train_seconds == pytest.approx(sum(record["seconds"] for record in result.history))


# -- closed-form models ------------------------------------------------------------------------
def test_non_trainable_model_is_fitted_and_evaluated(world, tmp_path):
    dataset = world.dataset
    model = Popularity(dataset.num_users, dataset.num_items)
    result = Trainer(model, dataset, device="cpu", progress=False, run_dir=tmp_path, epochs=50).fit()
    assert model.fitted_on is dataset.train
    assert result.epochs == 0 and result.history == []
    counts = model.counts.numpy()
    scores = np.broadcast_to(counts, (dataset.num_users, dataset.num_items))
    expected = numpy_recall(scores, dataset.test, [dataset.train, dataset.valid])
    assert result.test["recall@20"] == pytest.approx(expected, abs=1e-6)
    assert result.valid["recall@20"] == pytest.approx(numpy_recall(scores, dataset.valid, [dataset.train]), abs=1e-6)
    assert not (tmp_path / "checkpoint.pt").exists() and (tmp_path / "result.json").exists()


# -- determinism ---------------------------------------------------------------------------
@pytest.fixture
def deterministic_mode():
    yield
    set_deterministic(False)


def test_same_seed_gives_identical_parameters(world, deterministic_mode):
    from graphrec.graph import build
    from graphrec.models import create_model

    dataset = world.dataset
    graph = build(dataset)

    def run(seed: int) -> Dict[str, Tensor]:
        seed_everything(seed)
        model = create_model("lightgcn", graph, embedding_dim=8, num_layers=2)
        make_trainer(model, dataset, graph=graph, seed=seed, epochs=2, batch_size=64, deterministic=True).fit()
        return model.state_dict()

    first, second, other = run(5), run(5), run(6)
    assert torch.are_deterministic_algorithms_enabled()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    assert not torch.equal(first["embedding.weight"], other["embedding.weight"])


# -- hooks -------------------------------------------------------------------------------
class RecordingDebiaser(Debiaser):
    """Doubles training scores, weights examples, adds a term, and ranks item 0 first."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(()))
        self.seen: List[tuple] = []

    def train_score(self, score, users, items):
        self.seen.append(("train_score", tuple(score.shape), tuple(users.shape), tuple(items.shape)))
        return 2 * score + self.shift

    def loss(self, base_loss, *, users, positive_items, negative_items, positive_score, negative_score):
        self.seen.append(("loss", tuple(base_loss.shape), tuple(negative_score.shape)))
        return base_loss.sum() / len(base_loss)

    def inference_score(self, scores, users):
        scores = scores.clone()
        scores[:, 0] = 1e6
        return scores

    def auxiliary_loss(self, users, positive_items, negative_items):
        return self.shift.pow(2) + 0.25


def test_debiaser_and_auxiliary_terms_plug_in(world):
    dataset = world.dataset
    debias = RecordingDebiaser()
    extra = AuxiliaryTerm("constant", lambda batch: torch.tensor(0.5) + 0.0 * batch.users.sum(), per_example=True)
    trainer = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, epochs=1, batch_size=100,
                           num_negatives=3, debias=debias, auxiliary_terms=[extra])
    record = trainer.fit().history[0]
    assert record["constant"] == pytest.approx(0.5)
    assert record["debias_aux"] == pytest.approx(0.25, abs=1e-3)
    assert ("train_score", (100,), (100,), (100,)) in debias.seen
    assert ("train_score", (100, 3), (100, 3), (100, 3)) in debias.seen
    assert ("loss", (100,), (100, 3)) in debias.seen
    assert debias.shift.item() != 0.0  # the debiaser's parameters are optimised with the model's

    # inference_score is what the evaluator ranks: item 0 becomes every user's first recommendation
    class FirstItem:
        def evaluate(self, score_fn):
            scores = score_fn(torch.arange(5))
            return {"first": float((scores.argmax(dim=1) == 0).float().mean())}

    trainer._evaluators["test"] = FirstItem()
    assert trainer.evaluate("test") == {"first": 1.0}


def _epoch_pairs_seen(dataset, **kwargs) -> np.ndarray:
    """``[N, 2]`` (user, positive) rows of one training epoch, read from the batches."""
    seen: List[Tensor] = []

    def record(batch) -> Tensor:
        seen.append(torch.stack([batch.users, batch.positive_items], dim=1))
        return batch.users.sum() * 0.0

    model = TinyMF(dataset.num_users, dataset.num_items)
    make_trainer(model, dataset, epochs=1, batch_size=64, auxiliary_terms=[AuxiliaryTerm("record", record)], **kwargs).fit()
    return torch.cat(seen).numpy()


def test_positive_sampling_interactions_visits_every_interaction_once(world):
    train = world.dataset.train
    pairs = _epoch_pairs_seen(world.dataset)
    expected = np.stack([train.user, train.item], axis=1)
    assert np.array_equal(np.unique(pairs, axis=0, return_counts=True)[1],
                          np.unique(expected, axis=0, return_counts=True)[1])
    assert np.array_equal(np.unique(pairs, axis=0), np.unique(expected, axis=0))


def test_positive_sampling_users_draws_users_uniformly(world):
    from scipy.stats import chisquare

    train = world.dataset.train
    rows = [_epoch_pairs_seen(world.dataset, positive_sampling="users", seed=seed) for seed in range(10)]
    pairs = np.concatenate(rows)
    assert all(len(r) == len(train) for r in rows)  # as many examples as interactions, per epoch
    keys = set((train.user * train.num_items + train.item).tolist())
    assert set((pairs[:, 0] * train.num_items + pairs[:, 1]).tolist()) <= keys
    counts = np.bincount(pairs[:, 0], minlength=train.num_users)
    active = np.flatnonzero(train.user_counts())
    assert chisquare(counts[active]).pvalue > 1e-4  # every user with training items equally often
    # the interactions scheme weighs users by activity: the same test rejects it
    by_interaction = np.concatenate([_epoch_pairs_seen(world.dataset, seed=seed) for seed in range(10)])
    assert chisquare(np.bincount(by_interaction[:, 0], minlength=train.num_users)[active]).pvalue < 1e-6


def test_amp_is_ignored_on_cpu(world):
    dataset = world.dataset
    trainer = make_trainer(TinyMF(dataset.num_users, dataset.num_items), dataset, amp=True)
    assert trainer.amp is False
    assert trainer.fit().history[0]["loss"] > 0


def test_bad_arguments_are_refused(world):
    dataset = world.dataset
    model = TinyMF(dataset.num_users, dataset.num_items)
    for kwargs, pattern in [
        ({"batch_size": 0}, "batch_size"),
        ({"num_negatives": 0}, "num_negatives"),
        ({"negative_sampling": "hard"}, "negative_sampling"),
        ({"positive_sampling": "items"}, "positive_sampling"),
        ({"patience": 0}, "patience"),
        ({"loss": "hinge"}, "unknown loss"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            make_trainer(model, dataset, **kwargs)


def test_mixed_precision_keeps_losses_in_float32(world):
    """The objective under bf16 autocast (CPU autocast here; the trainer enables it on CUDA only)."""
    from graphrec.graph import build
    from graphrec.losses import bpr_loss
    from graphrec.models import create_model
    from graphrec.train import _Objective

    dataset = world.dataset
    graph = build(dataset)
    model = create_model("ngcf", graph, embedding_dim=8).eval()  # dense layers: what autocast changes; no dropout
    users, positives, negatives = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.tensor([[6], [7], [8]])
    objective = _Objective(model, Debiaser(), graph, bpr_loss, 1e-4, [], torch.bfloat16, "cpu")
    total, terms = objective(users, positives, negatives)
    assert total.dtype == torch.float32 and all(value.dtype == torch.float32 for value in terms.values())
    total.backward()
    full = _Objective(model, Debiaser(), graph, bpr_loss, 1e-4, [])(users, positives, negatives)[1]
    assert terms["loss"].item() == pytest.approx(full["loss"].item(), rel=0.05)  # bf16 scores, close
    assert terms["loss"].item() != full["loss"].item()  # ... but the dense layers did run in bf16
    assert terms["l2"].item() == pytest.approx(full["l2"].item(), rel=1e-6)  # layer-0 rows: exact
