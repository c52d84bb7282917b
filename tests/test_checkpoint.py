"""Atomic checkpoints, RNG state capture, exact resume and the refusal of foreign checkpoints."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from graphrec.checkpoint import CheckpointMismatchError, check_config, load_checkpoint, save_checkpoint
from graphrec.data import synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.seeding import rng_state, seed_everything, set_rng_state
from graphrec.train import TimeLimitReached, Trainer


# -- the file ---------------------------------------------------------------------------
def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = {"epoch": 3, "model": {"w": torch.arange(6.0).view(2, 3)}, "history": [{"loss": 0.5, "valid": None}],
             "config": {"lr": 1e-3, "ks": (10, 20)}}
    path = save_checkpoint(tmp_path / "run" / "checkpoint.pt", state)
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["history"] == [{"loss": 0.5, "valid": None}]
    assert loaded["config"] == {"lr": 1e-3, "ks": (10, 20)}
    assert torch.equal(loaded["model"]["w"], torch.arange(6.0).view(2, 3))


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle")


def test_a_failed_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = save_checkpoint(tmp_path / "checkpoint.pt", {"epoch": 1, "w": torch.ones(1000)})
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot pickle"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(1000), "bad": Unpicklable()})
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no staging file left behind


def test_a_foreign_file_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a graphrec checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_check_config_lists_every_difference(tmp_path):
    saved = {"trainer": {"lr": 0.001, "batch_size": 2048}, "model": "LightGCN"}
    check_config(saved, {"trainer": {"lr": 0.001, "batch_size": 2048}, "model": "LightGCN"}, tmp_path)
    with pytest.raises(CheckpointMismatchError) as caught:
        check_config(saved, {"trainer": {"lr": 0.01, "batch_size": 2048, "seed": 1}, "model": "LightGCN"}, tmp_path)
    message = str(caught.value)
    assert "trainer.lr: 0.001 in the checkpoint, 0.01 in this run" in message
    assert "trainer.seed: absent in the checkpoint" in message
    assert "batch_size" not in message


def test_rng_state_restores_every_generator():
    generator = torch.Generator().manual_seed(3)
    seed_everything(11)
    state = rng_state(generator)
    first = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=generator))
    set_rng_state(state, generator)
    second = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=generator))
    assert first[:2] == second[:2]
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])


# -- resuming a run ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def setting():
    dataset = synthetic(num_users=120, num_items=80, clicks_per_user=10.0, seed=4).dataset
    return dataset, build(dataset)


def lightgcn(graph, seed: int = 0, **hyperparameters):
    seed_everything(seed)
    return create_model("lightgcn", graph, **{"embedding_dim": 8, "num_layers": 2, **hyperparameters})


def trainer(model, setting, run_dir, **kwargs) -> Trainer:
    dataset, graph = setting
    options = dict(graph=graph, device="cpu", progress=False, batch_size=64, lr=0.01, seed=9, patience=3,
                   eval_ks=(5, 20), run_dir=run_dir)
    options.update(kwargs)
    return Trainer(model, dataset, **options)


def without_seconds(history):
    return [{k: v for k, v in record.items() if k != "seconds"} for record in history]


@pytest.mark.parametrize("positive_sampling", ["interactions", "users"])
def test_stop_and_resume_is_bit_identical_to_an_uninterrupted_run(setting, tmp_path, positive_sampling):
    options = dict(restore_best=False, positive_sampling=positive_sampling)
    whole = lightgcn(setting[1])
    whole_trainer = trainer(whole, setting, tmp_path / "whole", epochs=4, **options)
    whole_result = whole_trainer.fit()

    first_half = lightgcn(setting[1])
    trainer(first_half, setting, tmp_path / "split", epochs=2, **options).fit()
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["epoch"] == 2
    # a different initialisation and other global RNG draws: the checkpoint must override both
    resumed = lightgcn(setting[1], seed=123)
    torch.rand(7), np.random.rand(3), random.random()
    resumed_trainer = trainer(resumed, setting, tmp_path / "split", epochs=4, **options)
    resumed_result = resumed_trainer.fit()

    for name, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name
    whole_moments = whole_trainer.optimizer.state_dict()["state"]
    resumed_moments = resumed_trainer.optimizer.state_dict()["state"]
    for index, moments in whole_moments.items():
        for key, value in moments.items():
            assert torch.equal(resumed_moments[index][key], value), key
    assert resumed_result.test == whole_result.test
    assert resumed_result.valid == whole_result.valid
    assert (resumed_result.epochs, resumed_result.best_epoch) == (whole_result.epochs, whole_result.best_epoch)
    assert without_seconds(resumed_result.history) == without_seconds(whole_result.history)
    # the saved generator states match too, so a second resume would continue identically
    whole_rng = load_checkpoint(tmp_path / "whole" / "checkpoint.pt")["rng"]
    resumed_rng = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["rng"]
    assert whole_rng["python"] == resumed_rng["python"]
    assert torch.equal(whole_rng["torch"], resumed_rng["torch"])
    assert torch.equal(whole_rng["generator"], resumed_rng["generator"])


def test_a_time_limited_run_resumed_in_slices_ends_as_an_uninterrupted_one(setting, tmp_path):
    whole = lightgcn(setting[1])
    whole_result = trainer(whole, setting, tmp_path / "whole", epochs=5, eval_every=2, restore_best=True).fit()

    pauses = []
    for _ in range(10):  # a limit of a nanosecond stops at every epoch boundary
        # the first slice starts as the whole run; later ones get another initialisation, which
        # the checkpoint must override
        sliced = lightgcn(setting[1], seed=0 if not pauses else 50 + len(pauses))
        try:
            sliced_result = trainer(sliced, setting, tmp_path / "sliced", epochs=5, eval_every=2, restore_best=True,
                                    time_limit=1e-9).fit()
            break
        except TimeLimitReached as paused:
            pauses.append(paused.epoch)
            assert paused.checkpoint == tmp_path / "sliced" / "checkpoint.pt"
            assert load_checkpoint(paused.checkpoint)["epoch"] == paused.epoch  # saved at that boundary
            assert not (tmp_path / "sliced" / "result.json").exists()
    assert pauses == [1, 2, 3, 4]  # no pause after the last epoch: the run finishes
    for name, value in whole.state_dict().items():
        assert torch.equal(sliced.state_dict()[name], value), name
    assert sliced_result.test == whole_result.test and sliced_result.valid == whole_result.valid
    assert (sliced_result.epochs, sliced_result.best_epoch) == (whole_result.epochs, whole_result.best_epoch)
    assert without_seconds(sliced_result.history) == without_seconds(whole_result.history)


def test_time_limit_is_checked(setting, tmp_path):
    model = lightgcn(setting[1])
    with pytest.raises(ValueError, match="time_limit needs run_dir"):
        trainer(model, setting, None, time_limit=10.0)
    for bad in (0, -1.0, True):
        with pytest.raises(ValueError, match="time_limit must be a positive number"):
            trainer(model, setting, tmp_path, time_limit=bad)
    # a generous limit changes nothing
    result = trainer(model, setting, tmp_path / "generous", epochs=2, time_limit=3600.0).fit()
    assert result.epochs == 2


def test_the_best_state_survives_a_resume(setting, tmp_path):
    whole = lightgcn(setting[1])
    whole_result = trainer(whole, setting, tmp_path / "whole", epochs=4).fit()
    trainer(lightgcn(setting[1]), setting, tmp_path / "split", epochs=2).fit()
    resumed = lightgcn(setting[1])
    resumed_result = trainer(resumed, setting, tmp_path / "split", epochs=4).fit()
    assert resumed_result.best_epoch == whole_result.best_epoch
    for name, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], value), name


def test_log_lines_of_epochs_lost_after_the_checkpoint_are_dropped(setting, tmp_path):
    run_dir = tmp_path / "run"
    trainer(lightgcn(setting[1]), setting, run_dir, epochs=2).fit()
    log = run_dir / "log.jsonl"
    with open(log, "a") as handle:  # epoch 3 was logged, then the process died before its checkpoint
        handle.write(json.dumps({"epoch": 3, "loss": 0.1}) + "\n" + '{"epoch": 4, "lo')
    trainer(lightgcn(setting[1]), setting, run_dir, epochs=3).fit()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3]
    assert lines[2]["loss"] != 0.1


def test_a_finished_run_is_not_trained_again(setting, tmp_path):
    model = lightgcn(setting[1])
    first = trainer(model, setting, tmp_path, epochs=2).fit()
    again = lightgcn(setting[1], seed=5)
    second = trainer(again, setting, tmp_path, epochs=2).fit()
    assert second.test == first.test and second.history == first.history
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value)


@pytest.mark.parametrize(
    "change, entry",
    [
        ({"lr": 0.02}, "trainer.lr"),
        ({"num_negatives": 2}, "trainer.num_negatives"),
        ({"positive_sampling": "users"}, "trainer.positive_sampling"),
        ({"model_hp": {"embedding_dim": 16}}, "parameters.embedding.weight"),
        ({"model_hp": {"num_layers": 3}}, "model_repr"),
        ({"config": {"experiment": "other"}}, "extra.experiment"),
    ],
)
def test_a_checkpoint_of_another_configuration_is_refused(setting, tmp_path, change, entry):
    trainer(lightgcn(setting[1]), setting, tmp_path, epochs=1, config={"experiment": "a"}).fit()
    change = dict(change)
    model = lightgcn(setting[1], **change.pop("model_hp", {}))
    kwargs = {"config": {"experiment": "a"}, **change}
    with pytest.raises(CheckpointMismatchError, match=entry.replace(".", r"\.")):
        trainer(model, setting, tmp_path, epochs=2, **kwargs).fit()


def test_a_checkpoint_of_another_dataset_is_refused(setting, tmp_path):
    trainer(lightgcn(setting[1]), setting, tmp_path, epochs=1).fit()
    other = synthetic(num_users=120, num_items=80, clicks_per_user=11.0, seed=4).dataset
    graph = build(other)
    with pytest.raises(CheckpointMismatchError, match=r"dataset\.train"):
        trainer(lightgcn(graph), (other, graph), tmp_path, epochs=2).fit()


def test_changing_epochs_patience_or_evaluation_cadence_still_resumes(setting, tmp_path):
    trainer(lightgcn(setting[1]), setting, tmp_path, epochs=1).fit()
    result = trainer(lightgcn(setting[1]), setting, tmp_path, epochs=3, patience=10, eval_every=2).fit()
    assert result.epochs == 3
    assert isinstance(Path(tmp_path / "checkpoint.pt"), Path)
