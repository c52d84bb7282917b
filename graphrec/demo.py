"""The main job on the embedded default: build the synthetic world and its graph.

``graphrec demo`` runs :func:`run_demo` and prints :func:`format_summary`. It
needs no download, so it is the first thing a fresh install runs. (When the
shared trainer lands, this job grows into training on the same world.)
"""
from __future__ import annotations

from typing import Any, Dict

from torch_geometric.data import HeteroData

from .data.synthetic_world import SyntheticWorld, synthetic
from .graph import build, normalized_adjacency, user_item_edge_index


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


def run_demo(*, seed: int = 0, num_users: int = 3000, num_items: int = 2000) -> Dict[str, Any]:
    """Build the synthetic world and its heterogeneous graph; return their summaries."""
    world: SyntheticWorld = synthetic(num_users=num_users, num_items=num_items, seed=seed)
    graph = build(world.dataset)
    adjacency = normalized_adjacency(user_item_edge_index(graph), world.dataset.num_users, world.dataset.num_items)
    summary = graph_summary(graph)
    summary["lightgcn_adjacency"] = {"size": int(adjacency.shape[0]), "nonzeros": int(adjacency.values().numel())}
    return {"seed": seed, "world": world.summary(), "graph": summary}


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
    return "\n".join(lines)
