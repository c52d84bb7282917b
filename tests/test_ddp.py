"""Data parallelism: two gloo processes under torchrun train what one process trains.

Run as a script, this file is the torchrun worker: ``python -m torch.distributed.run
--nproc_per_node=2 tests/test_ddp.py OUT_DIR``. The test launches it and
compares rank 0's parameters, losses and metrics with a one-process run.

The world is tiny and the batch size (63) splits the 631 training pairs into
ten batches of 63, sharded 32 / 31 (unequal shares), and a last batch of one
pair, which leaves rank 1 an empty shard. The model is LightGCN (full
propagation on every rank) with two extra loss terms: one per example
(sharded) and one per batch (computed whole on each rank).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
import torch

from graphrec.data import synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.seeding import seed_everything
from graphrec.train import AuxiliaryTerm, TimeLimitReached, Trainer

BATCH_SIZE = 63
EPOCHS = 2


def run(run_dir: Path, time_limit: Optional[float] = None):
    """The same training in one process or in each of several (rank 0 returns the result);
    with ``time_limit``, in slices: every pause is resumed by a new model and trainer."""
    while True:
        try:
            return _run_once(run_dir, time_limit)
        except TimeLimitReached:
            continue


def _run_once(run_dir: Path, time_limit: Optional[float]):
    dataset = synthetic(num_users=80, num_items=60, clicks_per_user=10.0, seed=0).dataset
    graph = build(dataset)
    seed_everything(0)
    model = create_model("lightgcn", graph, embedding_dim=8, num_layers=2)
    terms = [
        # per example: mean squared norm of the batch users' layer-0 rows
        AuxiliaryTerm(
            "user_norm",
            lambda batch: 1e-3 * model.initial_embeddings(batch.users, batch.positive_items)[0].pow(2).sum(1).mean(),
        ),
        # per batch: the whole table, the same on every rank
        AuxiliaryTerm("table_norm", lambda batch: 1e-4 * model.embedding.weight.pow(2).sum(), per_example=False),
    ]
    trainer = Trainer(
        model, dataset, graph=graph, device="cpu", progress=False, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=0.01,
        weight_decay=1e-3, num_negatives=2, seed=3, eval_ks=(5, 20), auxiliary_terms=terms, run_dir=run_dir,
        time_limit=time_limit,
    )
    assert len(dataset.train) % BATCH_SIZE == 1  # the empty-shard case is exercised
    return model, trainer.fit()


def worker(out: Path, time_limit: Optional[float] = None) -> None:
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    model, result = run(out / "run", time_limit)
    assert dist.is_initialized() and dist.get_world_size() == 2 and dist.get_backend() == "gloo"
    torch.save({"parameters": model.state_dict(), "result": result.to_dict()}, out / f"rank{rank}.pt")
    dist.destroy_process_group()
    # gloo's background threads sometimes abort the interpreter's own teardown
    # ("terminate called without an active exception"); everything is saved by
    # now, so leave without it rather than let a teardown race fail the run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("sliced", [False, True], ids=["whole", "time-limited slices"])
def test_two_processes_match_one(tmp_path, sliced: bool):
    # sliced: both ranks stop at every epoch boundary (rank 0's clock decides) and resume
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}", __file__, str(tmp_path),
        *(["1e-9"] if sliced else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    launched = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert launched.returncode == 0, launched.stdout[-3000:] + launched.stderr[-3000:]

    model, single = run(tmp_path / "single")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for name, value in model.state_dict().items():
        for saved in ranks:
            torch.testing.assert_close(saved["parameters"][name], value, atol=1e-5, rtol=0)
        assert torch.equal(ranks[0]["parameters"][name], ranks[1]["parameters"][name])  # replicas agree
    result = ranks[0]["result"]
    assert ranks[1]["result"] == result  # every rank returns rank 0's result
    assert (result["epochs"], result["best_epoch"]) == (single.epochs, single.best_epoch)
    for key, value in single.test.items():
        assert result["test"][key] == pytest.approx(value, abs=1e-5), key
    for distributed_record, record in zip(result["history"], single.history):
        for term in ("loss", "l2", "user_norm", "table_norm"):
            assert distributed_record[term] == pytest.approx(record[term], rel=1e-5, abs=1e-8), term
    # rank 0 alone wrote the run directory
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "log.jsonl", "result.json"]


if __name__ == "__main__":
    worker(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None)
