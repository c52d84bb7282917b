"""graphrec.models.RGCN: one layer against the R-GCN formula computed with NumPy
from hand-listed CKG triples and against PyG's own ``RGCNConv.forward``;
gradients, reset, dtype/device, determinism, and a short BPR run on the
synthetic world.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.nn import RGCNConv

from graphrec import graph
from graphrec.data import synthetic
from graphrec.models import create_model
from graphrec.models.ckg import collaborative_kg
from graphrec.models.rgcn import RGCN, rgcn_layer
from tests.helpers import TINY_TRIPLES, bpr_training, tiny_dataset, training_auc


def rgcn_layer_numpy(x, triples, num_relations, basis, comp, root, bias):
    """h_i' = h_i W_0 + b + sum_r (1/|N_r(i)|) sum_{j in N_r(i)} h_j W_r, W_r = sum_b a_rb V_b
    (row vectors; N_r(i) = heads j of triples (j, r, i))."""
    weights = np.einsum("rb,bio->rio", comp, basis)
    out = x @ root + bias
    for i in range(x.shape[0]):
        for r in range(num_relations):
            sources = [j for j, rel, t in triples if rel == r and t == i]
            if sources:
                out[i] += np.mean([x[j] for j in sources], axis=0) @ weights[r]
    return out


def test_one_layer_matches_the_rgcn_formula() -> None:
    data = graph.build(tiny_dataset())
    torch.manual_seed(0)
    model = RGCN.from_graph(data, embedding_dim=5, num_layers=1, num_bases=2, layer_combination="last").double()
    conv = model.convs[0]
    assert model.num_relations == 6 and conv.num_bases == 2
    with torch.no_grad():
        conv.bias.normal_()  # zero at initialisation: make it count
    users, items = model(data)
    expected = rgcn_layer_numpy(
        model.embedding.weight.detach().numpy(), TINY_TRIPLES, 6,
        conv.weight.detach().numpy(), conv.comp.detach().numpy(), conv.root.detach().numpy(),
        conv.bias.detach().numpy(),
    )
    np.testing.assert_allclose(torch.cat([users, items]).detach().numpy(), expected[:7], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("num_bases", [3, None])
def test_grouped_layer_equals_pyg_rgcnconv(num_bases) -> None:
    data = graph.build(synthetic(80, 60, clicks_per_user=5, seed=2).dataset)
    view = collaborative_kg(data)
    torch.manual_seed(0)
    conv = RGCNConv(6, 5, view.num_relations, num_bases=num_bases, aggr="mean").double()
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(view.num_nodes, 6, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(view.num_nodes, 5, dtype=torch.float64)
    ours = rgcn_layer(conv, x, view)
    (ours * upstream).sum().backward()
    grads = [p.grad.clone() for p in (x, *conv.parameters())]
    x.grad = None
    conv.zero_grad()
    # PyG's general path on shuffled edges: no reliance on the view's ordering
    perm = torch.randperm(view.num_edges)
    reference = conv(x, view.edge_index[:, perm], view.relation[perm])
    (reference * upstream).sum().backward()
    torch.testing.assert_close(ours, reference, rtol=1e-10, atol=1e-12)
    for ours_grad, parameter in zip(grads, (x, *conv.parameters())):
        torch.testing.assert_close(ours_grad, parameter.grad, rtol=1e-10, atol=1e-12)


def test_layer_combinations_and_shapes() -> None:
    data = graph.build(tiny_dataset())
    torch.manual_seed(0)
    mean = RGCN.from_graph(data, embedding_dim=4, num_layers=2)
    concat = RGCN.from_graph(data, embedding_dim=4, num_layers=2, layer_combination="concat")
    concat.load_state_dict(mean.state_dict())
    u_mean, i_mean = mean(data)
    u_cat, i_cat = concat(data)
    assert u_mean.shape == (3, 4) and i_mean.shape == (4, 4)
    assert u_cat.shape == (3, 12) and i_cat.shape == (4, 12) and concat.output_dim == 12
    # the mean is the average of the concatenated layers
    torch.testing.assert_close(u_cat.view(3, 3, 4).mean(1), u_mean)
    torch.testing.assert_close(i_cat[:, :4], mean.embedding.weight[3:7])  # layer 0 first


def test_without_kg() -> None:
    data = graph.build(tiny_dataset(with_kg=False))
    model = create_model("rgcn", data, embedding_dim=4)
    assert (model.num_entities, model.num_relations, model.num_bases) == (0, 2, None)  # 8 bases > 2 relations
    users, items = model(data)
    assert users.shape == (3, 4) and items.shape == (4, 4) and torch.isfinite(users).all()


def test_gradients_reach_every_parameter() -> None:
    data = graph.build(tiny_dataset())
    torch.manual_seed(0)
    model = RGCN.from_graph(data, embedding_dim=4, num_layers=2, num_bases=3)
    users, items = model(data)
    (users.pow(2).sum() + items.pow(3).sum()).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    # every node row, entity nodes included (they reach items through the KG)
    assert (model.embedding.weight.grad.abs().sum(1) > 0).all()


def test_reset_parameters() -> None:
    data = graph.build(tiny_dataset())
    first, second = RGCN.from_graph(data, embedding_dim=4), RGCN.from_graph(data, embedding_dim=4)
    first(data)
    with torch.no_grad():
        for parameter in first.parameters():
            parameter.add_(1.0)
    torch.manual_seed(7)
    first.reset_parameters()
    torch.manual_seed(7)
    second.reset_parameters()
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert first.convs[0].bias.abs().sum() == 0  # back to PyG's initial values, not the shifted ones
    # a new graph object of the same sizes is picked up (the cache was cleared and is keyed by graph)
    users, _ = first(graph.build(tiny_dataset()))
    assert users.shape == (3, 4)


def test_dtype_follows_the_model() -> None:
    data = graph.build(tiny_dataset())
    torch.manual_seed(0)
    model = RGCN.from_graph(data, embedding_dim=4)
    expected = model(data)[0].detach().double()
    model.double()
    users, items = model(data)
    assert users.dtype == items.dtype == torch.float64
    torch.testing.assert_close(users.detach(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_follows_the_model() -> None:
    data = graph.build(tiny_dataset())
    model = RGCN.from_graph(data, embedding_dim=4)
    expected = model(data)[0].detach()
    model.to("cuda")
    users, _ = model(data)  # the graph stays on the CPU; the view follows the model
    assert users.device.type == "cuda"
    torch.testing.assert_close(users.detach().cpu(), expected, rtol=1e-5, atol=1e-6)


def test_deterministic_under_a_seed() -> None:
    data = graph.build(tiny_dataset())
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = RGCN.from_graph(data, embedding_dim=4, dropout=0.5)  # training mode: dropout draws too
        outputs.append(torch.cat(model(data)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_wrong_graph_is_refused() -> None:
    model = RGCN.from_graph(graph.build(tiny_dataset()), embedding_dim=4)
    with pytest.raises(ValueError, match="built for"):
        model(graph.build(tiny_dataset(with_kg=False)))


def test_bpr_training_raises_training_auc() -> None:
    dataset = synthetic(num_users=200, num_items=150, seed=0).dataset
    data = graph.build(dataset)
    torch.manual_seed(0)
    model = create_model("rgcn", data, embedding_dim=16)
    before = training_auc(model, data, dataset.train)
    bpr_training(model, data, dataset.train, lr=0.02)
    after = training_auc(model, data, dataset.train)
    assert after > before + 0.1 and after > 0.75, (before, after)


def test_init_std_draws_the_node_table_from_a_normal() -> None:
    data = graph.build(synthetic(num_users=300, num_items=200, clicks_per_user=5.0, dim=4, seed=0).dataset)
    torch.manual_seed(0)
    normal = RGCN.from_graph(data, embedding_dim=32, init_std=0.1)
    xavier = RGCN.from_graph(data, embedding_dim=32)
    nodes = normal.embedding.weight.shape[0]
    assert normal.embedding.weight.std().item() == pytest.approx(0.1, rel=0.03)
    # Xavier-uniform: U(-a, a), a = sqrt(6 / (nodes + d)), std a / sqrt(3)
    assert xavier.embedding.weight.std().item() == pytest.approx((6 / (nodes + 32)) ** 0.5 / 3**0.5, rel=0.03)
    assert "init_std=0.1" in repr(normal) and "init_std" not in repr(xavier)
    with pytest.raises(ValueError, match="init_std"):
        RGCN.from_graph(data, init_std=0.0)
