"""graphrec.models.KGIN: one aggregation layer against a NumPy re-computation on
hand-listed CKG triples; the independence regulariser against an independent
NumPy distance correlation (Székely et al. 2007); gradients, reset,
dtype/device, determinism; a short BPR run.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from graphrec import graph
from graphrec.data import synthetic
from graphrec.models import create_model
from graphrec.models.kgin import KGIN, distance_correlation, independence_loss
from tests.helpers import bpr_training, tiny_dataset, training_auc


# The tiny CKG by hand, in the item/entity table's own ids: items 0-3, entity
# nodes b=4 c=5 e=6. Distinct KG triples (head, KGIN relation, tail) with
# relations genre 0, sequel 1, and their reverses 2, 3; distinct clicks per user.
_KG_FORWARD = [(0, 0, 4), (2, 0, 5), (6, 0, 4), (0, 1, 2), (4, 1, 0)]
KG_TRIPLES = _KG_FORWARD + [(t, r + 2, h) for h, r, t in _KG_FORWARD]
USER_ITEMS = {0: [0, 1], 1: [1], 2: [3]}


def softmax(z, axis=-1):
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def normalize(z):
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return np.divide(z, norm, out=np.zeros_like(z), where=norm > 0)


def numpy_dcor(x, y):
    """Székely's distance correlation from double-centred distance matrices."""
    def centred(v):
        a = np.abs(v[:, None] - v[None, :])
        return a - a.mean(axis=0, keepdims=True) - a.mean(axis=1, keepdims=True) + a.mean()

    a, b = centred(x), centred(y)
    dcov2, dvar_x, dvar_y = (a * b).mean(), (a * a).mean(), (b * b).mean()
    return np.sqrt(dcov2 / np.sqrt(dvar_x * dvar_y))


@pytest.fixture
def tiny():
    return graph.build(tiny_dataset())


def test_one_layer_matches_numpy(tiny) -> None:
    torch.manual_seed(0)
    model = KGIN.from_graph(tiny, embedding_dim=5, num_layers=1, node_dropout=0.0, message_dropout=0.0).double()
    users, items = model(tiny)
    x = model.embedding.weight.detach().numpy()
    relation = model.relation_embedding.weight.detach().numpy()
    logits, keys = model.intent_logits.detach().numpy(), model.intent_keys.detach().numpy()
    x_users, x_entities = x[:3], x[3:]
    entity_next = np.zeros_like(x_entities)
    for v in range(7):
        messages = [relation[r] * x_entities[t] for h, r, t in KG_TRIPLES if h == v]
        if messages:
            entity_next[v] = np.mean(messages, axis=0)
    intents = softmax(logits, axis=1) @ relation  # e_p = sum_r alpha(r, p) e_r
    beta = softmax(x_users @ keys.T, axis=1)
    mean_items = np.stack([x_entities[USER_ITEMS[u]].mean(axis=0) for u in range(3)])
    user_next = mean_items * (beta @ intents) + mean_items
    np.testing.assert_allclose(users.detach().numpy(), x_users + normalize(user_next), rtol=1e-10, atol=1e-12)
    expected_items = (x_entities + normalize(entity_next))[:4]
    np.testing.assert_allclose(items.detach().numpy(), expected_items, rtol=1e-10, atol=1e-12)
    # items 1 and 3 have no KG triple: their representation is their embedding
    np.testing.assert_allclose(items[[1, 3]].detach().numpy(), x_entities[[1, 3]], rtol=0, atol=0)


def test_distance_correlation_matches_numpy() -> None:
    rng = np.random.default_rng(0)
    intents = rng.normal(size=(4, 20))
    intents[3] = 0.5 * intents[0] ** 2 + 0.1 * rng.normal(size=20)  # a dependent pair
    matrix = distance_correlation(torch.from_numpy(intents)).numpy()
    for p, q in itertools.product(range(4), repeat=2):
        assert matrix[p, q] == pytest.approx(numpy_dcor(intents[p], intents[q]), rel=1e-6), (p, q)
    assert matrix[0, 0] == pytest.approx(1.0, rel=1e-6)
    line = distance_correlation(torch.from_numpy(np.stack([intents[0], 3 * intents[0] - 1]))).numpy()
    assert line[0, 1] == pytest.approx(1.0, rel=1e-6)  # an affine function is fully dependent


