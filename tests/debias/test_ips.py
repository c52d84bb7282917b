"""IPS / SNIPS: the trainer's batch loss against hand computations on the hand-sized dataset."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.debias import Debiaser, create_debiaser
from graphrec.debias.ips import IPS


def bpr_per_example(hand):
    positive, negative = hand.scores()
    return hand.softplus(negative - positive[:, None]).mean(1)


def bce_per_example(hand):
    positive, negative = hand.scores()
    return hand.softplus(-positive) + hand.softplus(negative).mean(1)


def test_popularity_propensities_weight_each_example(make_dataset, make_mf, hand, run_objective):
    dataset = make_dataset()
    debias = create_debiaser("ips", dataset, make_mf(hand.users, hand.items), exponent=0.5)
    # p_i = (c_i / max c)^0.5 with counts 3, 1, 1, 0; the positives are items 1, 0, 2
    propensity = (hand.counts[hand.positives] / 3.0) ** 0.5
    expected = np.mean(bpr_per_example(hand) / propensity)
    total, terms = run_objective(make_mf(hand.users, hand.items), debias)
    assert total == pytest.approx(expected, rel=1e-5)
    assert terms["loss"] == pytest.approx(expected, rel=1e-5)


def test_bce_is_weighted_per_example(make_dataset, make_mf, hand, run_objective):
    debias = create_debiaser("ips", make_dataset(), make_mf(hand.users, hand.items), exponent=1.0)
    propensity = hand.counts[hand.positives] / 3.0
    expected = np.mean(bce_per_example(hand) / propensity)
    assert run_objective(make_mf(hand.users, hand.items), debias, loss="bce")[0] == pytest.approx(expected, rel=1e-5)


def test_uniform_propensities_give_the_naive_loss(make_dataset, make_mf, hand, run_objective):
    model = make_mf(hand.users, hand.items)
    naive = run_objective(model, Debiaser())[0]
    assert naive == pytest.approx(bpr_per_example(hand).mean(), rel=1e-6)
    # exponent 0: p = 1 for every item
    assert run_objective(model, create_debiaser("ips", make_dataset(), model, exponent=0.0))[0] == pytest.approx(naive, rel=1e-6)
    # propensities given by the dataset, all equal to 1
    ones = make_dataset(propensity=np.ones((3, 4)))
    assert run_objective(model, create_debiaser("ips", ones, model, propensity="dataset"))[0] == pytest.approx(naive, rel=1e-6)


def test_snips_divides_by_the_sum_of_the_weights(make_dataset, make_mf, hand, run_objective):
    propensity = np.array([[0.2, 0.5, 0.9, 0.3], [0.4, 0.1, 0.7, 0.6], [0.8, 0.25, 0.05, 0.5]])
    dataset = make_dataset(propensity=propensity)
    model = make_mf(hand.users, hand.items)
    weights = 1 / propensity[hand.batch_users, hand.positives]  # 1/0.5, 1/0.4, 1/0.05
    losses = bpr_per_example(hand)
    ips = run_objective(model, create_debiaser("ips", dataset, model, propensity="dataset"))[0]
    snips = run_objective(model, create_debiaser("ips", dataset, model, propensity="dataset", self_normalized=True))[0]
    assert ips == pytest.approx(np.mean(weights * losses), rel=1e-5)
    assert snips == pytest.approx(np.sum(weights * losses) / np.sum(weights), rel=1e-5)
    # constant propensities: SNIPS is the naive loss, IPS the naive loss over the propensity
    constant = make_dataset(propensity=np.full((3, 4), 0.25))
    naive = losses.mean()
    assert run_objective(model, create_debiaser("ips", constant, model, propensity="dataset", self_normalized=True))[0] == pytest.approx(naive, rel=1e-5)
    assert run_objective(model, create_debiaser("ips", constant, model, propensity="dataset"))[0] == pytest.approx(naive / 0.25, rel=1e-5)


def test_clip_raises_small_propensities(make_dataset, make_mf, hand, run_objective):
    propensity = np.array([[0.2, 0.01, 0.9, 0.3], [0.4, 0.1, 0.7, 0.6], [0.8, 0.25, 0.002, 0.5]])
    dataset = make_dataset(propensity=propensity)
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("ips", dataset, model, propensity="dataset", clip=0.1)
    weights = 1 / np.maximum(propensity[hand.batch_users, hand.positives], 0.1)  # 1/0.1, 1/0.4, 1/0.1
    assert weights.tolist() == pytest.approx([10.0, 2.5, 10.0])
    assert run_objective(model, debias)[0] == pytest.approx(np.mean(weights * bpr_per_example(hand)), rel=1e-5)


def test_zero_propensity_of_a_click_needs_clip(make_dataset, make_mf, hand):
    propensity = np.full((3, 4), 0.5)
    propensity[0, 1] = 0.0  # (0, 1) is a training click
    dataset = make_dataset(propensity=propensity)
    with pytest.raises(ValueError, match="clip"):
        create_debiaser("ips", dataset, make_mf(hand.users, hand.items), propensity="dataset")
    assert isinstance(create_debiaser("ips", dataset, make_mf(hand.users, hand.items), propensity="dataset", clip=0.01), IPS)


def test_missing_dataset_propensities_are_refused(make_dataset, make_mf, hand):
    with pytest.raises(ValueError, match="propensity.*popularity"):
        create_debiaser("ips", make_dataset(), make_mf(hand.users, hand.items), propensity="dataset")


def test_snips_is_refused_under_data_parallelism(monkeypatch, make_dataset, make_mf, hand):
    import graphrec.distributed as distributed
    from graphrec.train import Trainer

    dataset = make_dataset()
    model = make_mf(hand.users, hand.items)
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    snips = create_debiaser("ips", dataset, model, self_normalized=True)
    with pytest.raises(ValueError, match="self_normalized: false"):
        Trainer(model, dataset, device="cpu", progress=False, debias=snips)
    assert not snips.per_example_loss
    assert create_debiaser("ips", dataset, model).per_example_loss  # plain IPS is a per-example mean


def test_weights_are_not_checkpointed(make_dataset, make_mf, hand):
    debias = create_debiaser("ips", make_dataset(), make_mf(hand.users, hand.items))
    assert debias.state_dict() == {}
    assert "exponent=0.5" in repr(debias) and "self_normalized=False" in repr(debias)
    assert torch.isinf(debias.weights[3])  # never clicked: propensity 0, but never looked up
