"""Every debiaser trains any encoder by configuration alone, and resumes exactly."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from graphrec.checkpoint import load_checkpoint
from graphrec.experiment import build_run, open_run, train_run

WORLD = {"num_users": 60, "num_items": 50, "clicks_per_user": 8.0, "dim": 4, "random_exposures_per_user": 5, "seed": 1}
MODELS = {
    "mf": {"embedding_dim": 8},
    "lightgcn": {"embedding_dim": 8, "num_layers": 2},
    "kgin": {"embedding_dim": 8, "num_layers": 1},
    "rgcn": {"embedding_dim": 8, "num_layers": 1},
    "kgat": {"embedding_dim": 8, "relation_dim": 8, "layer_sizes": [8], "attention_refresh": "epoch"},
}
METHODS = {
    "ips": ({"propensity": "dataset", "clip": 0.01}, "bpr", set()),
    "macr": ({"c": 1.0}, "bce", {"macr_item", "macr_user"}),
    "pda": ({"gamma": 0.2}, "bpr", set()),
    "dice": ({"margin": 2, "pool": 5}, "bpr", {"dice_interest", "dice_conformity", "dice_discrepancy"}),
}


def config(model: str, method: str, epochs: int = 2):
    args, loss, _ = METHODS[method]
    return {
        "dataset": "synthetic", "dataset_args": WORLD, "model": model, "model_args": MODELS[model],
        "debias": method, "debias_args": args, "loss": loss, "num_negatives": 2,
        "epochs": epochs, "batch_size": 128, "lr": 0.01, "device": "cpu", "seed": 7,
        "eval": {"ks": [5], "metric": "ndcg@5"},
    }


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_every_encoder(tmp_path: Path, model: str, method: str):
    metrics = train_run(config(model, method), tmp_path, progress=False)
    assert metrics["epochs"] == 2 and math.isfinite(metrics["test"]["ndcg@5"])
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(records) == 2
    expected_terms = METHODS[method][2]
    for record in records:
        assert expected_terms <= set(record) and all(math.isfinite(record[name]) for name in expected_terms | {"loss"})
    assert f"debias: {method}" in (tmp_path / "config.yaml").read_text()


@pytest.mark.parametrize("model, method", [("lightgcn", "macr"), ("mf", "dice"), ("kgat", "macr")])
def test_resume_with_a_debiaser_that_has_parameters(tmp_path: Path, model: str, method: str):
    train_run(config(model, method, epochs=2), tmp_path / "straight", progress=False)
    train_run(config(model, method, epochs=1), tmp_path / "resumed", progress=False)
    train_run(config(model, method, epochs=2), tmp_path / "resumed", progress=False)  # continues at epoch 2
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert straight["epoch"] == resumed["epoch"] == 2
    assert straight["debias"], "the debiaser's parameters are checkpointed"
    for part in ("model", "debias"):
        assert straight[part].keys() == resumed[part].keys()
        for name, tensor in straight[part].items():
            assert torch.equal(tensor, resumed[part][name]), f"{part}.{name}"
    # a reopened run ranks with the best debiaser state, identically
    first, second = open_run(tmp_path / "straight"), open_run(tmp_path / "resumed")
    assert first.trainer.evaluate("test") == second.trainer.evaluate("test")


def test_dice_draws_its_own_negatives(tmp_path: Path):
    run = build_run(config("mf", "dice"), tmp_path, progress=False)
    run.trainer.fit()
    sampler = run.trainer._pair_sampler
    assert sampler is run.trainer.debias._sampler and type(sampler).__name__ == "PopularityMarginSampler"
    assert sampler.margin == pytest.approx(2 * 0.9)  # epoch 2 of 2: one decay step


def test_the_trained_debiaser_changes_the_ranking(tmp_path: Path):
    """MACR's counterfactual term is what the evaluator ranks with."""
    run = build_run(config("mf", "macr"), tmp_path, progress=False)
    run.trainer.fit()
    trainer = run.trainer
    users = torch.arange(run.dataset.num_users)
    with torch.no_grad():
        scores = trainer.score_function()(users)
        user_emb, item_emb = run.model(trainer.graph)
        raw = run.model.full_scores(users, user_emb, item_emb)
        gate = torch.sigmoid(trainer.debias.user_logits(user_emb)).unsqueeze(1) * torch.sigmoid(
            trainer.debias.item_logits(item_emb)
        )
    torch.testing.assert_close(scores, (raw - 1.0) * gate)
