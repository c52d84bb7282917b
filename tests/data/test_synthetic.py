"""The synthetic world keeps the promises of its generative story.

Every check recomputes what it needs with NumPy / SciPy / pandas from the
returned arrays, or from hand arithmetic on the arguments.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from graphrec.data.dataset import RecDataset

from graphrec.data import SyntheticWorld, synthetic
from graphrec.data.synthetic_world import gini, spearman

SMALL = dict(num_users=600, num_items=300, relations={"genre": 6, "brand": 15}, values_per_item=1)


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return synthetic(**SMALL, seed=3)


@pytest.fixture(scope="module")
def default_world() -> SyntheticWorld:
    return synthetic()


def _arrays(w: SyntheticWorld) -> dict:
    d, kg = w.dataset, w.dataset.kg
    return {
        "preference": w.preference,
        "propensity": w.propensity,
        **{f"{s}_{c}": getattr(getattr(d, s), c) for s in ("train", "valid", "test") for c in ("user", "item")},
        "kg_head": kg.head,
        "kg_relation": kg.relation,
        "kg_tail": kg.tail,
        "random_user": w.random_exposure.user,
        "random_item": w.random_exposure.item,
        "random_rating": w.random_exposure.rating,
    }


def _share_attribute(kg, num_items: int) -> np.ndarray:
    """Boolean item x item matrix: the two items share some attribute entity."""
    membership = np.zeros((num_items, kg.num_entities), dtype=np.int64)
    membership[kg.head, kg.tail] = 1
    return (membership @ membership.T) > 0


# -- reproducibility and shapes ------------------------------------------------
def test_same_seed_gives_identical_arrays_and_other_seed_differs(world):
    again, other = _arrays(synthetic(**SMALL, seed=3)), _arrays(synthetic(**SMALL, seed=4))
    for name, array in _arrays(world).items():
        assert array.dtype == again[name].dtype and array.tobytes() == again[name].tobytes(), name
    assert not np.array_equal(world.preference, other["preference"])
    assert not np.array_equal(world.dataset.train.item, other["train_item"])


def test_shapes_dtypes_and_ranges(world):
    d = world.dataset
    assert isinstance(d, RecDataset) and d.name == "synthetic"
    assert (d.num_users, d.num_items) == (600, 300)
    for matrix in (world.preference, world.propensity):
        assert matrix.shape == (600, 300) and matrix.dtype == np.float32
    assert ((world.preference > 0) & (world.preference < 1)).all()
    assert ((world.propensity >= 1e-3) & (world.propensity <= 1)).all()
    assert d.propensity is world.propensity
    assert world.user_factors.shape == (600, 16) and world.item_factors.shape == (300, 16)
    np.testing.assert_array_equal(d.user_ids.raw, np.arange(600))
    np.testing.assert_array_equal(d.item_ids.raw, np.arange(300))


def test_preference_is_the_documented_sigmoid(world):
    # p = sigmoid(s <U_u, V_i> + quality_i + bias), recomputed in float64
    logits = 2.0 * world.user_factors.astype(np.float64) @ world.item_factors.T.astype(np.float64)
    logits += world.item_quality.astype(np.float64) - 2.0
    np.testing.assert_allclose(world.preference, 1.0 / (1.0 + np.exp(-logits)), atol=2e-6)


def test_propensity_is_clipped_popularity_times_activity(world):
    expected = np.clip(world.exposure_base * np.outer(world.user_activity, world.exposure_popularity), 1e-3, 1.0)
    np.testing.assert_allclose(world.propensity, expected, rtol=1e-5)
    # Zipf with exponent 1 over a permutation of the ranks 1..num_items
    np.testing.assert_allclose(np.sort(1.0 / world.exposure_popularity), np.arange(1, 301), rtol=1e-4)
    assert world.user_activity.mean() == pytest.approx(1.0, rel=1e-5)


def test_default_size(default_world):
    s = default_world.summary()
    assert (s["users"], s["items"]) == (3000, 2000)
    # genre 2 + brand 1 + era 1 values per item; 2000 items + 20 + 100 + 8 attribute entities
    assert (s["triples"], s["entities"], s["relations"]) == (8000, 2128, 3)
    assert s["random_exposures"] == 3000 * 20


# -- knowledge graph -----------------------------------------------------------
def test_kg_statistics_are_hand_computable():
    w = synthetic(
        40, 50, relations={"genre": 5, "brand": 7, "era": 3}, values_per_item={"genre": 2}, clicks_per_user=3, seed=1
    )
    kg = w.dataset.kg
    assert kg.num_triples == 50 * (2 + 1 + 1)
    assert kg.num_entities == 50 + 5 + 7 + 3
    assert list(kg.relation_names) == ["genre", "brand", "era"]
    np.testing.assert_array_equal(kg.item_entity, np.arange(50))
    assert list(kg.entity_names[:3]) == ["item:0", "item:1", "item:2"]
    assert list(kg.entity_names[50:]) == [f"genre:{k}" for k in range(5)] + [f"brand:{k}" for k in range(7)] + [
        f"era:{k}" for k in range(3)
    ]
    names = pd.DataFrame(
        {
            "head": kg.entity_names[kg.head],
            "relation": kg.relation_names[kg.relation],
            "tail": kg.entity_names[kg.tail],
        }
    )
    assert names["head"].str.startswith("item:").all()
    assert (names["tail"].str.split(":").str[0] == names["relation"]).all()
    assert not names.duplicated().any()
    per_item = names.groupby(["head", "relation"]).size().unstack()
    assert per_item.shape == (50, 3)
    assert (per_item["genre"] == 2).all() and (per_item["brand"] == 1).all() and (per_item["era"] == 1).all()


def test_kg_carries_preference_and_more_so_with_kg_strength():
    pairs = np.triu_indices(SMALL["num_items"], 1)
    gaps = []
    for kg_strength in (0.0, 0.4, 0.8):
        w = synthetic(**SMALL, kg_strength=kg_strength, seed=5)
        similarity = np.corrcoef(w.preference.T)[pairs]
        shared = _share_attribute(w.dataset.kg, SMALL["num_items"])[pairs]
        together, apart = similarity[shared], similarity[~shared]
        gaps.append(together.mean() - apart.mean())
        if kg_strength > 0:
            result = stats.mannwhitneyu(together, apart, alternative="greater")
            assert result.pvalue < 1e-6
    assert abs(gaps[0]) < 0.02  # no KG signal: sharing an attribute means nothing
    assert gaps[0] + 0.05 < gaps[1] < gaps[2] - 0.05


# -- exposure bias ---------------------------------------------------------------
def test_observed_popularity_follows_propensity_not_preference(default_world):
    w = default_world
    counts = w.observed().item_counts()
    with_propensity = stats.spearmanr(w.propensity.mean(axis=0, dtype=np.float64), counts).statistic
    with_preference = stats.spearmanr(w.preference.mean(axis=0, dtype=np.float64), counts).statistic
    assert with_propensity > 0.7
    assert with_propensity > with_preference + 0.3
    # the diagnostics the summary prints agree with SciPy and with a pairwise Gini
    s = w.summary()
    assert s["spearman_propensity_observed"] == pytest.approx(with_propensity, abs=1e-9)
    assert s["spearman_preference_observed"] == pytest.approx(with_preference, abs=1e-9)
    pairwise_gini = np.abs(counts[:, None] - counts[None, :]).sum() / (2 * len(counts) ** 2 * counts.mean())
    assert s["gini_observed_popularity"] == pytest.approx(pairwise_gini, rel=1e-9)
    assert s["gini_observed_popularity"] > s["gini_true_popularity"] + 0.2


def test_clicks_per_user_is_calibrated(default_world):
    w = default_world
    expected = (w.propensity.astype(np.float64) * w.preference).sum() / 3000
    assert expected == pytest.approx(25.0, rel=1e-3)
    observed = len(w.observed()) / 3000
    # 75,000 Bernoulli draws: the realised mean is within a few standard errors
    assert observed == pytest.approx(25.0, abs=0.25)


def test_clicks_are_a_biased_sample_of_relevance(world):
    observed = world.observed()
    clicked_preference = world.preference[observed.user, observed.item].mean()
    assert clicked_preference > world.preference.mean() + 0.1
    # popular items (top decile of propensity) collect a larger share of clicks than of relevance
    popular = world.exposure_popularity >= np.quantile(world.exposure_popularity, 0.9)
    click_share = np.isin(observed.item, np.flatnonzero(popular)).mean()
    relevance_share = world.preference[:, popular].sum() / world.preference.sum()
    assert click_share > 2 * relevance_share


def test_no_popularity_exponent_means_uniform_exposure_per_user():
    w = synthetic(**SMALL, popularity_exponent=0.0, seed=2)
    assert (np.ptp(w.propensity, axis=1) == 0).all()
    assert np.ptp(w.propensity[:, 0]) > 0  # user activity still differs
    flat = synthetic(**SMALL, popularity_exponent=0.0, activity_spread=0.0, seed=2)
    assert np.unique(flat.propensity).size == 1


def test_exposure_arguments_leave_preferences_unchanged(world):
    other = synthetic(**SMALL, popularity_exponent=2.0, seed=3)
    np.testing.assert_array_equal(world.preference, other.preference)
    assert not np.array_equal(world.propensity, other.propensity)


# -- unbiased test set -------------------------------------------------------------
def test_unbiased_clicks_track_preference_better_than_biased_counts():
    w = synthetic(random_exposures_per_user=60, seed=1)
    mean_preference = w.preference.mean(axis=0)
    exposure = w.random_exposure.to_pandas()
    click_rate = exposure.groupby("item")["rating"].mean()
    unbiased = stats.pearsonr(mean_preference[click_rate.index], click_rate.to_numpy()).statistic
    biased = stats.pearsonr(mean_preference, w.dataset.train.item_counts()).statistic
    assert unbiased > 0.6
    assert unbiased > biased + 0.2
    # the random clicks happen at the rate p of the pairs shown (a binomial check)
    shown_p = w.preference[w.random_exposure.user, w.random_exposure.item].astype(np.float64)
    clicks = w.random_exposure.rating.sum()
    assert abs(clicks - shown_p.sum()) < 5 * np.sqrt((shown_p * (1 - shown_p)).sum())


def test_random_exposure_is_uniform_and_consistent_with_relevance(world):
    exposure, clicks = world.random_exposure, world.unbiased_test
    assert (exposure.user_counts() == 20).all()
    assert np.unique(exposure.pair_keys()).size == len(exposure)
    np.testing.assert_array_equal(exposure.rating, world.relevance[exposure.user, exposure.item])
    np.testing.assert_array_equal(clicks.pair_keys(), exposure.pair_keys()[exposure.rating == 1])
    # every observed click is relevant, so a randomly shown clicked pair is clicked again
    observed = world.observed()
    assert world.relevance[observed.user, observed.item].all()
    repeated = np.isin(exposure.pair_keys(), observed.pair_keys())
    assert (exposure.rating[repeated] == 1).all()
    assert world.summary()["unbiased_overlap"] == repeated.sum()
    # uniform over items: item exposure counts pass a chi-square test against equal counts
    assert stats.chisquare(exposure.item_counts()).pvalue > 1e-4
    none = synthetic(**SMALL, random_exposures_per_user=0, seed=3)
    assert len(none.random_exposure) == 0 and len(none.unbiased_test) == 0


# -- split ---------------------------------------------------------------------------
def test_split_is_disjoint_per_user_and_keeps_a_training_click_for_everyone(world):
    d = world.dataset
    keys = [d.train.pair_keys(), d.valid.pair_keys(), d.test.pair_keys()]
    everything = np.concatenate(keys)
    assert np.unique(everything).size == everything.size
    assert (d.train.user_counts() >= 1).all()
    total = len(everything)
    assert len(d.train) / total == pytest.approx(0.8, abs=0.03)
    assert len(d.test) / total == pytest.approx(0.1, abs=0.03)
    # a user with 10 clicks keeps 8 / 1 / 1
    per_user = np.stack([part.user_counts() for part in (d.train, d.valid, d.test)], axis=1)
    ten = per_user.sum(axis=1) == 10
    assert ten.any() and (per_user[ten] == [8, 1, 1]).all()


def test_small_train_ratio_and_zero_valid_ratio():
    few = synthetic(**SMALL, ratios=(0.3, 0.3, 0.4), clicks_per_user=2, seed=0)
    assert (few.dataset.train.user_counts() >= 1).all()  # a user with 1 click keeps it for training
    no_valid = synthetic(**SMALL, ratios=(0.9, 0.0, 0.1), seed=0)
    assert len(no_valid.dataset.valid) == 0
    assert len(no_valid.dataset.train) + len(no_valid.dataset.test) == len(no_valid.observed())


def test_sparse_world_forces_one_click_for_empty_users():
    w = synthetic(**SMALL, clicks_per_user=0.3, seed=0)
    assert len(w.forced_users) > 100  # P(no click) is about exp(-0.3) for most users
    assert (w.dataset.train.user_counts() >= 1).all()
    counts = w.observed().user_counts()
    assert (counts[w.forced_users] == 1).all()
    assert w.relevance[w.forced_users].any(axis=1).all()
    assert w.summary()["forced_clicks"] == len(w.forced_users)


# -- diagnostics helpers against SciPy -------------------------------------------------
def test_spearman_and_gini_helpers_on_hand_inputs():
    x = np.array([3, 1, 2, 2, 5])
    y = np.array([10.0, 0.0, 4.0, 7.0, 9.0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert gini(np.array([1, 1, 1, 1])) == 0.0
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n - 1) / n
    assert gini(np.array([1, 3])) == pytest.approx(0.25)  # |1 - 3| * 2 / (2 * 2^2 * 2)


# -- argument validation -------------------------------------------------------------
@pytest.mark.parametrize(
    "arguments, name",
    [
        (dict(num_users=0), "num_users"),
        (dict(num_items=1.5), "num_items"),
        (dict(dim=0), "dim"),
        (dict(kg_strength=1.5), "kg_strength"),
        (dict(kg_strength=float("nan")), "kg_strength"),
        (dict(popularity_exponent=-1), "popularity_exponent"),
        (dict(popularity_quality_correlation=2), "popularity_quality_correlation"),
        (dict(clicks_per_user=0), "clicks_per_user"),
        (dict(clicks_per_user=1e6), "clicks_per_user"),
        (dict(min_propensity=1.0), "min_propensity"),
        (dict(min_propensity=0.9), "min_propensity"),
        (dict(random_exposures_per_user=301), "random_exposures_per_user"),
        (dict(ratios=(0.5, 0.5)), "ratios"),
        (dict(ratios=(0.8, 0.1, 0.2)), "ratios"),
        (dict(ratios=(0.0, 0.5, 0.5)), "ratios"),
        (dict(seed=-1), "seed"),
        (dict(relations={}), "relations"),
        (dict(relations={"item": 3}), "relations"),
        (dict(relations={"genre": 0}), "relations"),
        (dict(values_per_item={"genre": 7}), "values_per_item"),
        (dict(values_per_item={"actor": 1}), "values_per_item"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, name):
    base = dict(SMALL)
    base.update(arguments)
    with pytest.raises(ValueError, match=name):
        synthetic(**base)
