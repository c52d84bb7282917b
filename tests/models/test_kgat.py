"""graphrec.models.KGAT: attention, one propagation layer and the TransR loss
against NumPy re-computations on hand-listed CKG triples; triple sampling;
gradients, reset, dtype/device, determinism; a short BPR run.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec import graph
from graphrec.data import synthetic
from graphrec.models import create_model
from graphrec.models.kgat import KGAT
from tests.helpers import TINY_TRIPLES, bpr_training, tiny_dataset, training_auc


NUM_NODES = 10


def numpy_attention(x, relation_emb, transr, triples):
    """{(h, r, t): softmax over h's triples of (W_r e_t)^T tanh(W_r e_h + e_r)}."""
    logits = {(h, r, t): (x[t] @ transr[r]) @ np.tanh(x[h] @ transr[r] + relation_emb[r]) for h, r, t in triples}
    out = {}
    for h, r, t in triples:
        same_head = [logits[k] for k in triples if k[0] == h]
        out[(h, r, t)] = np.exp(logits[(h, r, t)]) / np.sum(np.exp(same_head))
    return out


def leaky(z, slope=0.2):
    return np.where(z > 0, z, slope * z)


def params(model):
    return {name: p.detach().numpy() for name, p in model.named_parameters()}


@pytest.fixture
def tiny():
    return graph.build(tiny_dataset())


def test_attention_sums_to_one_per_head_and_matches_numpy(tiny) -> None:
    torch.manual_seed(0)
    model = KGAT.from_graph(tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5,)).double()
    view = model.collaborative_kg(tiny)
    attention = model.attention(tiny).numpy()
    head, tail = view.edge_index.numpy()
    total = np.zeros(NUM_NODES)
    np.add.at(total, head, attention)
    np.testing.assert_allclose(total, np.ones(NUM_NODES), rtol=1e-12)  # every node heads some triple here
    p = params(model)
    expected = numpy_attention(p["embedding.weight"], p["relation_embedding.weight"], p["transr_weight"], TINY_TRIPLES)
    got = dict(zip(zip(head.tolist(), view.relation.tolist(), tail.tolist()), attention.tolist()))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-10), key


@pytest.mark.parametrize("aggregator", ["bi", "gcn", "graphsage"])
def test_one_layer_matches_numpy(tiny, aggregator: str) -> None:
    torch.manual_seed(1)
    model = KGAT.from_graph(
        tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5,), message_dropout=0.0, aggregator=aggregator
    ).double()
    with torch.no_grad():
        for linear in list(model.sum_linears) + list(model.bi_linears):
            linear.bias.normal_()  # zero at initialisation: make it count
    users, items = model(tiny)
    p = params(model)
    x = p["embedding.weight"]
    attention = numpy_attention(x, p["relation_embedding.weight"], p["transr_weight"], TINY_TRIPLES)
    neighbourhood = np.zeros_like(x)
    for (h, r, t), weight in attention.items():
        neighbourhood[h] += weight * x[t]
    w1, b1 = p["sum_linears.0.weight"], p["sum_linears.0.bias"]
    if aggregator == "graphsage":
        layer = leaky(np.concatenate([x, neighbourhood], 1) @ w1.T + b1)
    else:
        layer = leaky((x + neighbourhood) @ w1.T + b1)
    if aggregator == "bi":
        layer = layer + leaky((x * neighbourhood) @ p["bi_linears.0.weight"].T + p["bi_linears.0.bias"])
    expected = np.concatenate([x, layer / np.linalg.norm(layer, axis=1, keepdims=True)], axis=1)
    assert model.output_dim == 11
    np.testing.assert_allclose(torch.cat([users, items]).detach().numpy(), expected[:7], rtol=1e-10, atol=1e-12)


def test_kg_loss_matches_a_hand_computation(tiny) -> None:
    torch.manual_seed(2)
    model = KGAT.from_graph(tiny, embedding_dim=3, relation_dim=2, kg_l2=0.5).double()
    head, relation, tail, corrupted = (torch.tensor(v) for v in ([3, 0, 7], [1, 0, 5], [7, 3, 3], [2, 9, 1]))
    loss = model.kg_loss(head, relation, tail, corrupted)
    p = params(model)
    x, e_r, w = p["embedding.weight"], p["relation_embedding.weight"], p["transr_weight"]
    terms, penalty = [], 0.0
    for h, r, t, c in zip([3, 0, 7], [1, 0, 5], [7, 3, 3], [2, 9, 1]):
        g_pos = np.sum((x[h] @ w[r] + e_r[r] - x[t] @ w[r]) ** 2)
        g_neg = np.sum((x[h] @ w[r] + e_r[r] - x[c] @ w[r]) ** 2)
        terms.append(np.log1p(np.exp(g_pos - g_neg)))  # -ln sigmoid(g_neg - g_pos)
        penalty += sum(np.sum(v**2) for v in (x[h] @ w[r], e_r[r], x[t] @ w[r], x[c] @ w[r])) / 2
    assert loss.item() == pytest.approx(np.mean(terms) + 0.5 * penalty / 3, rel=1e-10)


