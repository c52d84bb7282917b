"""PreferenceEvaluator (NDCG against true preference, recall against realised relevance) vs NumPy loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.data import IdMap, Interactions, synthetic
from graphrec.ground_truth import PreferenceEvaluator, preference_ndcg


def reference(scores, preference, relevance, excluded, ks):
    """Per-user loops: rank available items by (score desc, item asc), skipping -inf; textbook formulas."""
    preference = np.asarray(preference, dtype=np.float64)  # float32 arithmetic would lose digits
    num_users, num_items = preference.shape
    ndcg = {k: [] for k in ks}
    recall = {k: [] for k in ks}
    precision = {k: [] for k in ks}
    for u in range(num_users):
        available = [i for i in range(num_items) if not excluded[u, i]]
        ideal_gains = sorted((preference[u, i] for i in available), reverse=True)
        ranked = sorted((i for i in available if scores[u, i] != -np.inf), key=lambda i: (-scores[u, i], i))
        relevant = {i for i in available if relevance[u, i]}
        for k in ks:
            idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal_gains[:k]))
            if idcg > 0:
                ndcg[k].append(sum(preference[u, i] / math.log2(r + 2) for r, i in enumerate(ranked[:k])) / idcg)
            if relevant:
                hits = len(relevant.intersection(ranked[:k]))
                recall[k].append(hits / len(relevant))
                precision[k].append(hits / k)
    result = {f"preference_ndcg@{k}": np.mean(ndcg[k]) for k in ks}
    result.update({f"relevance_recall@{k}": np.mean(recall[k]) for k in ks})
    result.update({f"relevance_precision@{k}": np.mean(precision[k]) for k in ks})
    return result


def random_truth(seed, num_users=25, num_items=12):
    rng = np.random.default_rng(seed)
    preference = rng.random((num_users, num_items)).astype(np.float32)
    relevance = rng.random((num_users, num_items)) < preference
    relevance[3] = False  # a user with nothing relevant
    users, items = IdMap(np.arange(num_users)), IdMap(np.arange(num_items))
    pairs = np.argwhere(rng.random((num_users, num_items)) < 0.3)
    pairs = np.concatenate([pairs, [[5, i] for i in range(num_items)]])  # user 5: everything excluded
    exclude = Interactions(user=pairs[:, 0], item=pairs[:, 1], user_ids=users, item_ids=items)
    excluded = np.zeros((num_users, num_items), bool)
    excluded[pairs[:, 0], pairs[:, 1]] = True
    return rng, preference, relevance, exclude, excluded


@pytest.mark.parametrize("tied", [False, True])
def test_metrics_match_a_numpy_loop(tied):
    rng, preference, relevance, exclude, excluded = random_truth(seed=7 if tied else 8)
    shape = preference.shape
    scores = rng.integers(0, 3, shape).astype(np.float64) if tied else rng.standard_normal(shape)
    scores[0, :4] = -np.inf  # unlisted items: fewer than k in the list
    ks = (1, 5, 12, 30)  # 30 exceeds the catalogue
    evaluator = PreferenceEvaluator(preference, relevance=relevance, exclude=[exclude], ks=ks, batch_size=4)
    got = evaluator.evaluate(lambda users: torch.from_numpy(scores)[users])
    expected = reference(scores, preference, relevance, excluded, ks)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert evaluator.num_users == preference.shape[0] - 1  # user 5 has no available item


def test_the_true_preference_scores_one_and_its_reverse_less():
    _, preference, relevance, exclude, _ = random_truth(seed=9)
    evaluator = PreferenceEvaluator(preference, exclude=[exclude], ks=(3, 10))
    truth = torch.from_numpy(preference)
    assert evaluator.evaluate(lambda users: truth[users]) == pytest.approx({"preference_ndcg@3": 1.0,
                                                                             "preference_ndcg@10": 1.0})
    assert evaluator.evaluate(lambda users: -truth[users])["preference_ndcg@3"] < 0.8


def test_hand_computed_example():
    # one user, items with preferences (0.9, 0.1, 0.5); the model ranks 1, 2, 0
    preference = np.array([[0.9, 0.1, 0.5]])
    evaluator = PreferenceEvaluator(preference, relevance=np.array([[True, False, False]]), ks=(2,))
    got = evaluator.evaluate(lambda users: torch.tensor([[0.0, 2.0, 1.0]]))
    dcg = 0.1 + 0.5 / math.log2(3)
    idcg = 0.9 + 0.5 / math.log2(3)
    assert got == pytest.approx({"preference_ndcg@2": dcg / idcg, "relevance_recall@2": 0.0,
                                 "relevance_precision@2": 0.0})


def test_world_evaluator_masks_train_and_valid_and_serves_the_trainer():
    from graphrec.models.pop import Pop
    from graphrec.train import Trainer
    from graphrec.unbiased import CandidateEvaluator, exposure_candidates

    world = synthetic(num_users=90, num_items=60, clicks_per_user=8.0, seed=2)
    dataset = world.dataset
    test_evaluator = PreferenceEvaluator.from_world(world, ks=(10,))
    result = Trainer(
        Pop(dataset.num_users, dataset.num_items), dataset, device="cpu", progress=False,
        evaluators={"valid": CandidateEvaluator(*exposure_candidates(world), exclude=[dataset.train]),
                    "test": test_evaluator},
        eval_metric="ndcg@5",
    ).fit()
    counts = dataset.train.item_counts().astype(np.float64)
    scores = np.tile(counts, (dataset.num_users, 1))
    excluded = np.zeros((dataset.num_users, dataset.num_items), bool)
    for part in (dataset.train, dataset.valid):
        excluded[part.user, part.item] = True
    expected = reference(scores, world.preference, world.relevance, excluded, (10,))
    assert result.test == pytest.approx(expected, abs=1e-9)
    one_shot = preference_ndcg(lambda users: torch.from_numpy(scores)[users], world, ks=(10,))
    assert one_shot == pytest.approx(expected, abs=1e-9)
    # the validation-time mask leaves the validation clicks rankable
    valid_mask = np.zeros_like(excluded)
    valid_mask[dataset.train.user, dataset.train.item] = True
    valid_expected = reference(scores, world.preference, world.relevance, valid_mask, (10,))
    got = PreferenceEvaluator.from_world(world, split="valid", ks=(10,)).evaluate(
        lambda users: torch.from_numpy(scores)[users])
    assert got == pytest.approx(valid_expected, abs=1e-9)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        PreferenceEvaluator(np.array([[0.5, -0.1]]))
    with pytest.raises(ValueError, match="relevance has shape"):
        PreferenceEvaluator(np.ones((2, 3)), relevance=np.ones((3, 2), bool))
    with pytest.raises(ValueError, match="no user"):
        PreferenceEvaluator(np.zeros((2, 3)))
    evaluator = PreferenceEvaluator(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        evaluator.evaluate(lambda users: torch.full((len(users), 3), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        evaluator.evaluate(lambda users: torch.zeros(len(users), 4))
