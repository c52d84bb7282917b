"""CandidateEvaluator against NumPy loops and sklearn's roc_auc_score; Coat's candidate set against np.loadtxt."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from graphrec.data import IdMap, Interactions, UnseenInteractionsWarning, read_coat, synthetic
from graphrec.unbiased import CandidateEvaluator, auc_from_scores, coat_candidates, exposure_candidates

ALL = ("recall", "ndcg", "precision", "hit", "mrr", "map")


# -- a random candidate world ---------------------------------------------------------
def make_candidates(seed: int = 0, num_users: int = 30, num_items: int = 25):
    """Users with 1..12 candidates, some without a positive, some with positives only; duplicate rows."""
    rng = np.random.default_rng(seed)
    users, items = IdMap(np.arange(num_users)), IdMap(np.arange(num_items))
    pairs, labels = [], []
    for u in range(num_users):
        if u % 7 == 3:
            continue  # no candidate at all
        size = int(rng.integers(1, 13))
        chosen = rng.choice(num_items, size, replace=False)
        kind = u % 5  # 0: no positive, 1: positives only, else mixed
        label = np.zeros(size, bool) if kind == 0 else np.ones(size, bool) if kind == 1 else rng.random(size) < 0.4
        pairs += [(u, int(i)) for i in chosen]
        labels += label.tolist()
    pairs += pairs[:5]  # duplicate candidate rows, same labels
    labels += labels[:5]
    pairs = np.asarray(pairs)
    candidates = Interactions(user=pairs[:, 0], item=pairs[:, 1], user_ids=users, item_ids=items)
    return candidates, np.asarray(labels), rng


def reference(scores: np.ndarray, candidates: Interactions, labels: np.ndarray, ks, exclude=()):
    """Per-user loops: rank the distinct candidates by (score desc, item asc), textbook formulas;
    AUC through sklearn."""
    excluded = {(int(u), int(i)) for part in exclude for u, i in zip(part.user, part.item)}
    label_of = {}
    for u, i, y in zip(candidates.user.tolist(), candidates.item.tolist(), labels.tolist()):
        if (u, i) not in excluded:
            label_of[(u, i)] = bool(y)
    by_user = {}
    for (u, i), y in label_of.items():
        by_user.setdefault(u, []).append((i, y))
    sums, evaluated, user_aucs = {}, 0, []
    for u, entries in by_user.items():
        ys = np.array([y for _, y in entries])
        ss = np.array([scores[u, i] for i, _ in entries])
        if ys.any() and not ys.all():
            user_aucs.append(roc_auc_score(ys, ss))
        positives = int(ys.sum())
        if positives == 0:
            continue
        evaluated += 1
        ranked = sorted(entries, key=lambda entry: (-scores[u, entry[0]], entry[0]))
        for k in ks:
            rel = [1 if y else 0 for _, y in ranked[:k]]
            hits = sum(rel)
            dcg = sum(r / math.log2(pos + 2) for pos, r in enumerate(rel))
            idcg = sum(1 / math.log2(pos + 2) for pos in range(min(positives, k)))
            first = next((pos + 1 for pos, r in enumerate(rel) if r), None)
            ap = sum(sum(rel[: pos + 1]) / (pos + 1) for pos, r in enumerate(rel) if r) / min(positives, k)
            values = {
                "recall": hits / positives, "ndcg": dcg / idcg, "precision": hits / k, "hit": float(hits > 0),
                "mrr": 0.0 if first is None else 1 / first, "map": ap,
            }
            for name, value in values.items():
                sums[f"{name}@{k}"] = sums.get(f"{name}@{k}", 0.0) + value
    result = {key: value / evaluated for key, value in sums.items()}
    all_labels = np.array(list(label_of.values()))
    all_scores = np.array([scores[u, i] for u, i in label_of])
    result["auc"] = roc_auc_score(all_labels, all_scores)
    result["user_auc"] = float(np.mean(user_aucs))
    return result


@pytest.mark.parametrize("tied", [False, True])
def test_metrics_match_numpy_and_sklearn(tied):
    candidates, labels, rng = make_candidates(seed=1 if tied else 2)
    shape = (candidates.num_users, candidates.num_items)
    # integer scores in a small range: many ties, broken by item index
    scores = rng.integers(0, 4, shape).astype(np.float64) if tied else rng.standard_normal(shape)
    ks = (1, 3, 5, 20)  # 20 exceeds every candidate set
    evaluator = CandidateEvaluator(candidates, labels, ks=ks, batch_size=7)
    got = evaluator.evaluate(lambda users: torch.from_numpy(scores)[users])
    expected = reference(scores, candidates, labels, ks)
    assert set(got) == {f"{m}@{k}" for m in ALL for k in ks} | {"auc", "user_auc"}
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert evaluator.num_users == len(np.unique(candidates.user[labels]))


def test_pair_scores_batches_and_integer_scores_agree():
    candidates, labels, rng = make_candidates(seed=3)
    scores = torch.from_numpy(rng.integers(-5, 5, (candidates.num_users, candidates.num_items)))
    full = CandidateEvaluator(candidates, labels, ks=(2, 5)).evaluate(lambda users: scores[users])
    batched = CandidateEvaluator(candidates, labels, ks=(2, 5), batch_size=2)
    assert batched.evaluate_pairs(lambda users, items: scores[users, items]) == pytest.approx(full, abs=1e-12)
    expected = reference(scores.numpy().astype(float), candidates, labels, (2, 5))
    assert full == pytest.approx(expected, abs=1e-12)


def test_excluded_pairs_leave_the_candidate_sets():
    candidates, labels, rng = make_candidates(seed=4)
    scores = rng.standard_normal((candidates.num_users, candidates.num_items))
    keep = rng.random(len(candidates)) < 0.7
    exclude = candidates.subset(~keep)  # some positives, some negatives
    got = CandidateEvaluator(candidates, labels, ks=(3,), exclude=[exclude]).evaluate(
        lambda users: torch.from_numpy(scores)[users]
    )
    expected = reference(scores, candidates, labels, (3,), exclude=[exclude])
    assert got == pytest.approx(expected, abs=1e-12)


def test_auc_hand_computation_with_ties_and_infinities():
    # positives 3 and 2 against negatives 1 and 2: (1 + 1) + (1 + 1/2) = 3.5 of 4 pairs
    wins, pairs = auc_from_scores(torch.tensor([3.0, 1.0, 2.0, 2.0]), torch.tensor([True, False, True, False]))
    assert (wins.item(), pairs.item()) == (3.5, 4.0)
    # rows with padding; +inf / -inf scores are ordinary extremes
    scores = torch.tensor([[float("inf"), 0.0, float("inf"), 5.0], [float("-inf"), float("-inf"), 1.0, 9.0]])
    labels = torch.tensor([[True, False, False, True], [True, False, True, False]])
    valid = torch.tensor([[True, True, True, False], [True, True, True, False]])
    wins, pairs = auc_from_scores(scores, labels, valid)
    # row 0: +inf beats 0 and ties +inf; row 1: -inf ties -inf, 1 beats -inf
    assert wins.tolist() == [1.5, 1.5] and pairs.tolist() == [2.0, 2.0]


def test_a_perfect_and_a_reversed_ranking():
    users, items = IdMap(np.arange(2)), IdMap(np.arange(4))
    candidates = Interactions(user=[0, 0, 0, 1, 1, 1], item=[0, 1, 2, 1, 2, 3], user_ids=users, item_ids=items)
    labels = np.array([1, 0, 1, 0, 1, 0])
    truth = torch.zeros(2, 4)
    truth[candidates.user, candidates.item] = torch.from_numpy(labels).float()
    evaluator = CandidateEvaluator(candidates, labels, ks=(1, 2), metrics=("ndcg", "recall", "precision"))
    perfect = evaluator.evaluate(lambda u: truth[u])
    assert perfect == {"ndcg@1": 1.0, "ndcg@2": 1.0, "recall@1": 0.75, "recall@2": 1.0, "precision@1": 1.0,
                       "precision@2": 0.75, "auc": 1.0, "user_auc": 1.0}
    reversed_ = evaluator.evaluate(lambda u: -truth[u])
    assert reversed_["auc"] == 0.0 and reversed_["user_auc"] == 0.0 and reversed_["recall@1"] == 0.0


def test_bad_inputs_are_refused():
    candidates, labels, _ = make_candidates(seed=5)
    conflicting = labels.copy()
    conflicting[-1] = not conflicting[0]  # the last row duplicates the first
    with pytest.raises(ValueError, match="different labels"):
        CandidateEvaluator(candidates, conflicting)
    with pytest.raises(ValueError, match="0 and 1"):
        CandidateEvaluator(candidates, labels * 3.0)
    with pytest.raises(ValueError, match="entries"):
        CandidateEvaluator(candidates, labels[:-1])
    with pytest.raises(ValueError, match="no user has a positive"):
        CandidateEvaluator(candidates, np.zeros_like(labels))
    evaluator = CandidateEvaluator(candidates, labels)
    nan = torch.full((candidates.num_users, candidates.num_items), float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        evaluator.evaluate(lambda users: nan[users])
    with pytest.raises(ValueError, match="shape"):
        evaluator.evaluate(lambda users: torch.zeros(len(users), 3))


# -- the trainer's evaluator protocol ---------------------------------------------------
def test_trainer_measures_and_selects_on_candidates():
    from graphrec.graph import build
    from graphrec.models import create_model
    from graphrec.train import Trainer

    world = synthetic(num_users=120, num_items=80, clicks_per_user=10.0, random_exposures_per_user=12, seed=5)
    dataset = world.dataset
    candidates, labels = exposure_candidates(world)
    assert np.array_equal(labels, world.relevance[candidates.user, candidates.item])
    evaluator = CandidateEvaluator(candidates, labels, ks=(5,), exclude=[dataset.train])
    graph = build(dataset)
    model = create_model("mf", graph, embedding_dim=8)
    trainer = Trainer(model, dataset, graph=graph, device="cpu", progress=False, epochs=2, batch_size=256,
                      seed=1, evaluators={"valid": evaluator, "test": evaluator}, eval_metric="ndcg@5")
    result = trainer.fit()
    with torch.no_grad():
        user_emb, item_emb = model(graph)
    scores = (user_emb @ item_emb.t()).detach().double().numpy()
    expected = reference(scores, candidates, labels, (5,), exclude=[dataset.train])
    assert result.test["ndcg@5"] == pytest.approx(expected["ndcg@5"], abs=1e-6)
    assert result.test["auc"] == pytest.approx(expected["auc"], abs=1e-6)


# -- Coat ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def coat_test_matrix(data_root):
    return np.loadtxt(data_root / "coat" / "test.ascii")


def test_coat_candidates_match_test_ascii(data_root, coat_test_matrix):
    candidates, labels = coat_candidates(data_root / "coat")
    observed = coat_test_matrix > 0
    assert len(candidates) == int(observed.sum()) == 4_640
    assert np.array_equal(candidates.user_counts(), observed.sum(axis=1)) and set(candidates.user_counts()) == {16}
    dense = np.zeros_like(observed)
    dense[candidates.user, candidates.item] = labels
    assert np.array_equal(dense, coat_test_matrix >= 4) and int(labels.sum()) == int((coat_test_matrix >= 4).sum())
    # threshold 5: fewer positives, same candidates
    _, strict = coat_candidates(data_root / "coat", threshold=5)
    assert int(strict.sum()) == int((coat_test_matrix == 5).sum())


def test_coat_candidates_from_a_dataset(data_root, coat_test_matrix):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenInteractionsWarning)
        everything = read_coat(data_root / "coat", threshold=None)
        positives_only = read_coat(data_root / "coat")
    candidates, labels = coat_candidates(everything)
    assert len(candidates) == 4_640 and int(labels.sum()) == int((coat_test_matrix >= 4).sum())
    with pytest.raises(ValueError, match="threshold=None"):
        coat_candidates(positives_only)
    # the evaluator on Coat: users without a positive rating are left out of the ranking metrics
    evaluator = CandidateEvaluator(candidates, labels, ks=(5,))
    no_positive = int(((coat_test_matrix >= 4).sum(axis=1) == 0).sum())
    assert evaluator.num_users == 290 - no_positive and evaluator.num_users_without_positive == no_positive
    assert evaluator.num_candidates == 4_640 and evaluator.num_positives == int((coat_test_matrix >= 4).sum())
