"""Run folders: a resolved config in, a trained model and its metrics out.

``train_run(config, run_dir)`` is what ``graphrec train`` does::

    dataset = load(config.dataset) or synthetic(...)       (+ config.split, if any)
    graph   = graphrec.graph.build(dataset)
    model   = create_model(config.model, graph, **config.model_args)   (seeded)
    debias  = create_debiaser(config.debias, dataset, model, **config.debias_args)   (if any)
    Trainer(model, dataset, graph=graph, debias=debias, ...).fit()     (resumes)

and the run folder holds ``config.yaml`` (the resolved config),
``log.jsonl``, ``checkpoint.pt`` and ``metrics.json``::

    {"valid": {...}, "test": {"recall@20": ..., "ndcg@20": ..., ...},
     "epochs": N, "best_epoch": N, "train_seconds": ..., "seconds_per_epoch": ...,
     "device": "...", "dataset": "...", "model": "..."}

``open_run(run_dir)`` rebuilds everything from ``config.yaml`` and loads the
best parameters, for ``graphrec evaluate`` and ``graphrec recommend``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch_geometric.data import HeteroData

from .atomic import write_text_atomic
from .checkpoint import load_checkpoint
from .config import ConfigError, dump_config, load_config, resolve_config
from .data.dataset import RecDataset
from .graph import build
from .models import create_model
from .models.base import Recommender
from .seeding import seed_everything
from .train import CHECKPOINT_NAME, Trainer

CONFIG_NAME = "config.yaml"
#: config keys that must match for a run folder's checkpoint to be resumed
_RESUME_KEYS = ("dataset", "dataset_args", "split", "model", "model_args", "loss", "debias", "debias_args")
METRICS_NAME = "metrics.json"


@dataclass
class Run:
    """Everything a config builds: the data, its graph, the model and its trainer."""

    config: Dict[str, Any]
    dataset: RecDataset
    graph: HeteroData
    model: Recommender
    trainer: Trainer


def load_dataset(config: Mapping[str, Any]) -> RecDataset:
    """The config's dataset: ``synthetic`` (the embedded world) or a registry name,
    re-split when ``config['split']`` asks for it."""
    name, arguments = config["dataset"], dict(config.get("dataset_args") or {})
    if name == "synthetic":
        from .data.synthetic_world import synthetic

        dataset = synthetic(**arguments).dataset
    else:
        from .data.registry import load

        dataset = load(name, **arguments)
    split = config.get("split")
    if split is not None:
        from .data.split import split_dataset

        dataset = split_dataset(
            dataset, split["method"], ratios=tuple(split.get("ratios", (0.8, 0.1, 0.1))), seed=split.get("seed", 0)
        )
    return dataset


def build_run(
    config: Mapping[str, Any],
    run_dir: Optional["str | os.PathLike[str]"] = None,
    *,
    progress: bool = True,
    time_limit: Optional[float] = None,
) -> Run:
    """Dataset, graph, seeded model and trainer for a resolved ``config`` (``time_limit``:
    the trainer's, seconds per ``fit()`` call; a run-time setting, not part of the config)."""
    config = resolve_config(config)
    dataset = load_dataset(config)
    graph = build(dataset)
    # the model's initial parameters come from the global generators: seed them first
    seed_everything(config["seed"])
    model = create_model(config["model"], graph, **config["model_args"])
    debias = None
    if config["debias"] is not None:
        from .debias import create_debiaser

        try:  # after the model: its initial parameters (MACR's branches, DICE's copy) follow the same seed
            debias = create_debiaser(config["debias"], dataset, model, **config["debias_args"])
        except ValueError as error:  # the checks that need the dataset or the model
            raise ConfigError(f"debias_args: {error}") from None
    evaluation = config["eval"]
    trainer = Trainer(
        model,
        dataset,
        graph=graph,
        loss=config["loss"],
        num_negatives=config["num_negatives"],
        positive_sampling=config["positive_sampling"],
        negative_sampling=config["negative_sampling"],
        epochs=config["epochs"],
        batch_size=config["batch_size"],
        lr=config["lr"],
        weight_decay=config["weight_decay"],
        seed=config["seed"],
        device=config["device"],
        deterministic=config["deterministic"],
        amp=config["amp"],
        eval_every=evaluation["every"],
        eval_ks=tuple(evaluation["ks"]),
        eval_metric=evaluation["metric"],
        patience=evaluation["patience"],
        debias=debias,
        evaluator_options={"batch_size": evaluation["batch_size"]},
        run_dir=run_dir,
        progress=progress,
        time_limit=time_limit,
        # everything that changes what is trained: a checkpoint made under other values is refused
        # (the model's repr does not show every hyper-parameter, e.g. R-GCN's dropout)
        config={key: config[key] for key in _RESUME_KEYS},
    )
    return Run(config=config, dataset=dataset, graph=graph, model=model, trainer=trainer)


def train_run(
    config: Mapping[str, Any],
    run_dir: "str | os.PathLike[str]",
    *,
    progress: bool = True,
    time_limit: Optional[float] = None,
) -> Dict[str, Any]:
    """Train ``config`` in ``run_dir`` (resuming a matching checkpoint) and write ``metrics.json``.

    With ``time_limit`` (seconds), :class:`graphrec.train.TimeLimitReached` is raised when
    the limit is reached before training ends: the run is checkpointed, no ``metrics.json``
    is written, and calling ``train_run`` again resumes it."""
    run_dir = Path(run_dir)
    run = build_run(config, run_dir, progress=progress, time_limit=time_limit)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / CONFIG_NAME, dump_config(run.config))
    result = run.trainer.fit()
    trained_epochs = [record for record in result.history if "seconds" in record]
    metrics = {
        "valid": result.valid,
        "test": result.test,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "train_seconds": result.train_seconds,
        "seconds_per_epoch": (
            sum(record["seconds"] for record in trained_epochs) / len(trained_epochs) if trained_epochs else 0.0
        ),
        "validation_split": result.validation_split,
        "stopped_early": result.stopped_early,
        "device": _device_name(run.trainer.device),
        "dataset": run.config["dataset"],
        "model": run.config["model"],
    }
    write_text_atomic(run_dir / METRICS_NAME, json.dumps(metrics, indent=2) + "\n")
    return metrics


