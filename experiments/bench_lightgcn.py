r"""Speed of graphrec's LightGCN epoch against PyG's ``LightGCN`` trained as PyG's example trains it.

Both sides train LightGCN (``embedding_dim`` 64, 3 layers) with BPR, one
uniform negative per positive, Adam (lr 1e-3), L2 1e-4 on the batch's layer-0
embeddings, batch 2048, on the same training split and the same device:

* **graphrec**: the real training path, :class:`graphrec.train.Trainer` with
  :class:`graphrec.models.lightgcn.LightGCN`, built for one epoch and
  ``fit()`` once per epoch. An epoch's time is the trainer's own ``seconds``
  (``TrainResult.history``): the wall time of ``Trainer._train_epoch``, which
  ends with the epoch's single device-to-host read, so on CUDA it covers all
  queued GPU work. ``eval_every=0`` and placeholder evaluators (the documented
  ``evaluators`` hook) keep ranking out of ``fit``; it is timed separately.
* **PyG**: ``torch_geometric.nn.models.LightGCN(num_nodes, 64, num_layers=3)``
  in the loop of PyG's ``examples/lightgcn.py``: a ``DataLoader`` with
  ``shuffle=True`` over the indices of the training edges, negatives drawn by
  ``torch.randint`` over the item ids, ``model(edge_index, edge_label_index)``
  ranks, ``model.recommendation_loss(pos, neg, node_id=edge_label_index.unique(),
  lambda_reg=1e-4)``, default Adam, and ``float(loss)`` read once per batch
  for the epoch's mean loss (the example's bookkeeping, one device sync per
  batch). Message passing runs over both directions of the distinct training
  pairs, the graph whose normalisation graphrec's adjacency uses.

Each side runs ``--warmup-epochs`` epochs (default 1: CUDA context, kernels,
graphrec's adjacency build), then ``--epochs`` measured epochs; the report
gives their mean and min. ``--order sequential`` (default on CUDA) trains one
side after the other, freeing the first before building the second;
``interleaved`` (default on CPU) alternates the two sides' epochs, so that the
load of a shared machine hits both alike. On a CPU that other jobs share, run
with ``OMP_WAIT_POLICY=PASSIVE`` in the environment (read when torch starts),
or ``--threads 1``: OpenMP threads spinning at a barrier for a descheduled
sibling make single epochs stall for seconds (``load_average`` records the
1-minute load before and after the run, ``environment`` the OpenMP/MKL
variables). ``ratio`` is PyG's mean seconds per epoch over
graphrec's (``ratio_min`` the same for the minima). On CUDA the clocks are
read after ``torch.cuda.synchronize()`` and ``torch.cuda.max_memory_allocated()``
is reset before and read after each side's training (``peak_memory_mib``,
sequential order only) and each side's evaluation (``eval_peak_memory_mib``).

Full-ranking evaluation: :class:`graphrec.evaluate.Evaluator` over every user
with a test item (training and validation items masked, Recall/NDCG@20) of
each side's trained embeddings, computed once beforehand under ``no_grad``
(their propagation time is ``embedding_seconds``); one untimed warm-up call,
then ``--eval-repeats`` timed calls (mean and min in ``eval_seconds`` /
``eval_seconds_min``). The metrics after so few epochs are a sanity check that
both loops train, not accuracy results.

JSON written (atomically) to ``--out``, default
``experiments/results/bench_lightgcn_<dataset>_<cpu|cuda>.json``::

    dataset, device, device_name, versions {python, torch, torch_geometric, graphrec},
    threads, load_average [1-min load before, after], environment {OMP_WAIT_POLICY, ...},
    dataset_stats {users, items, train, test, evaluated_users},
    settings {batch_size, embedding_dim, num_layers, lr, weight_decay, num_negatives, order,
              warmup_epochs, epochs, eval_repeats, batches_per_epoch, seed},
    graphrec / pyg: {epoch_seconds [measured], mean_seconds, min_seconds, warmup_seconds [...],
                     loss [per measured epoch], peak_memory_mib, embedding_seconds,
                     eval_seconds, eval_seconds_min, eval_peak_memory_mib, metrics {recall@20, ndcg@20}},
    ratio, ratio_min,
    checks [{name, target, value, met}]   (the issue's targets for this dataset and device, if any)

Usage (from the repository root)::

    python experiments/bench_lightgcn.py --dataset gowalla --device cuda
    python experiments/bench_lightgcn.py --dataset last-fm-kgcn --device cpu --epochs 2
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

import torch_geometric
from torch_geometric.nn.models import LightGCN as PyGLightGCN

import graphrec
from graphrec.atomic import write_text_atomic
from graphrec.data import RecDataset, load, synthetic
from graphrec.evaluate import Evaluator
from graphrec.models.lightgcn import LightGCN
from graphrec.seeding import seed_everything
from graphrec.train import Trainer

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"
DATASETS = ("gowalla", "last-fm-kgcn", "ml-100k", "synthetic")
KS = (20,)
_THREAD_VARIABLES = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
MIB = 2**20

# The targets: (dataset, device type) -> [(check name, key, bound, "max" | "min")].
TARGETS: Dict[Tuple[str, str], List[Tuple[str, str, float, str]]] = {
    ("gowalla", "cuda"): [
        ("graphrec seconds per epoch <= 1.5", "graphrec.mean_seconds", 1.5, "max"),
        ("PyG / graphrec epoch time >= 3.5", "ratio", 3.5, "min"),
        ("evaluation of all users <= 0.1 s", "graphrec.eval_seconds", 0.1, "max"),
        ("peak GPU memory in training <= 1 GiB", "graphrec.peak_memory_mib", 1024.0, "max"),
    ],
    ("last-fm-kgcn", "cpu"): [
        ("PyG / graphrec epoch time >= 1.5", "ratio", 1.5, "min"),
    ],
}


# -- devices and clocks ---------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    """``auto`` -> ``cuda`` when available, else ``cpu``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    return device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        gc.collect()  # a freed side's tensors may sit in reference cycles
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mib(device: torch.device) -> Optional[float]:
    """``torch.cuda.max_memory_allocated`` since the last reset, in MiB; ``None`` on CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / MIB


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def summary(seconds: Sequence[float]) -> Dict[str, float]:
    return {"mean": float(np.mean(seconds)), "min": float(np.min(seconds))}


# -- data -----------------------------------------------------------------------------
def default_root() -> Path:
    return Path(os.environ.get("GRAPHREC_DATA") or REPO.parent / "shared" / "data")


def load_dataset(name: str, root: Path, *, synthetic_users: int, synthetic_items: int, seed: int) -> RecDataset:
    if name == "synthetic":
        return synthetic(num_users=synthetic_users, num_items=synthetic_items, seed=seed).dataset
    return load(name, root=root, download=False)


def evaluator_for(dataset: RecDataset, device: torch.device) -> Evaluator:
    """All-item Recall/NDCG@20 on test, training (and validation) items masked: the trainer's test protocol."""
    exclude = [dataset.train] + ([dataset.valid] if len(dataset.valid) else [])
    return Evaluator(dataset.test, exclude=exclude, ks=KS, metrics=("recall", "ndcg"), device=device)


