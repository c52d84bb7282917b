"""The main job on the embedded default: the synthetic world, its graph, and
LightGCN against a KG encoder trained on it.

``graphrec demo`` runs :func:`run_demo` and prints :func:`format_summary`. It
needs no download, so it is the first thing a fresh install runs: it builds
the world and its heterogeneous graph, trains each model with the shared
trainer (early stopping on the validation split) and prints their test
metrics side by side.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

from torch_geometric.data import HeteroData

from .data.synthetic_world import SyntheticWorld, synthetic
from .graph import build, normalized_adjacency, user_item_edge_index
from .models import create_model
from .seeding import seed_everything
from .train import Trainer

#: what the demo trains by default: a collaborative encoder and a KG encoder
DEMO_MODELS = ("mf", "lightgcn", "kgin")
REPORTED_METRICS = ("recall@20", "ndcg@20", "precision@20", "hit@20")


def graph_summary(graph: HeteroData) -> Dict[str, Any]:
    """Node counts per type, edge counts per edge type, and the homogeneous view's sizes."""
    homogeneous = graph.to_homogeneous()
    return {
        "nodes": {node_type: int(graph[node_type].num_nodes) for node_type in graph.node_types},
        "edges": {"__".join(edge_type): int(graph[edge_type].num_edges) for edge_type in graph.edge_types},
        "homogeneous": {
            "nodes": int(homogeneous.num_nodes),
            "edges": int(homogeneous.num_edges),
            "edge_types": len(graph.edge_types),
        },
    }


def run_demo(
    *,
    seed: int = 0,
    num_users: int = 3000,
    num_items: int = 2000,
    models: Sequence[str] = DEMO_MODELS,
    epochs: int = 30,
    lr: float = 0.01,
    batch_size: int = 2048,
    device: str = "auto",
) -> Dict[str, Any]:
    """Build the synthetic world and its graph, train ``models`` on it; return the summaries.

    Each model trains with BPR (one uniform negative), Adam at ``lr``, L2 1e-4
    on the layer-0 embeddings, validation every 5 epochs and early stopping
    after 2 evaluations without a better NDCG@20; test metrics are those of
    the best validation epoch. ``models=()`` only builds and summarises.
    """
    world: SyntheticWorld = synthetic(num_users=num_users, num_items=num_items, seed=seed)
    graph = build(world.dataset)
    adjacency = normalized_adjacency(user_item_edge_index(graph), world.dataset.num_users, world.dataset.num_items)
    summary = graph_summary(graph)
    summary["lightgcn_adjacency"] = {"size": int(adjacency.shape[0]), "nonzeros": int(adjacency.values().numel())}
    trained = {}
    for name in models:
        seed_everything(seed)
        model = create_model(name, graph)
        trainer = Trainer(
            model, world.dataset, graph=graph, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
            device=device, eval_every=5, eval_ks=(20,), eval_metric="ndcg@20", patience=2, progress=False,
        )
        result = trainer.fit()
        epochs_run = [record["seconds"] for record in result.history]
        trained[name] = {
            "test": {key: result.test[key] for key in REPORTED_METRICS},
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "seconds_per_epoch": sum(epochs_run) / len(epochs_run) if epochs_run else 0.0,
        }
    return {"seed": seed, "world": world.summary(), "graph": summary, "models": trained}


def format_summary(result: Dict[str, Any]) -> str:
    """A plain-text report of :func:`run_demo`'s result."""
    world, graph = result["world"], result["graph"]
    stat_keys = ("users", "items", "train", "valid", "test", "entities", "relations", "triples")
    lines = [f"synthetic world (seed {result['seed']})"]
    lines += [f"  {key:<10} {world[key]:>10,}" for key in stat_keys]
    lines += [
        f"  random-exposure test clicks {world['unbiased_test']:,}",
        "exposure bias (observed clicks are a popularity-biased sample of true preference)",
        f"  Gini of item popularity: observed {world['gini_observed_popularity']:.3f}, "
        f"true preference {world['gini_true_popularity']:.3f}",
        f"  Spearman of observed item counts with propensity {world['spearman_propensity_observed']:.3f}, "
        f"with true preference {world['spearman_preference_observed']:.3f}",
        "heterogeneous graph",
    ]
    lines += [f"  node {name:<40} {count:>10,}" for name, count in graph["nodes"].items()]
    lines += [f"  edge {name:<40} {count:>10,}" for name, count in graph["edges"].items()]
    homogeneous = graph["homogeneous"]
    adjacency = graph["lightgcn_adjacency"]
    lines += [
        f"  to_homogeneous(): {homogeneous['nodes']:,} nodes, {homogeneous['edges']:,} edges, "
        f"{homogeneous['edge_types']} edge types",
        f"  LightGCN adjacency: {adjacency['size']:,} x {adjacency['size']:,}, {adjacency['nonzeros']:,} non-zeros",
    ]
    if result.get("models"):
        lines.append("test metrics (training items masked; best validation epoch)")
        header = f"  {'model':<10}" + "".join(f"{key:>14}" for key in REPORTED_METRICS) + f"{'epochs':>8}{'best':>6}{'s/epoch':>9}"
        lines.append(header)
        for name, trained in result["models"].items():
            lines.append(
                f"  {name:<10}" + "".join(f"{trained['test'][key]:>14.4f}" for key in REPORTED_METRICS)
                + f"{trained['epochs']:>8}{trained['best_epoch']:>6}{trained['seconds_per_epoch']:>9.2f}"
            )
    return "\n".join(lines)
