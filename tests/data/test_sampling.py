"""Negative samplers: never a positive, the right distribution (chi-square), seeding, dtype and device."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from graphrec.data import IdMap, Interactions
from graphrec.data.sampling import PopularityNegativeSampler, UniformNegativeSampler
from tests.helpers import read_ml100k


@pytest.fixture(scope="module")
def ml100k_train(data_root) -> Interactions:
    data = read_ml100k(data_root)
    # a train part that leaves some items unseen: drop every interaction of the
    # 100 least popular items and a random fifth of the rest
    counts = np.bincount(data.item, minlength=data.num_items)
    rare = np.argsort(counts, kind="stable")[:100]
    keep = ~np.isin(data.item, rare) & (np.random.default_rng(0).random(len(data)) < 0.8)
    return data.subset(keep)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


SAMPLERS = {
    "uniform": lambda train: UniformNegativeSampler(train),
    "popularity": lambda train: PopularityNegativeSampler(train, exponent=0.75),
    "popularity-negative": lambda train: PopularityNegativeSampler(train, exponent=-0.5),
}


@pytest.mark.parametrize("kind", list(SAMPLERS))
def test_never_returns_a_positive(ml100k_train, kind):
    sampler = SAMPLERS[kind](ml100k_train)
    users = torch.arange(ml100k_train.num_users).repeat(3)
    negatives = sampler.sample(users, 100, generator=generator(1))
    assert negatives.shape == (len(users), 100) and negatives.dtype == torch.int64
    assert negatives.device == torch.device("cpu")
    keys = users.numpy()[:, None] * ml100k_train.num_items + negatives.numpy()
    positives = ml100k_train.user.astype(np.int64) * ml100k_train.num_items + ml100k_train.item
    assert not np.isin(keys, positives).any()
    assert negatives.min() >= 0 and negatives.max() < ml100k_train.num_items
    if kind != "uniform":  # items unseen in training have weight 0
        unseen = np.flatnonzero(np.bincount(ml100k_train.item, minlength=ml100k_train.num_items) == 0)
        assert len(unseen) >= 100 and not np.isin(negatives.numpy(), unseen).any()


def _one_user_frequencies(sampler, user: int, draws: int, seed: int, num_items: int) -> np.ndarray:
    negatives = sampler.sample(torch.tensor([user]), draws, generator=generator(seed))
    return np.bincount(negatives.numpy().ravel(), minlength=num_items)


def test_uniform_distribution_chi_square(ml100k_train):
    train = ml100k_train
    user = int(np.argmax(np.bincount(train.user)))  # the most active user: most rejections
    positives = set(train.item[train.user == user].tolist())
    eligible = np.array([i for i in range(train.num_items) if i not in positives])
    assert len(positives) > 400
    frequencies = _one_user_frequencies(UniformNegativeSampler(train), user, 60 * len(eligible), 3, train.num_items)
    assert frequencies[sorted(positives)].sum() == 0
    observed = frequencies[eligible]
    assert chisquare(observed).pvalue > 1e-3  # uniform over the eligible items
    # a deliberately wrong reference (popularity-weighted) must be rejected: the test has power
    counts = np.bincount(train.item, minlength=train.num_items)[eligible] + 1.0
    wrong = counts / counts.sum() * observed.sum()
    assert chisquare(observed, wrong).pvalue < 1e-6


@pytest.mark.parametrize("exponent", [0.75, 1.0, -0.5])
def test_popularity_distribution_chi_square(ml100k_train, exponent):
    train = ml100k_train
    user = int(np.argsort(np.bincount(train.user))[-5])
    positives = set(train.item[train.user == user].tolist())
    counts = np.bincount(train.item, minlength=train.num_items).astype(np.float64)
    eligible = np.array([i for i in range(train.num_items) if i not in positives and counts[i] > 0])
    weights = counts[eligible] ** exponent
    sampler = PopularityNegativeSampler(train, exponent=exponent)
    draws = 400_000
    frequencies = _one_user_frequencies(sampler, user, draws, 4, train.num_items)
    assert frequencies.sum() == frequencies[eligible].sum() == draws
    expected = weights / weights.sum() * draws
    # chi-square needs expected counts >= 5: pool the rarest categories into one bin
    order = np.argsort(expected)
    small = order[np.cumsum(expected[order]) < 50]
    big = np.setdiff1d(np.arange(len(eligible)), small)
    observed, expected_binned = frequencies[eligible][big], expected[big]
    if len(small):
        observed = np.append(observed, frequencies[eligible][small].sum())
        expected_binned = np.append(expected_binned, expected[small].sum())
    assert expected_binned.min() >= 5
    assert chisquare(observed, expected_binned).pvalue > 1e-3


def test_popularity_by_hand_and_exponent_zero():
    # items 0..4 with training counts 0, 1, 2, 4, 8 (users 1..15, one interaction each);
    # user 0 has item 4 (count 8 is then 9), so it draws items 1, 2, 3 with weights 1, 2, 4
    item = np.concatenate([[4], np.repeat([1, 2, 3, 4], [1, 2, 4, 8])])
    user = np.arange(len(item))
    train = Interactions(user, item, IdMap.range(len(item)), IdMap(list("abcde")))
    draws = 70_000
    frequencies = _one_user_frequencies(PopularityNegativeSampler(train, exponent=1.0), 0, draws, 0, 5)
    assert frequencies[0] == frequencies[4] == 0
    assert chisquare(frequencies[1:4], np.array([1, 2, 4]) / 7 * draws).pvalue > 1e-3
    # exponent 0: uniform over every non-positive item, including the never-seen item 0
    frequencies = _one_user_frequencies(PopularityNegativeSampler(train, exponent=0.0), 0, 40_000, 0, 5)
    assert frequencies[4] == 0 and chisquare(frequencies[:4]).pvalue > 1e-3
    frequencies = _one_user_frequencies(PopularityNegativeSampler(train, exponent=2.0), 0, 63_000, 0, 5)
    assert chisquare(frequencies[1:4], np.array([1, 4, 16]) / 21 * 63_000).pvalue > 1e-3


def test_nearly_exhausted_and_exhausted_users():
    # user 0 has every item but 7 and 2; user 1 has every item; user 2 has nothing
    num_items = 10
    user = np.concatenate([np.zeros(8, dtype=np.int64), np.ones(10, dtype=np.int64)])
    item = np.concatenate([[0, 1, 3, 4, 5, 6, 8, 9], np.arange(10)])
    train = Interactions(user, item, IdMap(["ann", "bob", "cy"]), IdMap.range(num_items))
    sampler = UniformNegativeSampler(train)
    frequencies = _one_user_frequencies(sampler, 0, 4000, 0, num_items)
    assert set(np.flatnonzero(frequencies).tolist()) == {2, 7} and abs(frequencies[2] - 2000) < 200
    assert set(sampler.sample(torch.tensor([2] * 500), generator=generator(0)).ravel().tolist()) == set(range(10))
    with pytest.raises(ValueError, match="bob"):
        sampler.sample(torch.tensor([0, 1, 2]))
    # popularity: item 2 has no training interaction, so "dee" (items 0, 1) is exhausted
    # there but not for the uniform sampler
    small = Interactions(np.array([0, 0, 1]), np.array([0, 1, 0]), IdMap(["dee", "eve"]), IdMap.range(3))
    assert UniformNegativeSampler(small).sample(torch.tensor([0]), 5).tolist() == [[2] * 5]
    assert set(PopularityNegativeSampler(small).sample(torch.tensor([1]), 50).ravel().tolist()) == {1}
    with pytest.raises(ValueError, match="dee"):
        PopularityNegativeSampler(small).sample(torch.tensor([0]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        sampler.sample(torch.tensor([3]))


def test_seeded_determinism_shape_and_arguments(ml100k_train):
    for sampler in (UniformNegativeSampler(ml100k_train, device="cpu"), PopularityNegativeSampler(ml100k_train)):
        users = torch.tensor([0, 5, 5, 17], dtype=torch.int32)
        first = sampler.sample(users, 6, generator=generator(42))
        again = sampler.sample(users, 6, generator=generator(42))
        other = sampler.sample(users, 6, generator=generator(43))
        assert torch.equal(first, again) and not torch.equal(first, other)
        assert first.shape == (4, 6) and first.dtype == torch.int64 and first.device.type == "cpu"
        assert sampler.sample(users).shape == (4, 1)
        empty = sampler.sample(torch.empty(0, dtype=torch.long), 3)
        assert empty.shape == (0, 3) and empty.dtype == torch.int64
        with pytest.raises(ValueError, match="num_negatives"):
            sampler.sample(users, 0)
        with pytest.raises(ValueError, match="one-dimensional"):
            sampler.sample(users.view(2, 2))
        with pytest.raises(TypeError, match="integer"):
            sampler.sample(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="exponent"):
        PopularityNegativeSampler(ml100k_train, exponent=float("nan"))
