"""Training samplers: negatives never a positive, user-first positive pairs; the right distributions
(chi-square against probabilities counted independently), seeding, dtype and device."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from graphrec.data import IdMap, Interactions
from graphrec.data.sampling import PopularityNegativeSampler, UniformNegativeSampler, UserUniformPairSampler
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


# -- user-first (user, positive) pairs ---------------------------------------------------------
def test_user_uniform_pairs_follow_one_over_users_times_degree(ml100k_train):
    train = ml100k_train
    # duplicates count once: repeat a tenth of the interactions
    extra = np.random.default_rng(5).random(len(train)) < 0.1
    doubled = Interactions(
        np.concatenate([train.user, train.user[extra]]), np.concatenate([train.item, train.item[extra]]),
        train.user_ids, train.item_ids,
    )
    items_of: dict = {}
    for u, i in zip(train.user.tolist(), train.item.tolist()):
        items_of.setdefault(u, set()).add(i)
    sampler = UserUniformPairSampler(doubled)
    draws = 2_000_000
    users, items = sampler.sample(draws, generator=generator(3))
    assert users.shape == items.shape == (draws,) and users.dtype == items.dtype == torch.int64
    users_np, items_np = users.numpy(), items.numpy()
    assert all(i in items_of[u] for u, i in zip(users_np[:20000].tolist(), items_np[:20000].tolist()))
    # P(u) = 1 / |U+|: only users with training items, each equally often
    active = sorted(items_of)
    user_counts = np.bincount(users_np, minlength=train.num_users)
    assert set(np.flatnonzero(user_counts).tolist()) == set(active)
    assert chisquare(user_counts[active]).pvalue > 1e-4
    # P(i | u) = 1 / |I_u| for the most active user: a repeated interaction does not favour its item
    user = max(items_of, key=lambda u: len(items_of[u]))
    mine = items_np[users_np == user]
    counts = np.bincount(mine, minlength=train.num_items)[sorted(items_of[user])]
    assert counts.sum() == len(mine) and chisquare(counts).pvalue > 1e-4


def test_user_uniform_pairs_skip_users_without_items_and_are_seeded():
    users, items = np.array([0, 0, 2, 2, 2]), np.array([1, 1, 0, 1, 3])
    small = Interactions(users, items, IdMap([f"u{k}" for k in range(4)]), IdMap(list("abcd")))
    sampler = UserUniformPairSampler(small)
    drawn_users, drawn_items = sampler.sample(20000, generator=generator(0))
    assert set(drawn_users.tolist()) == {0, 2}  # users 1 and 3 have no training items
    assert set(drawn_items[drawn_users == 0].tolist()) == {1}  # the duplicate is one item
    share = (drawn_users == 0).double().mean().item()
    assert abs(share - 0.5) < 0.02  # users equally often, whatever their number of interactions
    first = sampler.sample(50, generator=generator(7))
    again = sampler.sample(50, generator=generator(7))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert [t.numel() for t in sampler.sample(0)] == [0, 0]
    with pytest.raises(ValueError, match="count"):
        sampler.sample(-1)
    with pytest.raises(ValueError, match="at least one"):
        UserUniformPairSampler(small.subset(np.zeros(5, dtype=bool)))
    assert "2 users with training items, 4 distinct pairs" in repr(sampler)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_samplers_draw_on_cuda_with_a_cuda_generator(ml100k_train):
    device = torch.device("cuda")
    pairs = UserUniformPairSampler(ml100k_train, device=device)
    cuda_generator = torch.Generator(device=device).manual_seed(0)
    users, items = pairs.sample(100_000, generator=cuda_generator)
    assert users.device.type == items.device.type == "cuda"
    keys = users.cpu().numpy() * ml100k_train.num_items + items.cpu().numpy()
    assert np.isin(keys, ml100k_train.pair_keys()).all()
    negatives = UniformNegativeSampler(ml100k_train, device=device).sample(users[:1000], 4, generator=cuda_generator)
    assert negatives.device.type == "cuda"
    negative_keys = users[:1000].cpu().numpy()[:, None] * ml100k_train.num_items + negatives.cpu().numpy()
    assert not np.isin(negative_keys, ml100k_train.pair_keys()).any()