@pytest.mark.parametrize("independence", ["distance", "cosine"])
def test_auxiliary_loss_is_the_scaled_pairwise_independence(tiny, independence: str) -> None:
    model = KGIN.from_graph(tiny, embedding_dim=4, num_intents=4, independence=independence, sim_regularity=1e-2)
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 4))  # 4 intents over 2 * 2 relations
    with torch.no_grad():
        model.intent_logits.copy_(torch.from_numpy(logits))
    pairs = list(itertools.combinations(range(4), 2))
    if independence == "distance":
        expected = sum(numpy_dcor(logits[p], logits[q]) for p, q in pairs)
    else:
        expected = sum(
            (logits[p] @ logits[q] / np.linalg.norm(logits[p]) / np.linalg.norm(logits[q])) ** 2 for p, q in pairs
        )
    loss = model.auxiliary_loss(tiny)
    assert loss.item() == pytest.approx(1e-2 * expected, rel=1e-5)
    loss.backward()
    assert model.intent_logits.grad.abs().sum() > 0
    assert KGIN.from_graph(tiny, sim_regularity=0.0).auxiliary_loss(tiny) is None


def test_independence_loss_degenerate_cases() -> None:
    assert independence_loss(torch.randn(1, 5)).item() == 0.0  # one intent
    assert independence_loss(torch.randn(3, 1)).item() == 0.0  # one relation: nothing to correlate
    with pytest.raises(ValueError, match="independence"):
        independence_loss(torch.randn(3, 4), "mi")


def test_shapes_with_and_without_kg(tiny) -> None:
    users, items = KGIN.from_graph(tiny, embedding_dim=8)(tiny)
    assert users.shape == (3, 8) and items.shape == (4, 8)
    data = graph.build(tiny_dataset(with_kg=False))
    model = create_model("kgin", data, embedding_dim=8)
    assert model.relation_embedding.weight.shape == (1, 8) and model.intent_logits.shape == (4, 1)
    users, items = model(data)
    assert users.shape == (3, 8) and items.shape == (4, 8) and torch.isfinite(users).all()
    assert model.auxiliary_loss(data).item() == 0.0


def test_gradients_reach_every_parameter(tiny) -> None:
    torch.manual_seed(0)
    model = KGIN.from_graph(tiny, embedding_dim=6, num_layers=2)
    users, items = model(tiny)
    (users.pow(2).sum() + items.pow(3).sum()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_reset_parameters(tiny) -> None:
    first, second = KGIN.from_graph(tiny, embedding_dim=4), KGIN.from_graph(tiny, embedding_dim=4)
    first(tiny)
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(1.0)
    torch.manual_seed(7)
    first.reset_parameters()
    torch.manual_seed(7)
    second.reset_parameters()
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert first.intent_keys.abs().max() <= np.sqrt(6 / (4 + 4))  # Xavier uniform bound


def test_dtype_follows_the_model(tiny) -> None:
    torch.manual_seed(0)
    model = KGIN.from_graph(tiny, embedding_dim=4).eval()
    expected = model(tiny)[0].detach().double()
    model.double()
    users, items = model(tiny)
    assert users.dtype == items.dtype == torch.float64
    torch.testing.assert_close(users.detach(), expected, rtol=1e-5, atol=1e-6)
    assert model.auxiliary_loss(tiny).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_follows_the_model(tiny) -> None:
    model = KGIN.from_graph(tiny, embedding_dim=4).eval()
    expected = model(tiny)[0].detach()
    model.to("cuda")
    users, _ = model(tiny)
    assert users.device.type == "cuda"
    torch.testing.assert_close(users.detach().cpu(), expected, rtol=1e-5, atol=1e-6)


def test_dropout_in_training_only_and_deterministic_under_a_seed(tiny) -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = KGIN.from_graph(tiny, embedding_dim=4)  # node dropout 0.5, message dropout 0.1
        outputs.append(torch.cat(model(tiny)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    model.eval()
    first, second = torch.cat(model(tiny)), torch.cat(model(tiny))
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.allclose(first, outputs[1])


def test_wrong_graph_is_refused(tiny) -> None:
    model = KGIN.from_graph(tiny, embedding_dim=4)
    with pytest.raises(ValueError, match="built for"):
        model(graph.build(tiny_dataset(with_kg=False)))


def test_bpr_training_raises_training_auc() -> None:
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    data = graph.build(dataset)
    torch.manual_seed(0)
    model = create_model("kgin", data, embedding_dim=16, num_layers=2)
    before = training_auc(model, data, dataset.train)
    bpr_training(model, data, dataset.train, lr=0.02)
    after = training_auc(model, data, dataset.train)
    assert after > before + 0.1 and after > 0.8, (before, after)