@pytest.mark.parametrize("kg_triples", ["ckg", "kg"])
def test_sampled_triples_are_edges_with_non_edge_corruptions(tiny, kg_triples: str) -> None:
    model = KGAT.from_graph(tiny, embedding_dim=4, kg_batch_size=18_000, kg_triples=kg_triples)
    head, relation, tail, corrupted = model.sample_kg_triples(tiny, generator=torch.Generator().manual_seed(0))
    eligible = [e for e in TINY_TRIPLES if kg_triples == "ckg" or e[1] not in (0, 3)]
    drawn = list(zip(head.tolist(), relation.tolist(), tail.tolist()))
    assert set(drawn) == set(eligible)
    # uniform over the eligible edges: each count within 5 standard deviations of its mean
    counts = np.array([drawn.count(e) for e in eligible])
    mean = 18_000 / len(eligible)
    assert np.abs(counts - mean).max() < 5 * np.sqrt(mean)
    edges = set(TINY_TRIPLES)
    assert not any((h, r, c) in edges for h, r, c in zip(head.tolist(), relation.tolist(), corrupted.tolist()))
    assert corrupted.min() >= 0 and corrupted.max() < NUM_NODES and len(set(corrupted.tolist())) == NUM_NODES


def test_sampling_is_reproducible_with_a_generator(tiny) -> None:
    model = KGAT.from_graph(tiny, embedding_dim=4, kg_batch_size=64)
    first = model.sample_kg_triples(tiny, generator=torch.Generator().manual_seed(5))
    second = model.sample_kg_triples(tiny, generator=torch.Generator().manual_seed(5))
    third = model.sample_kg_triples(tiny, generator=torch.Generator().manual_seed(6))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert not all(torch.equal(a, b) for a, b in zip(first, third))
    loss = model.auxiliary_loss(tiny, generator=torch.Generator().manual_seed(5))
    assert loss.item() == pytest.approx(model.kg_loss(*first).item(), rel=1e-6)


def test_without_kg(tiny) -> None:
    data = graph.build(tiny_dataset(with_kg=False))
    model = create_model("kgat", data, embedding_dim=8, relation_dim=4, layer_sizes=(4, 2))
    users, items = model(data)
    assert users.shape == (3, 14) and items.shape == (4, 14) and model.num_relations == 2
    assert model.auxiliary_loss(data) is not None  # the default samples interactions too (official)
    kg_only = create_model("kgat", data, embedding_dim=8, kg_triples="kg")
    assert kg_only.auxiliary_loss(data) is None  # nothing to sample
    assert create_model("kgat", data, kg_weight=0.0).auxiliary_loss(data) is None


@pytest.mark.parametrize("detach_attention", [True, False])
def test_gradients_reach_every_parameter(tiny, detach_attention: bool) -> None:
    torch.manual_seed(0)
    model = KGAT.from_graph(
        tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5, 3), detach_attention=detach_attention
    )
    users, items = model(tiny)
    (users.pow(2).sum() + items.pow(3).sum()).backward()
    relation_tables = {"relation_embedding.weight", "transr_weight"}
    for name, parameter in model.named_parameters():
        reached = parameter.grad is not None and parameter.grad.abs().sum() > 0
        assert reached == (name not in relation_tables or not detach_attention), name
    model.zero_grad()
    model.auxiliary_loss(tiny, generator=torch.Generator().manual_seed(0)).backward()
    for name in relation_tables | {"embedding.weight"}:
        assert model.get_parameter(name).grad.abs().sum() > 0, name


def test_reset_parameters(tiny) -> None:
    first, second = KGAT.from_graph(tiny, embedding_dim=4), KGAT.from_graph(tiny, embedding_dim=4)
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
    assert first.sum_linears[0].bias.abs().sum() == 0
    bound = np.sqrt(6 / (4 + 64))  # Xavier uniform per W_r (d=4, k=64)
    assert first.transr_weight.abs().max() <= bound


def test_dtype_follows_the_model(tiny) -> None:
    torch.manual_seed(0)
    model = KGAT.from_graph(tiny, embedding_dim=4).eval()
    expected = model(tiny)[0].detach().double()
    model.double()
    users, items = model(tiny)
    assert users.dtype == items.dtype == torch.float64
    torch.testing.assert_close(users.detach(), expected, rtol=1e-5, atol=1e-6)
    assert model.auxiliary_loss(tiny).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_follows_the_model(tiny) -> None:
    model = KGAT.from_graph(tiny, embedding_dim=4).eval()
    expected = model(tiny)[0].detach()
    model.to("cuda")
    users, _ = model(tiny)
    assert users.device.type == "cuda"
    torch.testing.assert_close(users.detach().cpu(), expected, rtol=1e-5, atol=1e-6)
    assert model.auxiliary_loss(tiny, generator=torch.Generator("cuda").manual_seed(0)).device.type == "cuda"


