"""graphrec.models.LightGCN against PyG's independent implementation
(``torch_geometric.nn.models.LightGCN``: gather/scatter message passing with
``gcn_norm``), forward and gradients, on a random graph and on Last.FM.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.nn.models import LightGCN as PyGLightGCN

from graphrec.data import load, synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.models.lightgcn import LightGCN
from tests.helpers import bpr_training, training_auc


def random_graph(seed: int, num_users: int = 30, num_items: int = 20, density: float = 0.15) -> HeteroData:
    rng = np.random.default_rng(seed)
    user, item = np.nonzero(rng.random((num_users, num_items)) < density)  # some nodes stay isolated
    data = HeteroData()
    data["user"].num_nodes = num_users
    data["item"].num_nodes = num_items
    data["user", "interacts", "item"].edge_index = torch.from_numpy(np.stack([user, item]))
    return data


def pyg_reference(model: LightGCN, graph: HeteroData) -> tuple:
    """PyG's LightGCN with the same layer-0 embeddings, on both edge directions
    (items offset by num_users, duplicates removed as normalized_adjacency does)."""
    user, item = graph["user", "interacts", "item"].edge_index
    pairs = torch.unique(user * model.num_items + item)
    user, item = pairs // model.num_items, pairs % model.num_items + model.num_users
    edge_index = torch.stack([torch.cat([user, item]), torch.cat([item, user])])
    reference = PyGLightGCN(model.num_users + model.num_items, model.embedding_dim, model.num_layers)
    reference = reference.to(model.embedding.weight.dtype)
    with torch.no_grad():
        reference.embedding.weight.copy_(model.embedding.weight)
    return reference, edge_index


def compare_with_pyg(model: LightGCN, graph: HeteroData, rtol: float, atol: float) -> None:
    reference, edge_index = pyg_reference(model, graph)
    user_emb, item_emb = model(graph)
    expected = reference.get_embedding(edge_index)
    torch.testing.assert_close(torch.cat([user_emb, item_emb]), expected, rtol=rtol, atol=atol)

    upstream = torch.randn_like(expected)
    (torch.cat([user_emb, item_emb]) * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(model.embedding.weight.grad, reference.embedding.weight.grad, rtol=rtol, atol=atol)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_matches_pyg_on_a_random_graph(num_layers):
    torch.manual_seed(0)
    graph = random_graph(0)
    model = LightGCN(30, 20, embedding_dim=6, num_layers=num_layers)
    compare_with_pyg(model, graph, rtol=1e-5, atol=1e-6)
    model64 = LightGCN(30, 20, embedding_dim=6, num_layers=num_layers).double()  # adjacency rebuilt in float64
    compare_with_pyg(model64, graph, rtol=1e-6, atol=1e-7)  # float32 normalisation values, float64 products


def test_matches_pyg_on_lastfm(data_root):
    dataset = load("last-fm-kgcn", root=data_root)
    graph = build(dataset)  # the full heterogeneous graph: LightGCN reads only its user-item part
    torch.manual_seed(1)
    model = LightGCN(dataset.num_users, dataset.num_items, embedding_dim=16, num_layers=3)
    compare_with_pyg(model, graph, rtol=1e-4, atol=1e-6)


def test_layer_weights_and_layer_zero():
    graph = random_graph(1)
    model = LightGCN(30, 20, embedding_dim=4, num_layers=0)
    user_emb, item_emb = model(graph)
    torch.testing.assert_close(torch.cat([user_emb, item_emb]), model.embedding.weight)
    users, items = torch.tensor([0, 29, 3]), torch.tensor([19, 0, 5])
    user0, item0 = model.initial_embeddings(users, items)
    torch.testing.assert_close(user0, model.embedding.weight[users])
    torch.testing.assert_close(item0, model.embedding.weight[items + 30])

    # one layer by hand: (E0 + A E0) / 2 with a dense A
    model = LightGCN(30, 20, embedding_dim=4, num_layers=1)
    edge_index = graph["user", "interacts", "item"].edge_index.numpy()
    A = np.zeros((50, 50))
    A[edge_index[0], edge_index[1] + 30] = A[edge_index[1] + 30, edge_index[0]] = 1.0
    degree = A.sum(1)
    inv_sqrt = np.where(degree > 0, degree, 1.0) ** -0.5 * (degree > 0)
    A_hat = inv_sqrt[:, None] * A * inv_sqrt[None, :]
    E0 = model.embedding.weight.detach().double().numpy()
    out = torch.cat(model(graph)).detach().double().numpy()
    np.testing.assert_allclose(out, (E0 + A_hat @ E0) / 2, rtol=1e-5, atol=1e-6)


def test_registry_shapes_reset_and_cache():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    model = create_model("lightgcn", graph, embedding_dim=8)
    assert isinstance(model, LightGCN) and model.num_layers == 3
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (200, 8) and item_emb.shape == (150, 8)
    # the default init is N(0, 0.1^2)
    assert abs(model.embedding.weight.std().item() - 0.1) < 0.01
    cached = model._adjacency.matrix
    assert cached is not None
    model(graph)
    assert model._adjacency.matrix is cached  # reused across calls
    before = model.embedding.weight.detach().clone()
    model.reset_parameters()
    assert model._adjacency.matrix is None
    assert not torch.equal(before, model.embedding.weight)
    assert not any("adjacency" in key for key in model.state_dict())


def test_deepcopy_and_dtype_move():
    graph = random_graph(2)
    model = LightGCN(30, 20, embedding_dim=4)
    model(graph)
    clone = copy.deepcopy(model)
    assert clone._adjacency.matrix is None
    torch.testing.assert_close(torch.cat(clone(graph)), torch.cat(model(graph)))
    model.double()
    user_emb, _ = model(graph)
    assert user_emb.dtype == torch.float64 and model._adjacency.matrix.dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_moves_to_cuda():
    graph = random_graph(3)
    model = LightGCN(30, 20, embedding_dim=4)
    expected = torch.cat(model(graph)).detach()
    model.to("cuda")
    out = torch.cat(model(graph))  # the graph stays on the CPU: the adjacency follows the model
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.detach().cpu(), expected, rtol=1e-5, atol=1e-6)


def test_bpr_training_raises_training_auc():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    torch.manual_seed(0)
    model = create_model("lightgcn", graph, embedding_dim=16)
    before = training_auc(model, graph, dataset.train)
    bpr_training(model, graph, dataset.train, lr=0.05)
    after = training_auc(model, graph, dataset.train)
    assert after > before + 0.1 and after > 0.85, (before, after)
