"""The README's main job: `graphrec demo` on the synthetic world."""
from __future__ import annotations

import json
import subprocess
import sys

from graphrec.cli import main


def test_demo_summary_is_consistent_with_the_world(tmp_path, capsys):
    code = main([
        "demo", "--users", "400", "--items", "250", "--seed", "3", "--epochs", "5", "--device", "cpu",
        "--json", str(tmp_path / "s.json"),
    ])
    assert code == 0
    result = json.loads((tmp_path / "s.json").read_text())
    world, graph = result["world"], result["graph"]
    assert (world["users"], world["items"]) == (400, 250)
    assert graph["nodes"]["user"] == 400 and graph["nodes"]["item"] == 250
    # items are their own KG entities, so only the attribute entities are `entity` nodes
    assert graph["nodes"]["entity"] == world["entities"] - 250
    edges = graph["edges"]
    assert edges["user__interacts__item"] == edges["item__rev_interacts__user"] == world["train"]
    kg_edges = sum(count for name, count in edges.items() if "interacts" not in name)
    assert kg_edges == 2 * world["triples"]
    assert graph["homogeneous"]["edges"] == sum(edges.values())
    assert graph["lightgcn_adjacency"]["size"] == 650
    printed = capsys.readouterr().out
    assert "synthetic world (seed 3)" in printed
    # the demo trains a collaborative and a KG encoder and reports both; a random
    # ranking's recall@20 is about 20 / 250; trained models must clear it
    assert set(result["models"]) == {"mf", "lightgcn", "kgin"}
    for name, trained in result["models"].items():
        assert trained["epochs"] == 5 and 1 <= trained["best_epoch"] <= 5
        assert trained["test"]["recall@20"] > 1.5 * 20 / 250, name
        assert f"  {name} " in printed


def test_console_script_runs_the_demo():
    completed = subprocess.run(
        [sys.executable, "-m", "graphrec", "demo", "--users", "200", "--items", "120", "--models"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert "heterogeneous graph" in completed.stdout
    assert "LightGCN adjacency: 320 x 320" in completed.stdout
