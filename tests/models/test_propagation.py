"""graphrec.models.propagation: the symmetric sparse product and the adjacency cache.

References: torch.autograd.gradcheck / gradgradcheck in float64, dense NumPy
products, and a SciPy re-computation of D^-1/2 A D^-1/2.
"""
from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch_geometric.data import HeteroData

from graphrec.graph import normalized_adjacency
from graphrec.models.propagation import AdjacencyCache, EdgeCSR, edge_spmm, is_symmetric, symmetric_spmm

NUM_USERS, NUM_ITEMS = 13, 9


def random_graph(seed: int, num_users: int = NUM_USERS, num_items: int = NUM_ITEMS, density: float = 0.3) -> HeteroData:
    """A user-item HeteroData with the ('user', 'interacts', 'item') store only."""
    rng = np.random.default_rng(seed)
    user, item = np.nonzero(rng.random((num_users, num_items)) < density)
    data = HeteroData()
    data["user"].num_nodes = num_users
    data["item"].num_nodes = num_items
    data["user", "interacts", "item"].edge_index = torch.from_numpy(np.stack([user, item]))
    return data


def scipy_adjacency(edge_index: np.ndarray, num_users: int, num_items: int) -> np.ndarray:
    """Dense D^-1/2 A D^-1/2 of the binary bipartite graph, by SciPy."""
    R = sp.coo_matrix((np.ones(edge_index.shape[1]), tuple(edge_index)), shape=(num_users, num_items)).tocsr()
    R.data[:] = 1.0  # duplicates once
    A = sp.bmat([[None, R], [R.T, None]]).toarray()
    degree = A.sum(1)
    inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
    return inv_sqrt[:, None] * A * inv_sqrt[None, :]


def adjacency64(graph: HeteroData) -> torch.Tensor:
    return normalized_adjacency(graph["user", "interacts", "item"].edge_index, NUM_USERS, NUM_ITEMS).to(torch.float64)


def test_gradcheck_float64():
    adjacency = adjacency64(random_graph(0))
    x = torch.randn(NUM_USERS + NUM_ITEMS, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: symmetric_spmm(adjacency, x), (x,))
    # backward applies the same Function, so second derivatives are right too
    assert torch.autograd.gradgradcheck(lambda x: symmetric_spmm(adjacency, x).pow(2), (x,))


