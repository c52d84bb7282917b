"""``graphrec datasets``: one row per registered dataset, exit code 0."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from graphrec.cli import main


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_root: Path) -> Path:
    monkeypatch.setenv("GRAPHREC_DATA", str(data_root))
    monkeypatch.setenv("GRAPHREC_CACHE", str(tmp_path / "cache"))
    return data_root


def rows(output: str) -> Dict[str, str]:
    """Table rows keyed by their first cell."""
    return {line.split()[0]: line for line in output.splitlines() if line.strip() and not line.startswith("-")}


def test_datasets_lists_every_registered_dataset(env: Path, capsys) -> None:
    assert main(["datasets"]) == 0
    table = rows(capsys.readouterr().out)
    for name in ("gowalla", "amazon-book", "last-fm-kgcn", "ml-100k", "coat"):
        assert name in table

    gowalla = table["gowalla"]
    assert "present" in gowalla and str(env / "gowalla") in gowalla
    # 29,858 users, 40,981 items, 810,128 + 217,242 = 1,027,370 interactions
    assert all(count in gowalla for count in ("29,858", "40,981", "1,027,370"))
    on_disk = sum(os.path.getsize(env / "gowalla" / name) for name in ("train.txt", "test.txt"))
    assert f"{on_disk / 2**20:.1f} MiB" in gowalla

    # not shipped in the shared data: missing, with the published numbers (652,514 + 193,920)
    amazon = table["amazon-book"]
    assert "missing" in amazon and "present" not in amazon
    assert all(count in amazon for count in ("70,679", "24,915", "846,434", "2,557,746"))

    assert all(count in table["ml-100k"] for count in ("943", "1,682", "100,000", "91,631"))
    assert all(count in table["last-fm-kgcn"] for count in ("1,872", "3,846", "21,173", "15,518"))


def test_root_option_is_searched_first(env: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "root"
    shutil.copytree(env / "coat", root / "coat")
    for path in (root / "coat").rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)  # the shared copy is read-only
    (root / "coat").chmod(0o755)
    assert main(["datasets", "--root", str(root)]) == 0
    table = rows(capsys.readouterr().out)
    assert str(root / "coat") in table["coat"]
    assert str(env / "gowalla") in table["gowalla"]


def test_without_a_command_prints_help(capsys) -> None:
    assert main([]) == 2
    assert "datasets" in capsys.readouterr().out


def test_python_m_graphrec_datasets(env: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "graphrec", "datasets"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "gowalla" in result.stdout and "present" in result.stdout


def test_train_refuses_to_resume_under_changed_model_args(tmp_path):
    """A run folder trained with one hyper-parameter is not silently resumed under another."""
    import pytest

    from graphrec.checkpoint import CheckpointMismatchError
    from graphrec.config import resolve_config
    from graphrec.experiment import train_run

    config = {"dataset": "synthetic", "dataset_args": {"num_users": 120, "num_items": 200},
              "model": "rgcn", "model_args": {"embedding_dim": 8, "dropout": 0.0}, "epochs": 1}
    train_run(resolve_config(config), tmp_path, progress=False)
    changed = {**config, "model_args": {"embedding_dim": 8, "dropout": 0.2}, "epochs": 2}
    with pytest.raises(CheckpointMismatchError, match="dropout"):
        train_run(resolve_config(changed), tmp_path, progress=False)


def test_train_and_evaluate_take_a_thread_count(tmp_path, capsys):
    import json

    import pytest
    import torch

    config = tmp_path / "mf.yaml"
    config.write_text(
        "dataset: synthetic\ndataset_args: {num_users: 120, num_items: 200}\nmodel: mf\n"
        "model_args: {embedding_dim: 8}\nepochs: 2\ndevice: cpu\neval: {ks: [20], every: 1}\n"
    )
    before = torch.get_num_threads()
    try:
        assert main(["train", str(config), "--out", str(tmp_path / "run"), "--threads", "1", "--quiet"]) == 0
        assert torch.get_num_threads() == 1
        printed = json.loads(capsys.readouterr().out)
        assert printed["epochs"] == 2 and printed["stopped_early"] is False
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert metrics["stopped_early"] is False and metrics["test"] == printed["test"]
        torch.set_num_threads(before)
        assert main(["evaluate", str(tmp_path / "run"), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert json.loads(capsys.readouterr().out)["test"]["recall@20"] == pytest.approx(metrics["test"]["recall@20"])
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        main(["train", str(config), "--threads", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_train_with_a_time_limit_exits_75_and_the_same_command_resumes(tmp_path, capsys):
    import json

    config = tmp_path / "mf.yaml"
    config.write_text(
        "dataset: synthetic\ndataset_args: {num_users: 120, num_items: 200}\nmodel: mf\n"
        "model_args: {embedding_dim: 8}\nepochs: 2\ndevice: cpu\neval: {ks: [20], every: 2}\n"
    )
    whole = ["train", str(config), "--out", str(tmp_path / "whole"), "--quiet"]
    assert main(whole) == 0
    expected = json.loads(capsys.readouterr().out)
    sliced = ["train", str(config), "--out", str(tmp_path / "sliced"), "--quiet", "--time-limit", "1e-9"]
    assert main(sliced) == 75
    captured = capsys.readouterr()
    assert "time limit reached after epoch 1 of 2" in captured.err and "run the same training again" in captured.err
    assert not (tmp_path / "sliced" / "metrics.json").exists()
    assert main(sliced) == 0
    assert json.loads(capsys.readouterr().out)["test"] == expected["test"]