def open_run(run_dir: "str | os.PathLike[str]", *, device: Optional[str] = None) -> Run:
    """Rebuild a finished (or interrupted) run from its folder with its best parameters loaded."""
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a graphrec run folder: {CONFIG_NAME} is missing")
    config = resolve_config(load_config(config_path))
    if device is not None:
        config["device"] = device
    run = build_run(config, None, progress=False)
    if run.model.trainable:
        checkpoint_path = run_dir / CHECKPOINT_NAME
        if not checkpoint_path.is_file():
            raise FileNotFoundError(f"{checkpoint_path} is missing: the run has not finished an evaluation yet")
        state = load_checkpoint(checkpoint_path, map_location=run.trainer.device)
        best = state.get("best") or {"model": state["model"], "debias": state.get("debias", {})}
        run.model.load_state_dict(best["model"])
        if best.get("debias"):
            run.trainer.debias.load_state_dict(best["debias"])
    else:
        run.model.fit(run.dataset.train)
        run.model.to(run.trainer.device)
    return run


def evaluate_run(run_dir: "str | os.PathLike[str]", *, device: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """Metrics of a run's best parameters on its validation (if any) and test splits."""
    run = open_run(run_dir, device=device)
    metrics = {"test": run.trainer.evaluate("test")}
    if len(run.dataset.valid):
        metrics = {"valid": run.trainer.evaluate("valid"), **metrics}
    return metrics


def recommend(run: Run, raw_user: Any, k: int = 10) -> List[Tuple[Any, float]]:
    """Top-``k`` items (raw ids, scores) for a user given by raw id; training
    (and validation) items are not recommended again."""
    user_index = _user_index(run.dataset, raw_user)
    trainer = run.trainer
    trainer.model.eval()
    trainer.debias.eval()
    with torch.no_grad():
        users = torch.tensor([user_index], device=trainer.device)
        scores = trainer.score_function()(users)[0]
    for split in (run.dataset.train, run.dataset.valid):
        seen = torch.from_numpy(split.item[split.user == user_index]).to(scores.device)
        scores[seen] = float("-inf")
    k = min(k, int(torch.isfinite(scores).sum()))
    top = torch.topk(scores, k)
    items = run.dataset.item_ids.raw_of(top.indices.cpu().numpy())
    return [(_plain(item), float(score)) for item, score in zip(items, top.values.cpu().tolist())]


def _user_index(dataset: RecDataset, raw_user: Any) -> int:
    """Index of a raw user id given as text on the command line (or already typed)."""
    user_ids = dataset.user_ids
    candidates = [raw_user]
    if isinstance(raw_user, str):
        try:
            candidates.append(int(raw_user))
        except ValueError:
            pass
    for candidate in candidates:
        index = user_ids.index([candidate], strict=False)[0]
        if index >= 0:
            return int(index)
    raise KeyError(f"user {raw_user!r} is not a raw user id of {dataset.name} (e.g. {user_ids.raw[:3].tolist()})")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
