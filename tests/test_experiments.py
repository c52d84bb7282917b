"""The experiment configs and ``experiments/run_experiments.py``.

The configs must resolve and name what exists; the runner must write a
results row whose numbers are those of the run folder's ``metrics.json``
(written by :func:`graphrec.experiment.train_run`, not by the runner), must
not retrain a finished run, and must keep rows of other device kinds and the
hand-written parts of ``RESULTS.md``.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from graphrec.config import load_config, resolve_config
from graphrec.data.registry import registered_datasets
from graphrec.models import MODELS

REPO = Path(__file__).resolve().parents[1]
CONFIG_ROOT = REPO / "experiments" / "configs"
DATASETS = ("gowalla", "last-fm-kgcn", "ml-100k", "coat")


def _runner():
    spec = importlib.util.spec_from_file_location("run_experiments", REPO / "experiments" / "run_experiments.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


CONFIG_FILES = sorted(CONFIG_ROOT.glob("*/*.yaml"))


def test_one_config_per_model_and_dataset():
    found = {(path.parent.name, path.stem) for path in CONFIG_FILES}
    assert found == {(dataset, model) for dataset in DATASETS for model in MODELS}


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_resolves_and_names_a_registered_dataset_and_model(path):
    raw = load_config(path)
    config = resolve_config(raw)  # raises on unknown keys or impossible values
    assert config["dataset"] == path.parent.name
    assert config["dataset"] in {spec.name for spec in registered_datasets()}
    assert config["model"] == path.stem and config["model"] in MODELS
    # every key is written out: a config does not silently inherit a default that may change
    assert set(raw) >= {"dataset", "split", "model", "model_args", "epochs", "batch_size", "lr", "weight_decay", "seed", "eval"}
    # the model's hyper-parameters are arguments of its constructor
    from graphrec.models import model_class
    import inspect

    accepted = set(inspect.signature(model_class(config["model"]).__init__).parameters)
    assert set(config["model_args"]) <= accepted, set(config["model_args"]) - accepted


def test_validation_protocol_per_dataset():
    for path in CONFIG_FILES:
        config = resolve_config(load_config(path))
        dataset, evaluation = config["dataset"], config["eval"]
        if dataset in ("last-fm-kgcn", "ml-100k"):  # the registry's 8:1:1 split, early stopping on valid
            assert config["split"] is None and evaluation["patience"] and evaluation["every"] > 0
        if dataset == "coat":  # no validation split: no selection on the random-exposure test set
            assert evaluation["every"] == 0 and evaluation["patience"] is None and {5, 20} <= set(evaluation["ks"])
        if dataset == "gowalla" and config["model"] in ("mf", "lightgcn"):  # the LightGCN paper's protocol
            assert (config["lr"], config["batch_size"], config["weight_decay"], config["epochs"]) == (1e-3, 2048, 1e-4, 1000)
            assert config["model_args"]["embedding_dim"] == 64 and config["model_args"]["init_std"] == 0.1
        if dataset == "gowalla" and config["model"] in ("mf", "lightgcn", "ngcf", "kgat"):
            # the official LightGCN / NGCF / KGAT code (and NGCF's MF) draws users first (UserUniformPairSampler)
            assert config["positive_sampling"] == "users"


TINY = """\
dataset: synthetic
dataset_args: {num_users: 80, num_items: 50, clicks_per_user: 5, seed: 0}
model: mf
model_args: {embedding_dim: 8}
epochs: 3
batch_size: 64
device: cpu
eval: {ks: [5, 20], every: 1, metric: ndcg@20, patience: 5}
"""


def _tiny_setup(tmp_path):
    configs = tmp_path / "configs" / "synthetic"
    configs.mkdir(parents=True)
    (configs / "mf.yaml").write_text(TINY)
    notes = "# Results\n\nhand-written notes before\n\n{begin}\nstale\n{end}\n\nhand-written notes after\n"
    return [
        "--config-root", str(tmp_path / "configs"),
        "--runs-dir", str(tmp_path / "runs"),
        "--results-json", str(tmp_path / "results" / "experiments.json"),
        "--results-md", str(tmp_path / "RESULTS.md"),
    ], notes


def test_runner_writes_a_results_row_and_does_not_retrain(tmp_path, monkeypatch):
    runner = _runner()
    arguments, notes = _tiny_setup(tmp_path)
    (tmp_path / "RESULTS.md").write_text(notes.format(begin=runner.BEGIN_MARK, end=runner.END_MARK))
    assert runner.main([*arguments, "--set", "epochs=1"]) == 0

    run_dir = tmp_path / "runs" / "cpu" / "synthetic"
    (folder,) = list(run_dir.iterdir())  # mf+<hash of the override>
    assert folder.name.startswith("mf+")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["epochs"] == 1

    results = json.loads((tmp_path / "results" / "experiments.json").read_text())["results"]
    record = results["synthetic"]["mf"]["cpu"]
    assert record["test"]["recall@20"] == metrics["test"]["recall@20"]
    assert record["epochs"] == 1 and record["max_epochs"] == 1
    assert "--set epochs=1" in record["command"]

    document = (tmp_path / "RESULTS.md").read_text()
    assert "hand-written notes before" in document and "hand-written notes after" in document
    assert "stale" not in document
    (row,) = [line for line in document.splitlines() if line.startswith("| mf |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    header = [line for line in document.splitlines() if line.startswith("| model |")][0]
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[:6] == ["model", "device", "Recall@5", "NDCG@5", "Recall@20", "NDCG@20"]
    assert cells[columns.index("Recall@20")] == f"{metrics['test']['recall@20']:.4f}"
    assert cells[columns.index("NDCG@5")] == f"{metrics['test']['ndcg@5']:.4f}"
    assert cells[columns.index("epochs (max)")] == "1 (1) cap"  # the whole budget was used

    # a second invocation finds the finished run and trains nothing
    import graphrec.experiment

    def refuse(*args, **kwargs):
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr(graphrec.experiment, "train_run", refuse)
    log_before = (folder / "log.jsonl").read_text()
    assert runner.main([*arguments, "--set", "epochs=1"]) == 0
    assert (folder / "log.jsonl").read_text() == log_before
    again = json.loads((tmp_path / "results" / "experiments.json").read_text())["results"]["synthetic"]["mf"]["cpu"]
    assert again["date"] == record["date"] and again["test"] == record["test"]


def test_device_kinds_coexist_and_pending_rows_are_labelled(tmp_path):
    runner = _runner()
    path = tmp_path / "experiments.json"
    base = {"dataset": "gowalla", "model": "mf", "test": {"recall@20": 0.1, "ndcg@20": 0.05}, "epochs": 3,
            "max_epochs": 3, "best_epoch": 2, "seconds_per_epoch": 1.0, "date": "2026-01-01T00:00:00", "command": "x"}
    runner.add_record(path, {**base, "device_kind": "cpu", "device": "cpu (1 threads)"})
    results = runner.add_record(path, {**base, "device_kind": "cuda", "device": "NVIDIA H100",
                                       "test": {"recall@20": 0.2, "ndcg@20": 0.15}})
    assert set(results["gowalla"]["mf"]) == {"cpu", "cuda"}
    assert set(runner.load_results(path)["gowalla"]["mf"]) == {"cpu", "cuda"}
    configured = [runner.Experiment("gowalla", model, Path(f"{model}.yaml")) for model in ("mf", "lightgcn")]
    table = runner.render_tables(results, configured)
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["mf", "mf", "lightgcn"]
    assert "0.2000" in rows[0] and "NVIDIA H100" in rows[0] and "0.1000" in rows[1]
    assert "not run yet (GPU owed)" in rows[2]
    assert "0.1830 / 0.1554" in rows[2]  # LightGCN paper, next to the pending row


def test_a_changed_config_does_not_resume_an_old_run_folder(tmp_path):
    runner = _runner()
    arguments, _ = _tiny_setup(tmp_path)
    assert runner.main([*arguments, "--set", "epochs=1"]) == 0
    (folder,) = list((tmp_path / "runs" / "cpu" / "synthetic").iterdir())
    config = runner.resolve_config(runner.load_config(folder / "config.yaml"))
    runner.check_resumable(folder, {**config, "epochs": 5, "eval": {**config["eval"], "patience": 2}})  # allowed
    with pytest.raises(RuntimeError, match="model_args"):
        runner.check_resumable(folder, {**config, "model_args": {"embedding_dim": 16}})


def test_a_time_limit_pauses_the_runner_and_the_same_command_finishes_the_run(tmp_path, capsys):
    runner = _runner()
    arguments, notes = _tiny_setup(tmp_path)
    (tmp_path / "RESULTS.md").write_text(notes.format(begin=runner.BEGIN_MARK, end=runner.END_MARK))
    reference = tmp_path / "reference"
    reference.mkdir()
    reference_arguments, _ = _tiny_setup(reference)
    assert runner.main(reference_arguments) == 0  # uninterrupted

    codes = [runner.main([*arguments, "--time-limit", "1e-9"]) for _ in range(3)]
    assert codes == [runner.EXIT_RESUMABLE, runner.EXIT_RESUMABLE, 0]  # 3 epochs: paused after 1 and 2
    folder = tmp_path / "runs" / "cpu" / "synthetic" / "mf"
    expected = json.loads((reference / "runs" / "cpu" / "synthetic" / "mf" / "metrics.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"] == expected["test"] and metrics["epochs"] == expected["epochs"] == 3
    record = json.loads((tmp_path / "results" / "experiments.json").read_text())["results"]["synthetic"]["mf"]["cpu"]
    assert record["test"] == expected["test"] and "--time-limit" not in record["command"]
    with pytest.raises(SystemExit):
        runner.main([*arguments, "--time-limit", "0"])
    assert "must be a positive number, got 0" in capsys.readouterr().err
