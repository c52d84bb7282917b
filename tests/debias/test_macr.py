"""MACR: fused training scores, the multi-task loss and counterfactual inference, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graphrec.debias import create_debiaser
from graphrec.graph import build
from graphrec.models import create_model

W_ITEM = np.array([0.7, -1.2])
W_USER = np.array([-0.4, 0.9])


def macr(make_dataset, model, **args):
    debias = create_debiaser("macr", make_dataset(), model, **args)
    with torch.no_grad():
        debias.item_branch.weight.copy_(torch.tensor(W_ITEM, dtype=torch.float32).unsqueeze(0))
        debias.user_branch.weight.copy_(torch.tensor(W_USER, dtype=torch.float32).unsqueeze(0))
    return debias


def hand_macr(hand):
    """Fused scores and branch logits of the hand batch."""
    y_k_pos, y_k_neg = hand.scores()
    y_u = hand.users[hand.batch_users] @ W_USER
    y_i_pos = hand.items[hand.positives] @ W_ITEM
    y_i_neg = hand.items[hand.negatives] @ W_ITEM
    s = hand.sigmoid
    positive = y_k_pos * s(y_i_pos) * s(y_u)
    negative = y_k_neg * s(y_i_neg) * s(y_u)[:, None]
    return positive, negative, y_u, y_i_pos, y_i_neg


@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_multi_task_loss_by_hand(make_dataset, make_mf, hand, run_objective, loss):
    model = make_mf(hand.users, hand.items)
    debias = macr(make_dataset, model, alpha=0.3, beta=0.2)
    positive, negative, y_u, y_i_pos, y_i_neg = hand_macr(hand)
    sp = hand.softplus
    if loss == "bce":  # L_O on the fused scores
        factual = sp(-positive) + sp(negative).mean(1)
    else:
        factual = sp(negative - positive[:, None]).mean(1)
    item = sp(-y_i_pos) + sp(y_i_neg).mean(1)  # BCE: positive labelled 1, negatives 0
    user = sp(-y_u) + sp(y_u)  # the user is labelled 1 with its positive, 0 with its negatives
    total, terms = run_objective(model, debias, loss=loss)
    assert terms["loss"] == pytest.approx(factual.mean(), rel=1e-5)
    assert terms["macr_item"] == pytest.approx(0.3 * item.mean(), rel=1e-5)
    assert terms["macr_user"] == pytest.approx(0.2 * user.mean(), rel=1e-5)
    assert total == pytest.approx(factual.mean() + 0.3 * item.mean() + 0.2 * user.mean(), rel=1e-5)


def test_zero_weights_leave_only_the_fused_loss(make_dataset, make_mf, hand, run_objective):
    model = make_mf(hand.users, hand.items)
    total, terms = run_objective(model, macr(make_dataset, model, alpha=0.0, beta=0.0), loss="bce")
    positive, negative, *_ = hand_macr(hand)
    assert set(terms) == {"loss"}
    assert total == pytest.approx((hand.softplus(-positive) + hand.softplus(negative).mean(1)).mean(), rel=1e-5)


def test_counterfactual_inference(make_dataset, make_mf, hand):
    model = make_mf(hand.users, hand.items)
    user_emb, item_emb = model(None)
    users = torch.tensor([0, 2])
    raw = model.full_scores(users, user_emb, item_emb)
    y_k = hand.users[[0, 2]] @ hand.items.T
    gate = hand.sigmoid(hand.users[[0, 2]] @ W_USER)[:, None] * hand.sigmoid(hand.items @ W_ITEM)[None, :]
    with torch.no_grad():
        ranked = macr(make_dataset, model, c=1.5).ranking_scores(raw, users, user_emb, item_emb)
        factual = macr(make_dataset, model, c=0.0).ranking_scores(raw, users, user_emb, item_emb)
    np.testing.assert_allclose(ranked.numpy(), y_k * gate - 1.5 * gate, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(factual.numpy(), y_k * gate, rtol=1e-5, atol=1e-7)


def test_c_zero_inference_is_the_factual_training_score(make_dataset, make_mf, hand):
    """What MACR ranks with c = 0 is exactly the fused score it trains on."""
    from graphrec.debias import ScoredBatch

    model = make_mf(hand.users, hand.items)
    debias = macr(make_dataset, model, c=0.0)
    users, positives, negatives = hand.tensors()
    with torch.no_grad():
        user_emb, item_emb = model(None)
        u, p, n = user_emb[users], item_emb[positives], item_emb[negatives]
        trained = debias.training_scores(
            ScoredBatch(users, positives, negatives, u, p, n, model.score(u, p), model.score(u.unsqueeze(1), n))
        )
        ranked = debias.ranking_scores(model.full_scores(users, user_emb, item_emb), users, user_emb, item_emb)
    rows = torch.arange(3)
    torch.testing.assert_close(ranked[rows, positives], trained.positive)
    torch.testing.assert_close(ranked[rows.unsqueeze(1), negatives], trained.negative)


@pytest.mark.parametrize("name, args, width", [
    ("lightgcn", {"embedding_dim": 6, "num_layers": 1}, 6),
    ("kgat", {"embedding_dim": 4, "relation_dim": 4, "layer_sizes": (3, 2)}, 9),  # KGAT concatenates its layers: output_dim
])
def test_branches_are_sized_by_the_representation(small_world, name, args, width):
    world = small_world
    model = create_model(name, build(world.dataset), **args)
    debias = create_debiaser("macr", world.dataset, model)
    assert debias.item_branch.weight.shape == (1, width) and debias.user_branch.weight.shape == (1, width)
    assert set(debias.state_dict()) == {"item_branch.weight", "user_branch.weight"}
