"""Per-user ranking metrics: a hand example and a loop-based NumPy re-computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.metrics import RANKING_METRICS, longtail_items, ranking_metrics


def reference(hit_row: np.ndarray, num_relevant: int, k: int) -> dict:
    """Textbook definitions, one user, a plain loop over ranks r = 1..k."""
    hits = 0
    dcg = 0.0
    first = None
    precision_sum = 0.0
    for r in range(1, k + 1):
        if hit_row[r - 1]:
            hits += 1
            dcg += 1.0 / math.log2(r + 1)
            if first is None:
                first = r
            precision_sum += hits / r
    idcg = sum(1.0 / math.log2(r + 1) for r in range(1, min(num_relevant, k) + 1))
    return {
        "recall": hits / num_relevant,
        "ndcg": dcg / idcg,
        "precision": hits / k,
        "hit": float(hits > 0),
        "mrr": 0.0 if first is None else 1.0 / first,
        "map": precision_sum / min(num_relevant, k),
    }


def test_hand_example_two_relevant_hit_at_ranks_one_and_three():
    hits = torch.tensor([[True, False, True, False, False]])
    result = ranking_metrics(hits, torch.tensor([2]), ks=[5])
    expected = {
        "recall@5": 1.0,
        "ndcg@5": (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)),
        "precision@5": 2 / 5,
        "hit@5": 1.0,
        "mrr@5": 1.0,
        "map@5": (1 / 1 + 2 / 3) / 2,
    }
    assert set(result) == set(expected)
    for key, value in expected.items():
        assert result[key].item() == pytest.approx(value, abs=1e-12), key


def test_hand_example_first_hit_at_rank_two_and_cut_off():
    # 3 relevant items, hits at ranks 2 and 4; at k=3 only the first counts
    hits = torch.tensor([[False, True, False, True]])
    result = ranking_metrics(hits, torch.tensor([3]), ks=[3, 4])
    assert result["recall@3"].item() == pytest.approx(1 / 3)
    assert result["mrr@3"].item() == pytest.approx(1 / 2)
    assert result["ndcg@3"].item() == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3) + 1 / math.log2(4)))
    assert result["map@3"].item() == pytest.approx((1 / 2) / 3)
    assert result["map@4"].item() == pytest.approx((1 / 2 + 2 / 4) / 3)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_hits_against_loop_reference(seed):
    rng = np.random.default_rng(seed)
    num_users, width = 200, 25
    hits = rng.random((num_users, width)) < rng.uniform(0.0, 0.5, size=(num_users, 1))
    # |T_u| from 1 to well above K, never below the hits in the list
    num_relevant = np.maximum(hits.sum(axis=1), 1) + rng.integers(0, 40, size=num_users)
    num_relevant[:5] = np.maximum(hits[:5].sum(axis=1), 1)  # some users with every relevant item listed
    ks = [1, 3, 10, 25]
    result = ranking_metrics(torch.from_numpy(hits), torch.from_numpy(num_relevant), ks)
    assert set(result) == {f"{name}@{k}" for name in RANKING_METRICS for k in ks}
    for k in ks:
        expected = [reference(hits[u], int(num_relevant[u]), k) for u in range(num_users)]
        for name in RANKING_METRICS:
            got = result[f"{name}@{k}"]
            assert got.dtype == torch.float64 and got.shape == (num_users,)
            np.testing.assert_allclose(got.numpy(), [e[name] for e in expected], rtol=1e-12, atol=1e-12)


def test_subset_of_names_and_bad_arguments():
    hits = torch.zeros(3, 4, dtype=torch.bool)
    result = ranking_metrics(hits, torch.ones(3), ks=[2], names=["ndcg"])
    assert list(result) == ["ndcg@2"] and result["ndcg@2"].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="unknown metric"):
        ranking_metrics(hits, torch.ones(3), ks=[2], names=["auc"])
    with pytest.raises(ValueError, match="every k"):
        ranking_metrics(hits, torch.ones(3), ks=[5])


def test_longtail_items_head_is_top_share_ties_by_index():
    popularity = torch.tensor([5, 1, 9, 5, 0, 5, 2, 3, 5, 1, 0, 0, 7, 4, 4])
    # 15 items, head = ceil(0.2 * 15) = 3: item 2 (9), item 12 (7), then the
    # lowest index among the 5s: item 0
    tail = longtail_items(popularity, 0.2)
    assert tail.dtype == torch.bool
    assert np.flatnonzero(~tail.numpy()).tolist() == [0, 2, 12]
    assert (~longtail_items(popularity, 0.5)).sum().item() == 8  # ceil(7.5)
    assert longtail_items(popularity, 0.0).all()
    assert not longtail_items(popularity, 1.0).any()
    with pytest.raises(ValueError):
        longtail_items(popularity, 1.5)