def test_forward_and_backward_equal_dense_products():
    graph = random_graph(1)
    adjacency = adjacency64(graph)
    # the same float64 matrix, dense (its float32 values are checked against SciPy below)
    dense = adjacency.to_dense().numpy()
    np.testing.assert_allclose(dense, scipy_adjacency(graph["user", "interacts", "item"].edge_index.numpy(),
                                                      NUM_USERS, NUM_ITEMS), rtol=1e-6)
    x = torch.randn(NUM_USERS + NUM_ITEMS, 5, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(NUM_USERS + NUM_ITEMS, 5, dtype=torch.float64)
    out = symmetric_spmm(adjacency, symmetric_spmm(adjacency, x))  # two layers
    np.testing.assert_allclose(out.detach().numpy(), dense @ dense @ x.detach().numpy(), rtol=1e-12, atol=1e-12)
    out.backward(upstream)
    np.testing.assert_allclose(x.grad.numpy(), dense.T @ dense.T @ upstream.numpy(), rtol=1e-12, atol=1e-12)


def test_input_dtype_is_kept_for_the_gradient():
    adjacency = adjacency64(random_graph(2)).to(torch.float32)
    x = torch.randn(NUM_USERS + NUM_ITEMS, 3, dtype=torch.float64, requires_grad=True)
    out = symmetric_spmm(adjacency, x)
    assert out.dtype == torch.float32  # the product runs in the matrix's dtype
    out.sum().backward()
    assert x.grad.dtype == torch.float64
    dense = adjacency.to_dense().double()
    np.testing.assert_allclose(x.grad.numpy(), dense.sum(0, keepdim=True).T.expand(-1, 3).numpy(), rtol=1e-6)


def test_shape_errors():
    adjacency = adjacency64(random_graph(0))
    with pytest.raises(ValueError, match="rows"):
        symmetric_spmm(adjacency, torch.zeros(3, 2, dtype=torch.float64))


def test_is_symmetric():
    graph = random_graph(3)
    adjacency = adjacency64(graph)
    assert is_symmetric(adjacency)
    dense = adjacency.to_dense()
    dense[0, NUM_USERS + 8] += 0.5  # one entry off (pattern or value)
    assert not is_symmetric(dense.to_sparse_csr())
    upper = torch.triu(torch.ones(4, 4)).to_sparse_csr()
    assert not is_symmetric(upper)
    assert is_symmetric(torch.eye(4).to_sparse_csr())
    assert not is_symmetric(torch.ones(3, 4).to_sparse_csr())


def test_cache_builds_the_normalised_adjacency():
    graph = random_graph(4)
    cache = AdjacencyCache()
    matrix = cache.get(graph, NUM_USERS, NUM_ITEMS, device=torch.device("cpu"))
    assert matrix.layout == torch.sparse_csr and matrix.dtype == torch.float32
    expected = scipy_adjacency(graph["user", "interacts", "item"].edge_index.numpy(), NUM_USERS, NUM_ITEMS)
    np.testing.assert_allclose(matrix.to_dense().numpy(), expected, rtol=1e-6, atol=1e-7)


def test_cache_reuses_and_rebuilds():
    graph = random_graph(5)
    cache = AdjacencyCache()
    cpu = torch.device("cpu")
    first = cache.get(graph, NUM_USERS, NUM_ITEMS, device=cpu)
    assert cache.get(graph, NUM_USERS, NUM_ITEMS, device=cpu) is first  # reused

    other = random_graph(6)
    second = cache.get(other, NUM_USERS, NUM_ITEMS, device=cpu)
    assert second is not first  # another graph object: rebuilt, for that graph
    expected = scipy_adjacency(other["user", "interacts", "item"].edge_index.numpy(), NUM_USERS, NUM_ITEMS)
    np.testing.assert_allclose(second.to_dense().numpy(), expected, rtol=1e-6, atol=1e-7)

    # the same graph object with its edges modified in place: rebuilt
    edge_index = other["user", "interacts", "item"].edge_index
    edge_index[1, 0] = (edge_index[1, 0] + 1) % NUM_ITEMS
    third = cache.get(other, NUM_USERS, NUM_ITEMS, device=cpu)
    assert third is not second
    expected = scipy_adjacency(edge_index.numpy(), NUM_USERS, NUM_ITEMS)
    np.testing.assert_allclose(third.to_dense().numpy(), expected, rtol=1e-6, atol=1e-7)

    # another dtype: rebuilt in that dtype
    double = cache.get(other, NUM_USERS, NUM_ITEMS, device=cpu, dtype=torch.float64)
    assert double.dtype == torch.float64 and double is not third

    cache.clear()
    assert cache.matrix is None
    assert cache.get(other, NUM_USERS, NUM_ITEMS, device=cpu, dtype=torch.float64) is not double


def test_cache_rejects_a_graph_of_other_sizes():
    with pytest.raises(ValueError, match="built for"):
        AdjacencyCache().get(random_graph(0), NUM_USERS + 1, NUM_ITEMS, device=torch.device("cpu"))


def test_cache_holds_no_strong_reference_to_the_graph():
    graph = random_graph(7)
    cache = AdjacencyCache()
    cache.get(graph, NUM_USERS, NUM_ITEMS, device=torch.device("cpu"))
    edges = weakref.ref(graph["user", "interacts", "item"].edge_index)
    del graph
    gc.collect()
    assert edges() is None


def test_cache_is_not_copied_or_pickled():
    cache = AdjacencyCache()
    cache.get(random_graph(8), NUM_USERS, NUM_ITEMS, device=torch.device("cpu"))
    assert copy.deepcopy(cache).matrix is None
    assert pickle.loads(pickle.dumps(cache)).matrix is None
    assert cache.matrix is not None  # the original keeps its matrix


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cache_follows_the_device():
    graph = random_graph(9)
    cache = AdjacencyCache()
    on_cpu = cache.get(graph, NUM_USERS, NUM_ITEMS, device=torch.device("cpu"))
    on_gpu = cache.get(graph, NUM_USERS, NUM_ITEMS, device=torch.device("cuda"))
    assert on_gpu.device.type == "cuda"
    np.testing.assert_allclose(on_gpu.to_dense().cpu().numpy(), on_cpu.to_dense().numpy(), rtol=1e-6)
    x = torch.randn(NUM_USERS + NUM_ITEMS, 4, device="cuda", requires_grad=True)
    symmetric_spmm(on_gpu, x).sum().backward()
    np.testing.assert_allclose(
        x.grad.cpu().numpy(), on_cpu.to_dense().sum(0)[:, None].expand(-1, 4).numpy(), rtol=1e-5, atol=1e-6
    )


# -- edge_spmm: a non-symmetric matrix from an edge list -------------------------------------------

def _edge_list(seed: int = 0, rows: int = 7, cols: int = 5, edges: int = 30):
    generator = np.random.default_rng(seed)
    row = generator.integers(0, rows, edges)
    col = generator.integers(0, cols, edges)
    row[:3], col[:3] = 2, 4  # three edges on one (row, col) pair: their values add up
    return torch.from_numpy(row), torch.from_numpy(col), rows, cols


def test_edge_spmm_equals_a_scipy_product_with_duplicates_summed():
    row, col, rows, cols = _edge_list()
    values = torch.rand(row.numel(), dtype=torch.float64)
    x = torch.randn(cols, 4, dtype=torch.float64, requires_grad=True)
    pattern = EdgeCSR.from_edges(row, col, rows, cols)
    y = edge_spmm(pattern, values, x)
    matrix = sp.coo_matrix((values.numpy(), (row.numpy(), col.numpy())), shape=(rows, cols)).tocsr()  # sums duplicates
    np.testing.assert_allclose(y.detach().numpy(), matrix @ x.detach().numpy(), rtol=1e-12)
    grad = torch.randn(rows, 4, dtype=torch.float64)
    y.backward(grad)
    np.testing.assert_allclose(x.grad.numpy(), matrix.T @ grad.numpy(), rtol=1e-12)


def test_edge_spmm_gradcheck_and_differentiable_values_fall_back_to_scatter():
    row, col, rows, cols = _edge_list(1)
    pattern = EdgeCSR.from_edges(row, col, rows, cols)
    values = torch.rand(row.numel(), dtype=torch.float64)
    x = torch.randn(cols, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: edge_spmm(pattern, values, x), (x,))
    trainable = values.clone().requires_grad_(True)
    y = edge_spmm(pattern, trainable, x)
    y.pow(2).sum().backward()
    dense = torch.zeros(rows, cols, dtype=torch.float64).index_put((row, col), values.detach(), accumulate=True)
    expected_values_grad = ((2 * (dense @ x.detach()))[row] * x.detach()[col]).sum(-1)
    torch.testing.assert_close(trainable.grad, expected_values_grad)


def test_edge_spmm_keeps_the_input_dtype_for_the_gradient():
    row, col, rows, cols = _edge_list(2)
    pattern = EdgeCSR.from_edges(row, col, rows, cols)
    x = torch.randn(cols, 2, dtype=torch.float64, requires_grad=True)
    y = edge_spmm(pattern, torch.rand(row.numel()), x)  # float32 values: the product runs in float32
    assert y.dtype == torch.float32
    y.sum().backward()
    assert x.grad.dtype == torch.float64


def test_edge_spmm_shape_errors():
    row, col, rows, cols = _edge_list(3)
    pattern = EdgeCSR.from_edges(row, col, rows, cols)
    with pytest.raises(ValueError, match="values must have shape"):
        edge_spmm(pattern, torch.rand(row.numel() - 1), torch.randn(cols, 2))
    with pytest.raises(ValueError, match="x must be"):
        edge_spmm(pattern, torch.rand(row.numel()), torch.randn(cols + 1, 2))
    with pytest.raises(ValueError, match="1-D of the same length"):
        EdgeCSR.from_edges(row, col[:-1], rows, cols)


def test_edge_spmm_runs_half_precision_values_in_float32():
    row, col, rows, cols = _edge_list(4)
    pattern = EdgeCSR.from_edges(row, col, rows, cols)
    values = torch.rand(row.numel())
    x = torch.randn(cols, 3, requires_grad=True)
    y = edge_spmm(pattern, values.bfloat16(), x.bfloat16())
    assert y.dtype == torch.float32
    # the bf16 inputs, summed in float64 by SciPy: a bf16 product would be off by ~1e-2
    rounded = values.bfloat16().double().numpy()
    matrix = sp.coo_matrix((rounded, (row.numpy(), col.numpy())), shape=(rows, cols)).tocsr()
    np.testing.assert_allclose(y.detach().numpy(), matrix @ x.bfloat16().double().detach().numpy(), rtol=1e-5, atol=1e-6)