def test_deterministic_under_a_seed(tiny) -> None:
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = KGAT.from_graph(tiny, embedding_dim=4, message_dropout=0.5)  # training mode: dropout draws
        outputs.append(torch.cat(model(tiny)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_wrong_graph_is_refused(tiny) -> None:
    model = KGAT.from_graph(tiny, embedding_dim=4)
    with pytest.raises(ValueError, match="built for"):
        model(graph.build(tiny_dataset(with_kg=False)))


def test_bpr_training_raises_training_auc() -> None:
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    data = graph.build(dataset)
    torch.manual_seed(0)
    model = create_model("kgat", data, embedding_dim=16, relation_dim=16, layer_sizes=(16, 16), kg_batch_size=256)
    before = training_auc(model, data, dataset.train)
    generator = torch.Generator().manual_seed(0)
    bpr_training(model, data, dataset.train, lr=0.02, generator=generator)
    after = training_auc(model, data, dataset.train)
    assert after > before + 0.1 and after > 0.75, (before, after)


def test_epoch_attention_is_the_one_of_begin_epoch_and_evaluation_recomputes(tiny) -> None:
    torch.manual_seed(0)
    model = KGAT.from_graph(tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5,), message_dropout=0.0,
                            attention_refresh="epoch").double()
    model.begin_epoch(tiny, 1)
    before = model.attention(tiny)
    with torch.no_grad():  # a training step's update
        model.embedding.weight.mul_(3.0).add_(0.1)
    after = model.attention(tiny)
    assert not torch.allclose(before, after)
    # training mode: the attention of the epoch's start, the current embeddings
    reference = KGAT.from_graph(tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5,), message_dropout=0.0).double()
    reference.load_state_dict(model.state_dict())
    reference.attention = lambda graph: before  # type: ignore[method-assign]
    torch.testing.assert_close(torch.cat(model(tiny)), torch.cat(reference(tiny)), rtol=1e-12, atol=1e-12)
    # evaluation mode, and the next epoch: recomputed from the current parameters
    per_forward = KGAT.from_graph(tiny, embedding_dim=6, relation_dim=4, layer_sizes=(5,), message_dropout=0.0).double()
    per_forward.load_state_dict(model.state_dict())
    expected = torch.cat(per_forward.eval()(tiny))
    torch.testing.assert_close(torch.cat(model.eval()(tiny)), expected, rtol=1e-12, atol=1e-12)
    model.train().begin_epoch(tiny, 2)
    torch.testing.assert_close(torch.cat(model(tiny)), expected, rtol=1e-12, atol=1e-12)


def test_epoch_attention_is_dropped_with_the_parameters(tiny) -> None:
    torch.manual_seed(0)
    model = KGAT.from_graph(tiny, embedding_dim=4, message_dropout=0.0, attention_refresh="epoch")
    model(tiny)  # training mode without begin_epoch: computed on first use
    assert model._epoch_attention is not None
    other = KGAT.from_graph(tiny, embedding_dim=4, message_dropout=0.0)
    model.load_state_dict(other.state_dict())
    assert model._epoch_attention is None
    torch.testing.assert_close(torch.cat(model(tiny)), torch.cat(other(tiny)))
    model.reset_parameters()
    assert model._epoch_attention is None


def test_epoch_attention_in_the_trainer_matches_begin_epoch_calls() -> None:
    from graphrec.train import Trainer

    dataset = synthetic(num_users=60, num_items=40, clicks_per_user=5.0, seed=1).dataset
    data = graph.build(dataset)
    calls = []
    torch.manual_seed(0)
    model = create_model("kgat", data, embedding_dim=8, relation_dim=8, layer_sizes=(8,), attention_refresh="epoch")
    original = model.begin_epoch
    model.begin_epoch = lambda graph, epoch: (calls.append(epoch), original(graph, epoch))  # type: ignore[method-assign]
    Trainer(model, dataset, graph=data, epochs=3, batch_size=64, eval_every=5, progress=False).fit()
    assert calls == [1, 2, 3]


def test_refresh_and_init_options_are_checked(tiny) -> None:
    with pytest.raises(ValueError, match="attention_refresh must be one of"):
        KGAT.from_graph(tiny, attention_refresh="batch")
    with pytest.raises(ValueError, match="needs detach_attention=True"):
        KGAT.from_graph(tiny, attention_refresh="epoch", detach_attention=False)
    with pytest.raises(ValueError, match="init_std must be positive"):
        KGAT.from_graph(tiny, init_std=0.0)
    torch.manual_seed(0)
    model = KGAT.from_graph(tiny, embedding_dim=64, init_std=0.1)
    assert model.embedding.weight.std().item() == pytest.approx(0.1, rel=0.05)  # 640 draws
    assert "init_std=0.1" in repr(model) and "attention_refresh='forward'" in repr(model)