def time_evaluation(
    evaluator: Evaluator, user_emb: Tensor, item_emb: Tensor, device: torch.device, repeats: int
) -> Dict[str, Any]:
    """One warm-up ``evaluate`` call, then ``repeats`` timed ones, ranking by ``E_U[u] @ E_I^T``."""

    def score_fn(users: Tensor) -> Tensor:
        return user_emb[users] @ item_emb.t()

    reset_peak_memory(device)
    metrics = evaluator.evaluate(score_fn)  # warm-up: kernels, allocator
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        began = time.perf_counter()
        evaluator.evaluate(score_fn)  # reads its metrics back to the host: synchronised on return
        synchronize(device)
        seconds.append(time.perf_counter() - began)
    return {
        "eval_seconds": summary(seconds)["mean"],
        "eval_seconds_min": summary(seconds)["min"],
        "eval_peak_memory_mib": peak_memory_mib(device),
        "metrics": {name: value for name, value in metrics.items() if name.split("@")[0] in ("recall", "ndcg")},
    }


# -- the two sides -----------------------------------------------------------------------
class _NoEvaluation:
    """Placeholder evaluator for ``Trainer(evaluators=...)``: ``fit()`` then only trains."""

    def evaluate(self, score_fn: Callable[[Tensor], Tensor]) -> Dict[str, float]:
        return {"ndcg@20": 0.0}


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class GraphrecSide:
    """graphrec's LightGCN trained by :class:`graphrec.train.Trainer`, one ``fit()`` per epoch.

    The trainer is built for one epoch and ``fit()`` is called once per epoch:
    each call runs ``Trainer._train_epoch`` (the loop users get) and the epoch
    time is the trainer's own ``history[-1]["seconds"]``; the adjacency, the
    training pairs and the sampler are built by the first call and cached.
    (Each call re-seeds the trainer's generator and torch's global one, so every
    epoch draws the same permutation and negatives, and so, in interleaved
    order, does PyG's loop: the same amount of work, which is what is timed.)
    """

    name = "graphrec"

    def __init__(self, dataset: RecDataset, *, device: torch.device, batch_size: int, embedding_dim: int,
                 num_layers: int, lr: float, weight_decay: float, seed: int) -> None:
        seed_everything(seed)
        self.model = LightGCN(dataset.num_users, dataset.num_items, embedding_dim=embedding_dim, num_layers=num_layers)
        self.trainer = Trainer(
            self.model, dataset, loss="bpr", num_negatives=1, negative_sampling="uniform",
            epochs=1, batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
            device=device, eval_every=0, progress=False, run_dir=None, restore_best=False,
            evaluators={"valid": _NoEvaluation(), "test": _NoEvaluation()},
        )

    def epoch(self) -> Tuple[float, float]:
        """``(seconds, loss)`` of one training epoch (loss: BPR + L2, mean over batches)."""
        with _quiet(logging.getLogger("graphrec.train")):  # "no validation split" once per fit()
            record = self.trainer.fit().history[-1]
        return record["seconds"], record["loss"] + record.get("l2", 0.0)

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        self.model.eval()
        return self.model(self.trainer.graph)


