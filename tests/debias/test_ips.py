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


# -- the relevance estimator (Saito et al.): labels Y/theta, negatives from all items ---------------

# propensities of the 3 x 4 hand dataset; its clicks are (0,0) (0,1) (1,0) (2,0) (2,2)
PROPENSITY = np.array([[0.2, 0.5, 0.9, 0.3], [0.4, 0.1, 0.7, 0.6], [0.8, 0.25, 0.05, 0.5]])
CLICKED = np.zeros((3, 4), dtype=bool)
CLICKED[[0, 0, 1, 2, 2], [0, 1, 0, 0, 2]] = True
# negatives with clicked items among them: (0,0), (1,0) and (2,0) are clicks
NEGATIVES_WITH_CLICKS = np.array([[3, 0], [0, 3], [0, 1]])


def relevance_objective(model, debias, loss: str, negatives: np.ndarray):
    """The trainer's batch loss of the hand batch with the given negatives."""
    from graphrec.losses import loss_function
    from graphrec.train import _Objective

    debias.set_training_loss(loss)
    users, positives = torch.tensor([0, 1, 2]), torch.tensor([1, 0, 2])
    total, _ = _Objective(model, debias, None, loss_function(loss), 0.0, [])(users, positives, torch.tensor(negatives))
    return total.item()


def hand_relevance(hand, clip):
    """Estimated relevance Y / max(theta, clip) of every pair, and the scores of the batch."""
    weights = 1 / np.maximum(PROPENSITY, clip)
    relevance = np.where(CLICKED, weights, 0.0)
    users, positives = np.array([0, 1, 2]), np.array([1, 0, 2])
    u = hand.users[users]
    positive = (u * hand.items[positives]).sum(1)
    negative = (u[:, None, :] * hand.items[NEGATIVES_WITH_CLICKS]).sum(2)
    return relevance[users, positives], relevance[users[:, None], NEGATIVES_WITH_CLICKS], positive, negative


def test_relevance_bce_labels_every_pair_by_its_estimated_relevance(make_dataset, make_mf, hand):
    dataset = make_dataset(propensity=PROPENSITY)
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("ips", dataset, model, propensity="dataset", estimator="relevance", clip=0.1)
    r_pos, r_neg, s_pos, s_neg = hand_relevance(hand, clip=0.1)
    assert r_pos.tolist() == pytest.approx([2.0, 2.5, 10.0])  # 1/0.5, 1/0.4, 1/max(0.05, 0.1)
    np.testing.assert_allclose(r_neg, [[0.0, 5.0], [2.5, 0.0], [1.25, 0.0]])
    sp = hand.softplus
    expected = np.mean(
        r_pos * sp(-s_pos) + (1 - r_pos) * sp(s_pos) + (r_neg * sp(-s_neg) + (1 - r_neg) * sp(s_neg)).mean(1)
    )
    assert relevance_objective(model, debias, "bce", NEGATIVES_WITH_CLICKS) == pytest.approx(expected, rel=1e-5)


def test_relevance_bpr_weights_each_pair_by_both_relevances(make_dataset, make_mf, hand):
    dataset = make_dataset(propensity=PROPENSITY)
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("ips", dataset, model, propensity="dataset", estimator="relevance", clip=0.1)
    r_pos, r_neg, s_pos, s_neg = hand_relevance(hand, clip=0.1)
    expected = np.mean(r_pos * ((1 - r_neg) * hand.softplus(s_neg - s_pos[:, None])).mean(1))
    assert relevance_objective(model, debias, "bpr", NEGATIVES_WITH_CLICKS) == pytest.approx(expected, rel=1e-5)


def test_relevance_with_full_exposure_is_the_loss_of_the_clicks(make_dataset, make_mf, hand, run_objective):
    # theta = 1 everywhere: the estimated relevance is the click itself
    dataset = make_dataset(propensity=np.ones((3, 4)))
    model = make_mf(hand.users, hand.items)
    for loss, naive in (("bpr", bpr_per_example(hand).mean()), ("bce", bce_per_example(hand).mean())):
        debias = create_debiaser("ips", dataset, model, propensity="dataset", estimator="relevance")
        assert run_objective(model, debias, loss=loss)[0] == pytest.approx(naive, rel=1e-5)  # no clicked negative
    # a clicked negative is a positive for BCE and drops out of BPR
    _, _, s_pos, s_neg = hand_relevance(hand, clip=1.0)
    labels = CLICKED[np.array([0, 1, 2])[:, None], NEGATIVES_WITH_CLICKS]
    sp = hand.softplus
    bce = np.mean(sp(-s_pos) + np.where(labels, sp(-s_neg), sp(s_neg)).mean(1))
    bpr = np.mean(np.where(labels, 0.0, sp(s_neg - s_pos[:, None])).mean(1))
    debias = create_debiaser("ips", dataset, model, propensity="dataset", estimator="relevance")
    assert relevance_objective(model, debias, "bce", NEGATIVES_WITH_CLICKS) == pytest.approx(bce, rel=1e-5)
    assert relevance_objective(model, debias, "bpr", NEGATIVES_WITH_CLICKS) == pytest.approx(bpr, rel=1e-5)


