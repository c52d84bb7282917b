"""Loss formulas against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from graphrec.losses import LOSSES, bce_loss, bpr_loss, bpr_pair_loss, l2_penalty, loss_function, softmax_loss


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_bpr_averages_over_negatives():
    positive = torch.tensor([2.0, -1.0])
    negative = torch.tensor([[1.0, 3.0], [0.5, -4.0]])
    expected = [
        -(log_sigmoid(2.0 - 1.0) + log_sigmoid(2.0 - 3.0)) / 2,
        -(log_sigmoid(-1.0 - 0.5) + log_sigmoid(-1.0 + 4.0)) / 2,
    ]
    assert bpr_loss(positive, negative).tolist() == pytest.approx(expected, rel=1e-6)


def test_bpr_pair_loss_keeps_every_pair():
    positive = torch.tensor([2.0, -1.0])
    negative = torch.tensor([[1.0, 3.0], [0.5, -4.0]])
    expected = [[-log_sigmoid(1.0), -log_sigmoid(-1.0)], [-log_sigmoid(-1.5), -log_sigmoid(3.0)]]
    np.testing.assert_allclose(bpr_pair_loss(positive, negative).numpy(), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="expected positive scores"):
        bpr_pair_loss(positive, negative[0])


def test_bpr_with_one_negative_is_minus_log_sigmoid_of_the_margin():
    positive = torch.tensor([0.3])
    negative = torch.tensor([[0.1]])
    assert bpr_loss(positive, negative).item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.2))), rel=1e-6)


def test_bce_is_positive_term_plus_mean_negative_term():
    positive = torch.tensor([2.0])
    negative = torch.tensor([[1.0, -3.0, 0.0]])
    expected = -math.log(1 / (1 + math.exp(-2.0))) + (
        -math.log(1 - 1 / (1 + math.exp(-1.0)))
        - math.log(1 - 1 / (1 + math.exp(3.0)))
        - math.log(0.5)
    ) / 3
    assert bce_loss(positive, negative).item() == pytest.approx(expected, rel=1e-6)


def test_softmax_is_cross_entropy_of_the_positive_with_temperature():
    positive = torch.tensor([2.0])
    negative = torch.tensor([[1.0, 3.0]])
    tau = 0.5
    exps = [math.exp(2.0 / tau), math.exp(1.0 / tau), math.exp(3.0 / tau)]
    expected = -math.log(exps[0] / sum(exps))
    assert softmax_loss(positive, negative, temperature=tau).item() == pytest.approx(expected, rel=1e-6)
    assert loss_function("softmax", temperature=tau)(positive, negative).item() == pytest.approx(expected, rel=1e-6)


def test_large_scores_do_not_overflow():
    positive = torch.tensor([100.0, -100.0])
    negative = torch.tensor([[-100.0], [100.0]])
    for name in LOSSES:
        values = loss_function(name)(positive, negative)
        assert torch.isfinite(values).all(), name
    # the margin is -200 for the second example: -log sigma(-200) = 200
    assert bpr_loss(positive, negative).tolist() == pytest.approx([0.0, 200.0], abs=1e-6)


def test_bpr_gradient_matches_the_analytic_one():
    positive = torch.tensor([0.7], requires_grad=True)
    negative = torch.tensor([[0.2, 1.1]], requires_grad=True)
    bpr_loss(positive, negative).sum().backward()
    sigma = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # d/ds+ mean_j -log sigma(s+ - s-_j) = -mean_j sigma(s-_j - s+)
    assert positive.grad.item() == pytest.approx(-(sigma(0.2 - 0.7) + sigma(1.1 - 0.7)) / 2, rel=1e-6)
    assert negative.grad.tolist()[0] == pytest.approx([sigma(0.2 - 0.7) / 2, sigma(1.1 - 0.7) / 2], rel=1e-6)


def test_l2_penalty_matches_numpy():
    rng = np.random.default_rng(0)
    users, positives, negatives = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 2, 3))
    expected = 1e-2 * 0.5 * ((users**2).sum() + (positives**2).sum() + (negatives**2).sum()) / 4
    tensors = [torch.from_numpy(a).float() for a in (users, positives, negatives)]
    value = l2_penalty(*tensors, weight_decay=1e-2, batch_size=4)
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_bad_shapes_and_names_are_refused():
    with pytest.raises(ValueError, match=r"\[B, k\]"):
        bpr_loss(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="bpr, bce, softmax"):
        loss_function("hinge")
    with pytest.raises(ValueError, match="temperature"):
        loss_function("softmax", temperature=0.0)