def pyg_graph(dataset: RecDataset, device: torch.device) -> Tuple[Tensor, Tensor]:
    """``(edge_index, train_edge_label_index)`` in one node space, items offset by ``num_users``.

    ``edge_index`` holds both directions of every distinct training pair (the
    graph LightGCN propagates over); ``train_edge_label_index`` every training
    pair, duplicates kept, as the trainer iterates them, so both sides run the
    same number of batches.
    """
    num_users, num_items = dataset.num_users, dataset.num_items
    num_nodes = num_users + num_items
    user = torch.from_numpy(dataset.train.user).long()
    item = torch.from_numpy(dataset.train.item).long() + num_users
    keys = torch.unique(user * num_nodes + item)
    pairs = torch.stack([keys // num_nodes, keys % num_nodes])
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    return edge_index.to(device), torch.stack([user, item]).to(device)


class PyGSide:
    """PyG's LightGCN in the loop of PyG's ``examples/lightgcn.py`` (see the module docstring)."""

    name = "pyg"

    def __init__(self, dataset: RecDataset, *, device: torch.device, batch_size: int, embedding_dim: int,
                 num_layers: int, lr: float, weight_decay: float, seed: int) -> None:
        seed_everything(seed)
        self.device = device
        self.num_users, self.num_items = dataset.num_users, dataset.num_items
        self.weight_decay = weight_decay
        self.edge_index, self.train_edge_label_index = pyg_graph(dataset, device)
        self.model = PyGLightGCN(
            self.num_users + self.num_items, embedding_dim=embedding_dim, num_layers=num_layers
        ).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.loader = torch.utils.data.DataLoader(
            range(self.train_edge_label_index.size(1)), shuffle=True, batch_size=batch_size
        )

    def _train(self) -> float:
        model, optimizer = self.model, self.optimizer
        first_item, end_item = self.num_users, self.num_users + self.num_items
        model.train()
        total_loss, total_examples = 0.0, 0
        for index in self.loader:
            positive = self.train_edge_label_index[:, index]
            negative_items = torch.randint(first_item, end_item, (index.numel(),), device=self.device)
            negative = torch.stack([positive[0], negative_items])
            edge_label_index = torch.cat([positive, negative], dim=1)
            optimizer.zero_grad()
            positive_rank, negative_rank = model(self.edge_index, edge_label_index).chunk(2)
            loss = model.recommendation_loss(
                positive_rank, negative_rank, node_id=edge_label_index.unique(), lambda_reg=self.weight_decay
            )
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * positive_rank.numel()  # the example's per-batch read
            total_examples += positive_rank.numel()
        return total_loss / max(total_examples, 1)

    def epoch(self) -> Tuple[float, float]:
        """``(seconds, loss)`` of one training epoch, synchronised on CUDA."""
        synchronize(self.device)
        began = time.perf_counter()
        loss = self._train()
        synchronize(self.device)
        return time.perf_counter() - began, loss

    @torch.no_grad()
    def embeddings(self) -> Tuple[Tensor, Tensor]:
        self.model.eval()
        embedding = self.model.get_embedding(self.edge_index)
        return embedding[: self.num_users], embedding[self.num_users :]


def time_embeddings(side: Any, device: torch.device) -> Tuple[float, Tuple[Tensor, Tensor]]:
    """Seconds of one full propagation under ``no_grad`` (after a warm-up one) and its result."""
    side.embeddings()
    synchronize(device)
    began = time.perf_counter()
    user_emb, item_emb = side.embeddings()
    synchronize(device)
    return time.perf_counter() - began, (user_emb, item_emb)


def run_sides(
    dataset: RecDataset, *, device: torch.device, warmup: int, epochs: int, order: str, repeats: int,
    evaluator: Evaluator, **hyperparameters: Any,
) -> Dict[str, Dict[str, Any]]:
    """Train, time and evaluate both sides.

    ``order="sequential"``: graphrec's warm-up and measured epochs, its
    evaluation, then the same for PyG, each side freed before the next is
    built, so that each side's peak memory is its own. ``"interleaved"``: both
    built first, then their epochs alternate, so that a shared machine's
    changing load hits both alike (peak memory is then not reported: the other
    side's tensors are resident too).
    """
    classes = (GraphrecSide, PyGSide)

    def train(side: Any, record: Dict[str, List[float]]) -> None:
        took, loss = side.epoch()
        record["seconds"].append(took)
        record["loss"].append(loss)

    def report(side: Any, record: Dict[str, List[float]], peak: Optional[float]) -> Dict[str, Any]:
        measured = record["seconds"][warmup:]
        out: Dict[str, Any] = {
            "epoch_seconds": measured,
            "mean_seconds": summary(measured)["mean"],
            "min_seconds": summary(measured)["min"],
            "warmup_seconds": record["seconds"][:warmup],
            "loss": record["loss"][warmup:],
            "peak_memory_mib": peak,
        }
        out["embedding_seconds"], (user_emb, item_emb) = time_embeddings(side, device)
        out.update(time_evaluation(evaluator, user_emb, item_emb, device, repeats))
        return out

    reports: Dict[str, Dict[str, Any]] = {}
    if order == "sequential":
        for cls in classes:
            reset_peak_memory(device)
            side = cls(dataset, device=device, **hyperparameters)
            record: Dict[str, List[float]] = {"seconds": [], "loss": []}
            for _ in range(warmup + epochs):
                train(side, record)
            reports[cls.name] = report(side, record, peak_memory_mib(device))
            del side  # its parameters, optimizer state and graph leave the device before the next side
    else:
        sides = [cls(dataset, device=device, **hyperparameters) for cls in classes]
        records = {side.name: {"seconds": [], "loss": []} for side in sides}
        for _ in range(warmup + epochs):
            for side in sides:
                train(side, records[side.name])
        for side in sides:
            reports[side.name] = report(side, records[side.name], None)
    return reports


# -- report ---------------------------------------------------------------------------------
def lookup(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = value[part]
    return value


def checks(record: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The issue's targets for this dataset and device, each with its measured value and verdict."""
    out = []
    for name, key, bound, kind in TARGETS.get((record["dataset"], record["device"]), []):
        value = lookup(record, key)
        met = value is not None and (value <= bound if kind == "max" else value >= bound)
        out.append({"name": name, "key": key, "target": bound, "kind": kind, "value": value, "met": bool(met)})
    return out


def table(record: Mapping[str, Any]) -> str:
    def number(value: Optional[float], digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    header = (
        f"{'side':<9} {'s/epoch mean':>12} {'s/epoch min':>12} {'ratio':>6} {'eval s':>8} "
        f"{'peak MiB':>9} {'eval MiB':>9} {'recall@20':>9}"
    )
    lines = [
        f"LightGCN on {record['dataset']} ({record['dataset_stats']['train']} training pairs, "
        f"{record['settings']['batches_per_epoch']} batches of {record['settings']['batch_size']}), "
        f"{record['settings']['warmup_epochs']} warm-up + {record['settings']['epochs']} measured epochs",
        f"device: {record['device_name']}; threads {record['threads']} "
        f"(OMP_WAIT_POLICY={record['environment']['OMP_WAIT_POLICY']}, load {record['load_average']}); "
        f"torch {record['versions']['torch']}, "
        f"PyG {record['versions']['torch_geometric']}, graphrec {record['versions']['graphrec']}",
        header,
        "-" * len(header),
    ]
    for side in ("graphrec", "pyg"):
        s = record[side]
        ratio = 1.0 if side == "graphrec" else record["ratio"]
        lines.append(
            f"{side:<9} {number(s['mean_seconds']):>12} {number(s['min_seconds']):>12} {ratio:>6.2f} "
            f"{number(s['eval_seconds'], 4):>8} {number(s['peak_memory_mib'], 1):>9} "
            f"{number(s['eval_peak_memory_mib'], 1):>9} {number(s['metrics'].get('recall@20'), 4):>9}"
        )
    lines.append(f"ratio PyG/graphrec: {record['ratio']:.2f} (mean), {record['ratio_min']:.2f} (min)")
    for check in record["checks"]:
        sign = "<=" if check["kind"] == "max" else ">="
        verdict = "met" if check["met"] else "NOT MET"
        lines.append(f"[{verdict}] {check['name']}: {number(check['value'])} {sign} {check['target']}")
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--dataset", choices=DATASETS, default="gowalla")
    add("--device", choices=("auto", "cpu", "cuda"), default="auto")
    add("--epochs", type=int, default=None, help="measured epochs per side (default 3 on CUDA, 2 on CPU)")
    add("--warmup-epochs", type=int, default=1, help="unmeasured epochs per side before them (default 1)")
    add("--batch-size", type=int, default=2048)
    add("--eval-repeats", type=int, default=None,
        help="timed evaluations after the warm-up one (default 5 on CUDA, 1 on CPU)")
    add("--root", type=Path, default=None, help="data folder (default $GRAPHREC_DATA, else ../shared/data)")
    add("--out", type=Path, default=None,
        help="JSON path (default experiments/results/bench_lightgcn_<dataset>_<cpu|cuda>.json)")
    add("--order", choices=("sequential", "interleaved"), default=None,
        help="sides one after the other, or their epochs alternating (default: sequential on CUDA, interleaved on CPU)")
    add("--threads", type=int, default=None, help="torch.set_num_threads before the run (default: torch's choice)")
    add("--seed", type=int, default=2020)
    add("--synthetic-users", type=int, default=3000, help="size of the synthetic world (--dataset synthetic)")
    add("--synthetic-items", type=int, default=2000)
    args = parser.parse_args(argv)
    for name in ("epochs", "eval_repeats", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup_epochs < 0 or args.batch_size < 1:
        parser.error("--warmup-epochs must be >= 0 and --batch-size >= 1")
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Run the benchmark, print the table, write the JSON; returns the JSON's record."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    epochs = args.epochs or (3 if device.type == "cuda" else 2)
    repeats = args.eval_repeats or (5 if device.type == "cuda" else 1)
    # CUDA: per-side peak memory needs one side at a time; CPU (often shared): alternate epochs
    order = args.order or ("sequential" if device.type == "cuda" else "interleaved")
    dataset = load_dataset(
        args.dataset, args.root or default_root(),
        synthetic_users=args.synthetic_users, synthetic_items=args.synthetic_items, seed=args.seed,
    )
    settings = dict(
        warmup=args.warmup_epochs, epochs=epochs, batch_size=args.batch_size, embedding_dim=64, num_layers=3,
        lr=1e-3, weight_decay=1e-4, seed=args.seed,
    )
    evaluator = evaluator_for(dataset, device)
    sides = run_sides(dataset, device=device, order=order, repeats=repeats, evaluator=evaluator, **settings)

    record: Dict[str, Any] = {
        "dataset": args.dataset,
        "device": device.type,
        "device_name": device_name(device),
        "versions": {
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_geometric": torch_geometric.__version__, "graphrec": graphrec.__version__,
        },
        "threads": torch.get_num_threads(),
        # 1-minute load average before and after: a shared machine's other jobs show here
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "environment": {name: os.environ.get(name) for name in _THREAD_VARIABLES},
        "dataset_stats": {
            "users": dataset.num_users, "items": dataset.num_items, "train": len(dataset.train),
            "test": len(dataset.test), "evaluated_users": evaluator.num_users,
        },
        "settings": {
            "batch_size": args.batch_size, "embedding_dim": 64, "num_layers": 3, "lr": 1e-3, "weight_decay": 1e-4,
            "num_negatives": 1, "order": order, "warmup_epochs": args.warmup_epochs, "epochs": epochs,
            "eval_repeats": repeats,
            "batches_per_epoch": math.ceil(len(dataset.train) / args.batch_size), "seed": args.seed,
        },
        **sides,
        "ratio": sides["pyg"]["mean_seconds"] / sides["graphrec"]["mean_seconds"],
        "ratio_min": sides["pyg"]["min_seconds"] / sides["graphrec"]["min_seconds"],
    }
    record["checks"] = checks(record)
    out = args.out or RESULTS / f"bench_lightgcn_{args.dataset}_{device.type}.json"
    write_text_atomic(out, json.dumps(record, indent=2) + "\n")
    print(table(record))
    print(f"written: {out}")
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
