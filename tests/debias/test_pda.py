"""PD / PDA: popularity-weighted training scores, time stages, and both inference modes, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.data.dataset import RecDataset
from graphrec.data.interactions import Interactions
from graphrec.debias import Debiaser, create_debiaser

# hand-sized dataset: counts 3, 1, 1, 0 -> min-max popularity 1, 1/3, 1/3, 0
MINMAX = np.array([1.0, 1 / 3, 1 / 3, 0.0])
# timestamps of the training pairs (0,0) (0,1) (1,0) (2,0) (2,2); span [0, 10]
TIMESTAMPS = np.array([0, 10, 3, 9, 1])


def elu_plus_one(x):
    return np.where(x > 0, x, np.expm1(x)) + 1


def bpr(positive, negative, hand):
    return hand.softplus(negative - positive[:, None]).mean(1).mean()


def test_training_scores_by_hand(make_dataset, make_mf, hand, run_objective):
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("pda", make_dataset(), model, gamma=0.5)
    f_pos, f_neg = hand.scores()
    positive = elu_plus_one(f_pos) * MINMAX[hand.positives] ** 0.5
    negative = elu_plus_one(f_neg) * MINMAX[hand.negatives] ** 0.5
    total, terms = run_objective(model, debias)
    assert total == pytest.approx(bpr(positive, negative, hand), rel=1e-5)
    assert set(terms) == {"loss"}


def test_local_popularity_of_the_interaction_stage(make_dataset, make_mf, hand, run_objective):
    # stages of 2 over [0, 10]: t = 0, 10, 3, 9, 1 -> stages 0, 1, 0, 1, 0
    # stage 0 holds (0,0) (1,0) (2,2): counts 2, 0, 1, 0 -> 1, 0, 0.5, 0; stage 1 holds (0,1) (2,0): 1, 1, 0, 0
    local = np.array([[1.0, 0.0, 0.5, 0.0], [1.0, 1.0, 0.0, 0.0]])
    pair_stage = np.array([1, 0, 0])  # the batch's pairs (0,1) (1,0) (2,2)
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("pda", make_dataset(timestamps=TIMESTAMPS), model, gamma=0.5, stages=2)
    f_pos, f_neg = hand.scores()
    positive = elu_plus_one(f_pos) * local[pair_stage, hand.positives] ** 0.5
    negative = elu_plus_one(f_neg) * local[pair_stage[:, None], hand.negatives] ** 0.5  # a negative takes its positive's stage
    assert run_objective(model, debias)[0] == pytest.approx(bpr(positive, negative, hand), rel=1e-5)


def test_gamma_zero_is_the_naive_model(make_dataset, make_mf, hand, run_objective):
    model = make_mf(hand.users, hand.items)
    debias = create_debiaser("pda", make_dataset(), model, gamma=0.0)
    f_pos, f_neg = hand.scores()
    # 0 ** 0 = 1: no popularity factor, not even for the never-clicked item 3
    assert run_objective(model, debias)[0] == pytest.approx(bpr(elu_plus_one(f_pos), elu_plus_one(f_neg), hand), rel=1e-5)
    user_emb, item_emb = model(None)
    users = torch.arange(3)
    raw = model.full_scores(users, user_emb, item_emb)
    naive = Debiaser().ranking_scores(raw, users, user_emb, item_emb)
    for mode in ("pd", "pda"):
        ranked = create_debiaser("pda", make_dataset(), model, gamma=0.0, inference=mode).ranking_scores(
            raw, users, user_emb, item_emb
        )
        assert torch.equal(ranked.argsort(dim=1), naive.argsort(dim=1))  # ELU' + 1 is increasing


def test_pd_inference_ignores_popularity(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    user_emb, item_emb = model(None)
    users = torch.arange(3)
    raw = model.full_scores(users, user_emb, item_emb).detach()
    pd = create_debiaser("pda", make_dataset(), model, gamma=0.3, inference="pd")
    # another training popularity: items renamed, counts 0, 1, 3, 1
    other = make_dataset()
    permuted = Interactions(other.train.user, np.array([2, 1, 2, 2, 3]), other.user_ids, other.item_ids)
    other = RecDataset(name="permuted", train=permuted, test=other.test)
    pd_other = create_debiaser("pda", other, model, gamma=0.3, inference="pd")
    expected = elu_plus_one(raw.numpy())
    for debias in (pd, pd_other):
        np.testing.assert_allclose(debias.ranking_scores(raw, users, user_emb, item_emb).numpy(), expected, rtol=1e-6)
    # PDA, in contrast, multiplies by the popularity
    pda = create_debiaser("pda", make_dataset(), model, gamma=0.3)
    np.testing.assert_allclose(
        pda.ranking_scores(raw, users, user_emb, item_emb).numpy(), expected * MINMAX ** 0.3, rtol=1e-6
    )


def test_pda_uses_the_latest_window(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    user_emb, item_emb = model(None)
    users = torch.arange(3)
    raw = model.full_scores(users, user_emb, item_emb).detach()
    dataset = make_dataset(timestamps=TIMESTAMPS)
    # window 0.2 of [0, 10]: t >= 8 keeps (0,1) at 10 and (2,0) at 9: counts 1, 1, 0, 0
    pda = create_debiaser("pda", dataset, model, gamma=0.5, gamma_tilde=2.0, window=0.2)
    recent = np.array([1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(
        pda.ranking_scores(raw, users, user_emb, item_emb).numpy(), elu_plus_one(raw.numpy()) * recent ** 2.0, rtol=1e-6
    )
    # the whole span is the overall popularity
    whole = create_debiaser("pda", dataset, model, gamma=0.5, window=1.0)
    np.testing.assert_allclose(whole.inference_factor.numpy(), MINMAX ** 0.5, rtol=1e-6)
    # without timestamps the window is ignored: overall popularity
    untimed = create_debiaser("pda", make_dataset(), model, gamma=0.5, window=0.2)
    np.testing.assert_allclose(untimed.inference_factor.numpy(), MINMAX ** 0.5, rtol=1e-6)


def test_stages_need_timestamps(make_dataset, make_mf, hand):
    with pytest.raises(ValueError, match="stages.*timestamps"):
        create_debiaser("pda", make_dataset(), make_mf(hand.users, hand.items), stages=3)
