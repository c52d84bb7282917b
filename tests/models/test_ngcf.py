"""graphrec.models.NGCF against a dense NumPy re-computation of its layers
(same weights, dropout off in eval mode), plus init, dropout and a BPR sanity check."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData

from graphrec.data import synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.models.ngcf import NGCF
from tests.helpers import bpr_training, training_auc

NUM_USERS, NUM_ITEMS = 12, 8


def random_graph(seed: int) -> HeteroData:
    rng = np.random.default_rng(seed)
    user, item = np.nonzero(rng.random((NUM_USERS, NUM_ITEMS)) < 0.3)
    data = HeteroData()
    data["user"].num_nodes = NUM_USERS
    data["item"].num_nodes = NUM_ITEMS
    data["user", "interacts", "item"].edge_index = torch.from_numpy(np.stack([user, item]))
    return data


def dense_laplacian(graph: HeteroData) -> np.ndarray:
    user, item = graph["user", "interacts", "item"].edge_index.numpy()
    A = np.zeros((NUM_USERS + NUM_ITEMS,) * 2)
    A[user, item + NUM_USERS] = A[item + NUM_USERS, user] = 1.0
    degree = A.sum(1)
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    return inv_sqrt[:, None] * A * inv_sqrt[None, :]


def numpy_ngcf(model: NGCF, L: np.ndarray, keep: np.ndarray = None) -> np.ndarray:
    """E^(l+1) = LeakyReLU((L + I) E W1 + b1 + ((L E) * E) W2 + b2); output
    [E0 | E1/|E1| | ...]; ``keep`` scales the rows of E before L (node dropout)."""
    def weights(linear):
        bias = linear.bias.detach().double().numpy() if linear.bias is not None else 0.0
        return linear.weight.detach().double().numpy().T, bias

    E = model.embedding.weight.detach().double().numpy()
    outputs = [E]
    for neighbor, interaction in zip(model.neighbor_transforms, model.interaction_transforms):
        (W1, b1), (W2, b2) = weights(neighbor), weights(interaction)
        side = L @ (E if keep is None else E * keep)
        hidden = (side + E) @ W1 + b1 + (side * E) @ W2 + b2
        E = np.where(hidden > 0, hidden, model.negative_slope * hidden)
        outputs.append(E / np.linalg.norm(E, axis=1, keepdims=True))
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_numpy_in_eval_mode(num_layers, bias):
    torch.manual_seed(num_layers)
    graph = random_graph(num_layers)
    model = NGCF(NUM_USERS, NUM_ITEMS, embedding_dim=5, num_layers=num_layers, bias=bias, node_dropout=0.3).eval()
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (NUM_USERS, 5 * (num_layers + 1)) == (NUM_USERS, model.output_dim)
    assert item_emb.shape == (NUM_ITEMS, model.output_dim)
    expected = numpy_ngcf(model, dense_laplacian(graph))
    np.testing.assert_allclose(torch.cat([user_emb, item_emb]).detach().numpy(), expected, rtol=2e-5, atol=2e-6)

    users, items = torch.tensor([0, 11]), torch.tensor([7, 2])
    user0, item0 = model.initial_embeddings(users, items)
    np.testing.assert_allclose(user0.detach().numpy(), expected[users.numpy(), :5], rtol=1e-6)
    np.testing.assert_allclose(item0.detach().numpy(), expected[items.numpy() + NUM_USERS, :5], rtol=1e-6)


def test_message_dropout_only_in_training():
    graph = random_graph(0)
    model = NGCF(NUM_USERS, NUM_ITEMS, embedding_dim=16, num_layers=2, message_dropout=0.5)
    model.train()
    first, second = torch.cat(model(graph)), torch.cat(model(graph))
    assert not torch.allclose(first[:, 16:], second[:, 16:])
    torch.testing.assert_close(first[:, :16], second[:, :16])  # layer 0 is never dropped
    model.eval()
    torch.testing.assert_close(torch.cat(model(graph)), torch.cat(model(graph)))


def test_node_dropout_drops_outgoing_messages():
    graph = random_graph(1)
    p = 0.4
    model = NGCF(NUM_USERS, NUM_ITEMS, embedding_dim=4, num_layers=2, message_dropout=0.0, node_dropout=p).train()
    # The node mask is the forward's first random draw: replay it with the same seed.
    torch.manual_seed(7)
    survive = (torch.rand(NUM_USERS + NUM_ITEMS, 1) >= p).double().numpy()
    torch.manual_seed(7)
    out = torch.cat(model(graph)).detach().numpy()
    expected = numpy_ngcf(model, dense_laplacian(graph), keep=survive / (1 - p))
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)
    assert not np.allclose(out, numpy_ngcf(model, dense_laplacian(graph)), atol=1e-3)


def test_xavier_init_and_defaults():
    torch.manual_seed(0)
    d = 32
    model = NGCF(300, 100, embedding_dim=d)
    assert (model.message_dropout, model.node_dropout, model.negative_slope, model.num_layers) == (0.1, 0.0, 0.2, 3)
    # Xavier-uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)), per table as in the official code
    for block, rows in ((model.embedding.weight[:300], 300), (model.embedding.weight[300:], 100)):
        bound = math.sqrt(6.0 / (rows + d))
        assert block.abs().max().item() <= bound and block.abs().max().item() > 0.95 * bound
        assert abs(block.std().item() - bound / math.sqrt(3)) < 0.05 * bound  # U(-a, a) has std a/sqrt(3)
    for linear in (*model.neighbor_transforms, *model.interaction_transforms):
        bound = math.sqrt(6.0 / (2 * d))
        assert linear.weight.abs().max().item() <= bound and linear.weight.abs().max().item() > 0.9 * bound
        assert linear.bias.abs().max().item() <= math.sqrt(6.0 / (1 + d))


def test_registry_reset_and_dtype():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    model = create_model("ngcf", graph, embedding_dim=8, num_layers=2)
    assert isinstance(model, NGCF)
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (200, 24) and item_emb.shape == (150, 24)
    assert model._adjacency.matrix is not None
    weights = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    assert model._adjacency.matrix is None
    assert all(not torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    model.double().eval()
    assert model(graph)[0].dtype == torch.float64
    if torch.cuda.is_available():
        assert model.to("cuda")(graph)[0].device.type == "cuda"


def test_bpr_training_raises_training_auc():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    graph = build(dataset)
    torch.manual_seed(0)
    model = create_model("ngcf", graph, embedding_dim=16)
    before = training_auc(model.eval(), graph, dataset.train)
    bpr_training(model, graph, dataset.train, lr=0.05)
    after = training_auc(model.eval(), graph, dataset.train)
    assert after > before + 0.2 and after > 0.85, (before, after)