def test_normalize_divides_by_the_mean_weight_of_the_training_clicks(make_dataset, make_mf, hand, run_objective):
    dataset = make_dataset(propensity=PROPENSITY)
    model = make_mf(hand.users, hand.items)
    clicks_mean = np.mean(1 / PROPENSITY[CLICKED])  # 1/0.2, 1/0.5, 1/0.4, 1/0.8, 1/0.05
    for estimator in ("click", "relevance"):
        plain = create_debiaser("ips", dataset, model, propensity="dataset", estimator=estimator)
        normalized = create_debiaser("ips", dataset, model, propensity="dataset", estimator=estimator, normalize=True)
        assert normalized.scale == pytest.approx(clicks_mean, rel=1e-6)
        assert run_objective(model, normalized)[0] == pytest.approx(run_objective(model, plain)[0] / clicks_mean, rel=1e-5)
    # popularity propensities: counts 3, 1, 1, 0 over the clicked items 0, 1, 0, 0, 2, exponent 1
    popularity = create_debiaser("ips", dataset, model, exponent=1.0, normalize=True)
    assert popularity.scale == pytest.approx(np.mean([1.0, 3.0, 1.0, 1.0, 3.0]), rel=1e-6)
    assert "normalize=True" in repr(popularity) and "normalize=" not in repr(create_debiaser("ips", dataset, model))


def test_relevance_draws_negatives_from_every_item(make_dataset, make_mf, hand):
    from graphrec.debias.ips import AllItemsSampler

    dataset = make_dataset()
    debias = create_debiaser("ips", dataset, make_mf(hand.users, hand.items), estimator="relevance")
    sampler = debias.negative_sampler(dataset.train, "cpu")
    assert isinstance(sampler, AllItemsSampler)
    users = torch.zeros(4000, dtype=torch.long)
    drawn = sampler.sample(users, users, 2, generator=torch.Generator().manual_seed(0))
    counts = np.bincount(drawn.flatten().numpy(), minlength=4)
    assert counts.sum() == 8000 and counts.min() > 1800  # uniform over all 4 items, clicks (0, 1) included
    assert create_debiaser("ips", dataset, make_mf(hand.users, hand.items)).negative_sampler(dataset.train, "cpu") is None


def test_relevance_refuses_losses_it_cannot_reweight(make_dataset, make_mf, hand):
    from graphrec.debias import check_arguments
    from graphrec.train import Trainer

    dataset = make_dataset()
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("ips", dataset, model, estimator="relevance")
    with pytest.raises(ValueError, match="loss bpr or bce"):
        Trainer(model, dataset, loss="softmax", device="cpu", progress=False, debias=debias)
    with pytest.raises(ValueError, match="estimator must be one of click, relevance"):
        check_arguments("ips", {"estimator": "doubly_robust"})
    with pytest.raises(ValueError, match="self_normalized applies to estimator: click only"):
        check_arguments("ips", {"estimator": "relevance", "self_normalized": True})
    with pytest.raises(ValueError, match="normalize must be true or false"):
        check_arguments("ips", {"normalize": "yes"})


def test_relevance_trains_end_to_end(make_dataset, make_mf, hand):
    from graphrec.train import Trainer

    dataset = make_dataset(propensity=PROPENSITY)
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("ips", dataset, model, propensity="dataset", estimator="relevance", clip=0.1)
    result = Trainer(model, dataset, loss="bce", epochs=3, batch_size=2, num_negatives=2, device="cpu",
                     progress=False, debias=debias, eval_every=1, eval_ks=(2,), eval_metric="recall@2").fit()
    assert result.epochs == 3 and np.isfinite(result.test["recall@2"])
