"""graphrec.models.MF (BPR-MF): tables, init, contract, and a BPR sanity check."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.data import synthetic
from graphrec.graph import build
from graphrec.models import create_model
from graphrec.models.mf import MF
from tests.helpers import bpr_training, training_auc


@pytest.fixture(scope="module")
def world():
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    return dataset, build(dataset)


def test_registry_shapes_and_forward(world):
    dataset, graph = world
    model = create_model("mf", graph, embedding_dim=8)
    assert isinstance(model, MF) and model.trainable
    user_emb, item_emb = model(graph)
    assert user_emb.shape == (200, 8) and item_emb.shape == (150, 8)
    assert user_emb is model.user_embedding.weight and item_emb is model.item_embedding.weight
    users, items = torch.tensor([3, 0, 199]), torch.tensor([149, 7, 7])
    user0, item0 = model.initial_embeddings(users, items)
    torch.testing.assert_close(user0, user_emb[users])
    torch.testing.assert_close(item0, item_emb[items])
    # score and full_scores are inner products
    expected = user_emb[users].detach().numpy() @ item_emb.detach().numpy().T
    scores = model.full_scores(users, user_emb, item_emb).detach().numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        model.score(user_emb[users], item_emb[items]).detach().numpy(),
        expected[np.arange(3), items.numpy()], rtol=1e-5, atol=1e-7,
    )


def test_init_std_and_reset(world):
    _, graph = world
    torch.manual_seed(0)
    model = create_model("mf", graph, embedding_dim=64, init_std=0.05)
    weights = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    # 22,400 draws of N(0, 0.05^2): the sample std is within 2% of 0.05
    assert abs(weights.std().item() - 0.05) < 0.001 and abs(weights.mean().item()) < 0.002
    model.reset_parameters()
    assert not torch.equal(weights, torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach())
    with pytest.raises(ValueError):
        MF(10, 10, embedding_dim=0)


def test_moves_with_to():
    model = MF(5, 4, embedding_dim=3).double()
    assert model(None)[0].dtype == torch.float64
    if torch.cuda.is_available():
        assert model.to("cuda")(None)[1].device.type == "cuda"


def test_bpr_training_raises_training_auc(world):
    dataset, graph = world
    torch.manual_seed(0)
    model = create_model("mf", graph, embedding_dim=16)
    before = training_auc(model, graph, dataset.train)
    bpr_training(model, graph, dataset.train, lr=0.05)
    after = training_auc(model, graph, dataset.train)
    assert after > before + 0.2 and after > 0.85, (before, after)
