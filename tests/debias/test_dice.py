"""DICE: the O1 / O2 split, its four loss terms, distance correlation and the popularity sampler, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from graphrec.data.idmap import IdMap
from graphrec.data.interactions import Interactions
from graphrec.debias import create_debiaser
from graphrec.debias.dice import distance_correlation
from graphrec.debias.sampling import PopularityMarginSampler

USER_CON = np.array([[0.3, 0.1], [-0.2, 0.5], [0.4, -0.6]])
ITEM_CON = np.array([[0.9, 0.2], [-0.1, -0.3], [0.2, 0.4], [-0.7, 0.1]])
# counts 3, 1, 1, 0: the negative 0 is more popular than every positive (O2); 3 less popular; 1 vs 2 a tie (O1)
USERS = np.array([0, 1, 2])
POSITIVES = np.array([1, 2, 2])
NEGATIVES = np.array([[0, 3], [0, 3], [0, 1]])
O2 = np.array([[1, 0], [1, 0], [1, 0]], dtype=float)


def dcor_reference(x: np.ndarray, y: np.ndarray) -> float:
    def centred(z):
        a = cdist(z, z)
        return a - a.mean(0, keepdims=True) - a.mean(1, keepdims=True) + a.mean()

    a, b = centred(x), centred(y)
    return np.sqrt((a * b).mean()) / np.sqrt(np.sqrt((a * a).mean()) * np.sqrt((b * b).mean()))


def dice(make_dataset, model, **args):
    debias = create_debiaser("dice", make_dataset(), model, **args)
    with torch.no_grad():
        debias.conformity.user_embedding.weight.copy_(torch.tensor(USER_CON, dtype=torch.float32))
        debias.conformity.item_embedding.weight.copy_(torch.tensor(ITEM_CON, dtype=torch.float32))
    return debias


def run(model, debias, weight_decay=0.0):
    from graphrec.losses import bpr_loss
    from graphrec.train import _Objective

    objective = _Objective(model, debias, None, bpr_loss, weight_decay, [])
    total, terms = objective(torch.tensor(USERS), torch.tensor(POSITIVES), torch.tensor(NEGATIVES))
    return total.item(), {name: value.item() for name, value in terms.items()}


def hand_terms(hand):
    sp = hand.softplus
    u_int, u_con = hand.users[USERS], USER_CON[USERS]
    s_int_p = (u_int * hand.items[POSITIVES]).sum(1)
    s_int_n = (u_int[:, None] * hand.items[NEGATIVES]).sum(2)
    s_con_p = (u_con * ITEM_CON[POSITIVES]).sum(1)
    s_con_n = (u_con[:, None] * ITEM_CON[NEGATIVES]).sum(2)
    click = sp((s_int_n + s_con_n) - (s_int_p + s_con_p)[:, None]).mean()  # BPR on the concatenation
    interest = (O2 * sp(s_int_n - s_int_p[:, None])).mean()
    # O2: conformity ranks the (more popular) negative first; O1: the positive first
    conformity = (O2 * sp(s_con_p[:, None] - s_con_n) + (1 - O2) * sp(s_con_n - s_con_p[:, None])).mean()
    items = np.concatenate([POSITIVES, NEGATIVES.ravel()])
    return click, interest, conformity, (u_int, u_con), (hand.items[items], ITEM_CON[items])


def test_o1_o2_split_and_losses_by_hand(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    debias = dice(make_dataset, model, int_weight=0.5, pop_weight=0.25, discrepancy="l2", dis_pen=0.1)
    click, interest, conformity, users, items = hand_terms(hand)
    l2 = np.mean((users[0] - users[1]) ** 2) + np.mean((items[0] - items[1]) ** 2)
    total, terms = run(model, debias)
    assert terms["loss"] == pytest.approx(click, rel=1e-5)
    assert terms["dice_interest"] == pytest.approx(0.5 * interest, rel=1e-5)
    assert terms["dice_conformity"] == pytest.approx(0.25 * conformity, rel=1e-5)
    assert terms["dice_discrepancy"] == pytest.approx(-0.1 * l2, rel=1e-5)  # the L2 distance is maximised
    assert total == pytest.approx(click + 0.5 * interest + 0.25 * conformity - 0.1 * l2, rel=1e-5)


def test_dcor_discrepancy_and_l1(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    *_, users, items = hand_terms(hand)
    terms = run(model, dice(make_dataset, model, discrepancy="dcor", dis_pen=0.2))[1]
    expected = dcor_reference(*users) + dcor_reference(*items)
    assert terms["dice_discrepancy"] == pytest.approx(0.2 * expected, rel=1e-4)
    terms = run(model, dice(make_dataset, model, discrepancy="l1", dis_pen=0.2))[1]
    l1 = np.mean(np.abs(users[0] - users[1])) + np.mean(np.abs(items[0] - items[1]))
    assert terms["dice_discrepancy"] == pytest.approx(-0.2 * l1, rel=1e-5)


def test_weights_and_margin_decay_per_epoch(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    debias = dice(make_dataset, model, int_weight=0.5, pop_weight=0.25, margin=10.0, margin_decay=0.5, loss_decay=0.9)
    _, interest, conformity, *_ = hand_terms(hand)
    debias.begin_epoch(3)
    terms = run(model, debias)[1]
    assert terms["dice_interest"] == pytest.approx(0.5 * 0.81 * interest, rel=1e-5)
    assert terms["dice_conformity"] == pytest.approx(0.25 * 0.81 * conformity, rel=1e-5)
    sampler = debias.negative_sampler(make_dataset().train, "cpu")
    assert sampler.margin == pytest.approx(2.5)
    debias.begin_epoch(4)
    assert sampler.margin == pytest.approx(1.25)


def test_l2_penalty_covers_the_conformity_encoder(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    debias = dice(make_dataset, model)
    items = np.concatenate([POSITIVES, NEGATIVES.ravel()])
    squares = sum(
        (table ** 2).sum() for table in (hand.users[USERS], hand.items[items], USER_CON[USERS], ITEM_CON[items])
    )
    assert run(model, debias, weight_decay=0.1)[1]["l2"] == pytest.approx(0.1 * 0.5 * squares / 3, rel=1e-5)


def test_inference_modes(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    users = torch.arange(3)
    with torch.no_grad():
        for mode, expected in [
            ("both", hand.users @ hand.items.T + USER_CON @ ITEM_CON.T),
            ("interest", hand.users @ hand.items.T),
            ("conformity", USER_CON @ ITEM_CON.T),
        ]:
            debias = dice(make_dataset, model, inference=mode)
            user_emb, item_emb = debias.embed(None, *model(None))
            assert user_emb.shape == (3, 4) and item_emb.shape == (4, 4)  # [interest; conformity]
            scores = debias.ranking_scores(model.full_scores(users, user_emb, item_emb), users, user_emb, item_emb)
            np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_conformity_encoder_is_a_fresh_copy(small_world):
    from graphrec.graph import build
    from graphrec.models import create_model

    model = create_model("lightgcn", build(small_world.dataset), embedding_dim=4, num_layers=1)
    debias = create_debiaser("dice", small_world.dataset, model)
    assert type(debias.conformity) is type(model) and debias.conformity is not model
    assert not torch.equal(debias.conformity.embedding.weight, model.embedding.weight)  # re-initialised
    assert set(debias.state_dict()) == {"conformity.embedding.weight"}  # counts are derived, not state


def test_distance_correlation_matches_numpy():
    generator = np.random.default_rng(0)
    x = generator.normal(size=(40, 3))
    y = np.tanh(x @ generator.normal(size=(3, 2))) + 0.5 * generator.normal(size=(40, 2))
    value = distance_correlation(torch.tensor(x), torch.tensor(y)).item()
    assert value == pytest.approx(dcor_reference(x, y), rel=1e-4)
    assert distance_correlation(torch.tensor(x), torch.tensor(2 * x + 1)).item() == pytest.approx(1.0, abs=1e-4)
    # repeated rows (zero distances) keep the gradient finite
    repeated = torch.tensor(np.concatenate([x, x[:5]]), requires_grad=True)
    distance_correlation(repeated, repeated.detach() ** 2).backward()
    assert torch.isfinite(repeated.grad).all()


# -- the sampler ---------------------------------------------------------------------------
def zipf_train(num_users=300, num_items=120, per_user=4, seed=0) -> Interactions:
    generator = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, num_items + 1)
    rows = [generator.choice(num_items, per_user, replace=False, p=weights / weights.sum()) for _ in range(num_users)]
    users = np.repeat(np.arange(num_users), per_user)
    return Interactions(users, np.concatenate(rows), IdMap.range(num_users), IdMap.range(num_items))


def test_sampler_draws_from_the_popularity_sets():
    train = zipf_train()
    margin, pool, k = 5.0, 10, 4
    sampler = PopularityMarginSampler(train, margin=margin, pool=pool)
    generator = torch.Generator().manual_seed(0)
    negatives = sampler.sample(torch.from_numpy(train.user), torch.from_numpy(train.item), k, generator=generator).numpy()
    counts = train.item_counts()
    positive_sets = {u: set(train.item[train.user == u]) for u in np.unique(train.user)}
    more_count = less_count = both_large = 0
    for user, positive, row in zip(train.user, train.item, negatives):
        assert not positive_sets[user] & set(row.tolist())  # never a training item of the user
        c = counts[positive]
        more = set(np.flatnonzero(counts > c + margin)) - positive_sets[user]
        less = set(np.flatnonzero(counts < c / 2)) - positive_sets[user]
        more_all, less_all = np.sum(counts > c + margin), np.sum(counts < c / 2)
        if more_all < pool:
            if less:  # else: the uniform fallback
                assert set(row.tolist()) <= less
        elif less_all < pool:
            assert set(row.tolist()) <= more
        else:
            assert set(row.tolist()) <= more | less
            both_large += k
            more_count += sum(item in more for item in row.tolist())
            less_count += sum(item in less for item in row.tolist())
    assert both_large > 200
    # a fair coin between the two sets: within 4 standard deviations of one half
    assert abs(more_count / both_large - 0.5) < 4 * np.sqrt(0.25 / both_large)
    # the same generator state draws the same negatives
    again = sampler.sample(torch.from_numpy(train.user), torch.from_numpy(train.item), k,
                           generator=torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(again, negatives)


def test_sampler_falls_back_to_uniform_negatives():
    # counts 2, 2, 1, 1: for a positive with count 1 nothing is less popular than 1/2, and with margin 0
    # and pool 3 only two items are more popular (< pool): the chosen set is empty -> uniform
    users = np.array([0, 0, 1, 1, 2, 3])
    items = np.array([0, 1, 0, 1, 2, 3])
    train = Interactions(users, items, IdMap.range(4), IdMap.range(4))
    sampler = PopularityMarginSampler(train, margin=0.0, pool=3)
    drawn = sampler.sample(torch.tensor([2] * 50), torch.tensor([2] * 50), 2, generator=torch.Generator().manual_seed(1))
    assert set(drawn.flatten().tolist()) == {0, 1, 3}  # every item but the user's own, uniformly
    # a set made only of the user's items falls back too: user 0's positives 0 and 1 are the more popular set
    sampler = PopularityMarginSampler(train, margin=0.0, pool=1, max_rounds=3)
    drawn = sampler.sample(torch.tensor([0] * 20), torch.tensor([0] * 20), 1, generator=torch.Generator().manual_seed(2))
    assert set(drawn.flatten().tolist()) <= {2, 3}
