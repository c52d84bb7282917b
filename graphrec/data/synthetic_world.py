r"""A synthetic recommendation world whose true preferences and exposure are known.

It is the package's embedded default dataset (nothing to download), and its
known ground truth lets debiasing methods (IPS, MACR, PDA, DICE, ...) be checked
against the preferences they try to recover.

Generative story
----------------
Latent factors, all coordinates i.i.d. :math:`\mathcal N(0, d^{-1/2})` so that
an inner product of two of them has unit variance:

* users :math:`U_u \in \mathbb R^d`;
* one vector :math:`a_e` per attribute entity (``genre:3``, ``brand:41``, ...);
* one own vector :math:`o_i` per item.

Knowledge graph: relation :math:`r` (e.g. ``genre``) has :math:`n_r` values;
item :math:`i` takes a set :math:`A_r(i)` of :math:`m_r` distinct values drawn
uniformly, giving the triples ``(item:i, r, r:e)``, :math:`e \in A_r(i)`.
With :math:`M = \sum_r m_r` attributes per item and KG share
:math:`\kappa` (``kg_strength``) the item factor is

.. math::
    g_i = \frac{1}{\sqrt M} \sum_r \sum_{e \in A_r(i)} a_e, \qquad
    V_i = \sqrt{\kappa}\, g_i + \sqrt{1 - \kappa}\, o_i ,

so :math:`g_i` and :math:`o_i` have the same variance and :math:`\kappa` is the
share of the variance of :math:`\langle U_u, V_i\rangle` that the KG carries.

True preference, with item quality :math:`z_i \sim \mathcal N(0, 1)`:

.. math::
    p_{ui} = \sigma\big(s\, \langle U_u, V_i \rangle + \tau z_i + \beta\big)

(``preference_scale`` :math:`s`, ``quality_std`` :math:`\tau`,
``preference_bias`` :math:`\beta`).

Exposure: item popularity is Zipfian over a random ranking that may follow
quality (``popularity_quality_correlation`` :math:`\rho`), user activity is
log-normal (``activity_spread`` :math:`\sigma_a`):

.. math::
    c_i = \rho z_i + \sqrt{1-\rho^2}\,\epsilon_i, \quad
    \pi_i = \operatorname{rank}_i(c)^{-\alpha}, \quad
    w_u \propto e^{\sigma_a \eta_u},\ \bar w = 1, \quad
    q_{ui} = \operatorname{clip}(b\, w_u \pi_i,\ q_{\min},\ 1)

(rank 1 is the largest :math:`c_i`; :math:`\alpha` is ``popularity_exponent``,
:math:`q_{\min}` is ``min_propensity``). The base rate :math:`b` is solved for
so that the expected number of clicks per user,
:math:`\frac{1}{|U|}\sum_{u,i} q_{ui} p_{ui}`, equals ``clicks_per_user``.

Observation: relevance :math:`R_{ui} \sim \text{Bernoulli}(p_{ui})` and exposure
:math:`O_{ui} \sim \text{Bernoulli}(q_{ui})` are independent; the observed
click is :math:`Y_{ui} = O_{ui} R_{ui}`, so :math:`E[Y_{ui}] = q_{ui} p_{ui}`:
the clicks are a popularity-biased sample of the true preference.

* A user left without any click gets exactly one, so that every user has a
  training interaction: an item they find relevant (:math:`R_{ui} = 1`), drawn
  with probability :math:`\propto q_{ui}` (a user with no relevant item gets
  one drawn :math:`\propto q_{ui} p_{ui}`, which then counts as relevant);
  :attr:`SyntheticWorld.forced_users` lists them.
* The clicks are split per user at random into train / valid / test by
  :func:`graphrec.data.split.random_split` with ``ratios`` (a user with
  :math:`n` clicks keeps :math:`\max(1, \lfloor r_0 n + \tfrac12 \rfloor)`
  for training; a zero ratio leaves its part empty).
* Random exposure (the analogue of Coat's test set): each user is shown
  ``random_exposures_per_user`` items drawn uniformly without replacement from
  all items, independently of the biased exposure, and clicks exactly when
  :math:`R_{ui} = 1` (the same relevance draw, so a pair clicked in the biased
  data is clicked here too). The click rate is therefore an unbiased estimate of
  :math:`p`. Because the draw ignores the observed clicks, a few random clicks
  (about :math:`\overline{qp} / \bar p` of them) repeat an observed click;
  ``summary()['unbiased_overlap']`` counts them, and an evaluator that masks
  training items should leave those out. Every exposed pair is in
  :attr:`SyntheticWorld.random_exposure` (rating 1 = click, 0 = none); the
  clicks form :attr:`SyntheticWorld.unbiased_test`.

Every stage draws from its own child of ``numpy.random.SeedSequence(seed)``, so
the same seed gives the same arrays bit for bit, and worlds that differ only in
exposure arguments share factors and relevance draws (common random numbers).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .dataset import RecDataset
from .idmap import IdMap
from .interactions import Interactions
from .knowledge_graph import KnowledgeGraph
from .split import random_split

# Read-only so that the defaults cannot be changed for every later call.
DEFAULT_RELATIONS: Mapping[str, int] = MappingProxyType({"genre": 20, "brand": 100, "era": 8})
DEFAULT_VALUES_PER_ITEM: Mapping[str, int] = MappingProxyType({"genre": 2})

# Child seed streams, by stage; a new stage goes at the end so old worlds stay put.
_STREAMS = ("factors", "kg", "quality", "popularity", "activity", "exposure", "relevance", "forced", "split", "random")
_RELATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(eq=False)
class SyntheticWorld:
    """A synthetic dataset together with the truth that generated it.

    ``preference[u, i]`` is :math:`p_{ui}` and ``propensity[u, i]`` is
    :math:`q_{ui}` (both ``float32``, ``num_users x num_items``); the
    dataset's clicks were drawn with probability :math:`q_{ui} p_{ui}`.
    ``relevance`` (bool, same shape) is the realised :math:`R_{ui}`, of which
    the observed clicks and the random-exposure clicks are samples.
    ``unbiased_test`` holds the clicks under uniform random exposure,
    ``random_exposure`` every randomly exposed pair (rating 1.0 click, 0.0 no
    click). ``user_factors`` / ``item_factors`` are :math:`U` and :math:`V`,
    ``item_quality`` is :math:`\\tau z_i`, ``exposure_popularity`` is
    :math:`\\pi_i`, ``user_activity`` is :math:`w_u`, ``exposure_base`` is
    :math:`b`; ``forced_users`` are the users whose single click was forced;
    ``config`` holds the arguments the world was built with.
    """

    dataset: RecDataset
    preference: np.ndarray
    propensity: np.ndarray
    relevance: np.ndarray
    unbiased_test: Interactions
    random_exposure: Interactions
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_quality: np.ndarray
    exposure_popularity: np.ndarray
    user_activity: np.ndarray
    exposure_base: float
    forced_users: np.ndarray
    config: Dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"SyntheticWorld({self.dataset!r}, unbiased_test={len(self.unbiased_test)})"

    def observed(self) -> Interactions:
        """All observed clicks: train, valid and test together."""
        return self.dataset.all_interactions()

    def summary(self) -> Dict[str, Union[int, float]]:
        """Sizes and bias diagnostics, as plain Python numbers.

        Besides :meth:`RecDataset.stats`: ``unbiased_test`` and
        ``random_exposures`` (sizes), ``clicks_per_user`` and ``density`` of
        the observed clicks, ``mean_preference`` / ``mean_propensity`` (means
        of :math:`p` and :math:`q`), ``forced_clicks``, ``unbiased_overlap``
        (unbiased test clicks that are also observed clicks); Gini coefficients of
        item popularity observed (click counts) and true (column sums of
        :math:`p`, the counts under uniform exposure); Spearman correlations
        of observed item click counts with the item's mean propensity and
        with its mean preference, and of the unbiased test's item click counts
        with mean preference. A biased world has ``spearman_propensity_observed``
        well above ``spearman_preference_observed``.
        """
        observed = self.observed()
        observed_counts = observed.item_counts()
        unbiased_counts = self.unbiased_test.item_counts()
        mean_preference = self.preference.mean(axis=0, dtype=np.float64)
        mean_propensity = self.propensity.mean(axis=0, dtype=np.float64)
        stats: Dict[str, Union[int, float]] = dict(self.dataset.stats())
        observed_total = len(observed)
        stats.update(
            unbiased_test=len(self.unbiased_test),
            random_exposures=len(self.random_exposure),
            clicks_per_user=observed_total / self.dataset.num_users,
            density=observed_total / (self.dataset.num_users * self.dataset.num_items),
            mean_preference=float(self.preference.mean(dtype=np.float64)),
            mean_propensity=float(self.propensity.mean(dtype=np.float64)),
            forced_clicks=int(len(self.forced_users)),
            unbiased_overlap=int(np.isin(self.unbiased_test.pair_keys(), observed.pair_keys()).sum()),
            gini_observed_popularity=gini(observed_counts),
            gini_true_popularity=gini(self.preference.sum(axis=0, dtype=np.float64)),
            spearman_propensity_observed=spearman(mean_propensity, observed_counts),
            spearman_preference_observed=spearman(mean_preference, observed_counts),
            spearman_preference_unbiased=spearman(mean_preference, unbiased_counts),
        )
        return stats


def synthetic(
    num_users: int = 3000,
    num_items: int = 2000,
    *,
    dim: int = 16,
    relations: Mapping[str, int] = DEFAULT_RELATIONS,
    values_per_item: Union[int, Mapping[str, int]] = DEFAULT_VALUES_PER_ITEM,
    kg_strength: float = 0.6,
    preference_scale: float = 2.0,
    preference_bias: float = -2.0,
    quality_std: float = 0.5,
    popularity_exponent: float = 1.0,
    popularity_quality_correlation: float = 0.0,
    activity_spread: float = 0.5,
    clicks_per_user: float = 25.0,
    min_propensity: float = 1e-3,
    random_exposures_per_user: int = 20,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> SyntheticWorld:
    """Build the synthetic world described in the module docstring.

    ``relations`` maps each KG relation name to its number of values;
    ``values_per_item`` says how many distinct values of a relation each item
    takes (one int for all relations, or a mapping; relations it leaves out
    take 1). The KG then has ``num_items * sum(values_per_item)`` triples and
    ``num_items + sum(relations.values())`` entities (``item:i`` first, aligned
    to item ``i``, then ``genre:0``, ...). All other arguments are the symbols
    of the generative story. Raises ``ValueError`` naming the argument when one
    is out of range, or when ``clicks_per_user`` cannot be reached.
    """
    num_users = _check_int("num_users", num_users, low=1)
    num_items = _check_int("num_items", num_items, low=2)
    dim = _check_int("dim", dim, low=1)
    relation_sizes, values_per_relation = _check_relations(relations, values_per_item)
    kg_strength = _check_float("kg_strength", kg_strength, 0.0, 1.0)
    preference_scale = _check_float("preference_scale", preference_scale, 0.0, math.inf)
    preference_bias = _check_float("preference_bias", preference_bias, -math.inf, math.inf)
    quality_std = _check_float("quality_std", quality_std, 0.0, math.inf)
    popularity_exponent = _check_float("popularity_exponent", popularity_exponent, 0.0, math.inf)
    rho = _check_float("popularity_quality_correlation", popularity_quality_correlation, -1.0, 1.0)
    activity_spread = _check_float("activity_spread", activity_spread, 0.0, math.inf)
    clicks_per_user = _check_float("clicks_per_user", clicks_per_user, 0.0, math.inf, open_low=True)
    min_propensity = _check_float("min_propensity", min_propensity, 0.0, 1.0, open_high=True)
    random_exposures = _check_int("random_exposures_per_user", random_exposures_per_user, low=0, high=num_items)
    ratios = _check_ratios(ratios)
    seed = _check_int("seed", seed, low=0)
    config = dict(
        num_users=num_users, num_items=num_items, dim=dim, relations=dict(relation_sizes),
        values_per_item=dict(values_per_relation), kg_strength=kg_strength, preference_scale=preference_scale,
        preference_bias=preference_bias, quality_std=quality_std, popularity_exponent=popularity_exponent,
        popularity_quality_correlation=rho, activity_spread=activity_spread, clicks_per_user=clicks_per_user,
        min_propensity=min_propensity, random_exposures_per_user=random_exposures, ratios=ratios, seed=seed,
    )
    rngs = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS)))))

    # -- preference ---------------------------------------------------------
    kg, item_attributes = _knowledge_graph(num_items, relation_sizes, values_per_relation, rngs["kg"])
    factor_std = dim ** -0.25
    factor_rng = rngs["factors"]
    user_factors = factor_rng.normal(0.0, factor_std, (num_users, dim))
    attribute_factors = factor_rng.normal(0.0, factor_std, (kg.num_entities - num_items, dim))
    own_factors = factor_rng.normal(0.0, factor_std, (num_items, dim))
    kg_part = attribute_factors[item_attributes].sum(axis=1) / math.sqrt(item_attributes.shape[1])
    item_factors = math.sqrt(kg_strength) * kg_part + math.sqrt(1.0 - kg_strength) * own_factors
    quality_score = rngs["quality"].standard_normal(num_items)
    item_quality = quality_std * quality_score
    user_factors = user_factors.astype(np.float32)
    item_factors = item_factors.astype(np.float32)
    logits = user_factors @ item_factors.T
    logits *= np.float32(preference_scale)
    logits += (item_quality + preference_bias).astype(np.float32)
    preference = _sigmoid_(logits)

    # -- exposure -----------------------------------------------------------
    popularity_score = rho * quality_score + math.sqrt(1.0 - rho * rho) * rngs["popularity"].standard_normal(num_items)
    rank = np.empty(num_items, dtype=np.int64)
    rank[np.argsort(-popularity_score, kind="stable")] = np.arange(1, num_items + 1)
    exposure_popularity = rank.astype(np.float64) ** -popularity_exponent
    user_activity = np.exp(activity_spread * rngs["activity"].standard_normal(num_users))
    user_activity /= user_activity.mean()
    unscaled = np.outer(user_activity, exposure_popularity).astype(np.float32)
    exposure_base = _solve_exposure_base(unscaled, preference, min_propensity, clicks_per_user * num_users)
    propensity = unscaled  # reuse the buffer: q = clip(b * w_u * pi_i, q_min, 1)
    propensity *= np.float32(exposure_base)
    np.clip(propensity, np.float32(min_propensity), np.float32(1.0), out=propensity)

    # -- observation --------------------------------------------------------
    relevant = rngs["relevance"].random((num_users, num_items), dtype=np.float32) < preference
    clicked = rngs["exposure"].random((num_users, num_items), dtype=np.float32) < propensity
    clicked &= relevant
    forced_users = _force_one_click(clicked, relevant, propensity, preference, rngs["forced"])
    user, item = np.nonzero(clicked)  # row-major: sorted by user, then item

    user_ids, item_ids = IdMap.range(num_users), IdMap.range(num_items)
    observed = Interactions(user=user, item=item, user_ids=user_ids, item_ids=item_ids)
    train, valid, test = _split(observed, ratios, rngs["split"])
    dataset = RecDataset(name="synthetic", train=train, valid=valid, test=test, kg=kg, propensity=propensity)

    random_exposure = _random_exposure(relevant, random_exposures, rngs["random"], user_ids, item_ids)
    unbiased_test = random_exposure.subset(random_exposure.rating > 0)
    return SyntheticWorld(
        dataset=dataset,
        preference=preference,
        propensity=propensity,
        relevance=relevant,
        unbiased_test=unbiased_test,
        random_exposure=random_exposure,
        user_factors=user_factors,
        item_factors=item_factors,
        item_quality=item_quality.astype(np.float32),
        exposure_popularity=exposure_popularity.astype(np.float32),
        user_activity=user_activity.astype(np.float32),
        exposure_base=float(exposure_base),
        forced_users=forced_users,
        config=config,
    )


# -- stages ----------------------------------------------------------------
def _knowledge_graph(
    num_items: int, relation_sizes: Dict[str, int], values_per_relation: Dict[str, int], rng: np.random.Generator
) -> Tuple[KnowledgeGraph, np.ndarray]:
    """The KG and ``item_attributes[i]``: item ``i``'s attribute entities,
    numbered from 0 among attribute entities (entity index minus ``num_items``)."""
    columns = []
    offset = 0
    # A loop over the handful of relations, not over data.
    for name, size in relation_sizes.items():
        per_item = values_per_relation[name]
        if per_item == 1:
            chosen = rng.integers(0, size, (num_items, 1))
        else:
            # The per_item smallest of i.i.d. uniform keys: a uniform subset without replacement.
            chosen = np.argpartition(rng.random((num_items, size)), per_item - 1, axis=1)[:, :per_item]
            chosen.sort(axis=1)
        columns.append(chosen + offset)
        offset += size
    item_attributes = np.concatenate(columns, axis=1)

    relation_of_column = np.repeat(np.arange(len(relation_sizes)), list(values_per_relation.values()))
    head = np.repeat(np.arange(num_items), item_attributes.shape[1])
    relation = np.tile(relation_of_column, num_items)
    tail = item_attributes.ravel() + num_items
    entity_names = np.concatenate(
        [_names("item", num_items)] + [_names(name, size) for name, size in relation_sizes.items()]
    )
    kg = KnowledgeGraph(
        head=head,
        relation=relation,
        tail=tail,
        entity_names=entity_names,
        relation_names=np.array(list(relation_sizes), dtype=object),
        item_entity=np.arange(num_items),
    )
    return kg, item_attributes


def _names(prefix: str, count: int) -> np.ndarray:
    return np.char.add(f"{prefix}:", np.arange(count).astype(str)).astype(object)


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in place, through tanh so that no exp overflows."""
    x *= np.float32(0.5)
    np.tanh(x, out=x)
    x += np.float32(1.0)
    x *= np.float32(0.5)
    return x


def _solve_exposure_base(unscaled: np.ndarray, preference: np.ndarray, floor: float, target: float) -> float:
    """The ``b`` with ``sum(clip(b * unscaled, floor, 1) * preference) == target``.

    The left side rises monotonically from ``floor * sum(p)`` to ``sum(p)``; it
    is piecewise linear in ``b``, so Newton steps converge fast, and a
    bracket with geometric bisection keeps them safe at the kinks.
    """
    flat_unscaled, flat_preference = unscaled.ravel(), preference.ravel()
    total = float(preference.sum(dtype=np.float64))
    if target >= total:
        raise ValueError(
            f"clicks_per_user must stay below the mean number of relevant items per user "
            f"({total / unscaled.shape[0]:.4g} with these preference arguments), got {target / unscaled.shape[0]:.4g}"
        )
    if floor * total >= target:
        raise ValueError(
            f"min_propensity must be below {target / total:.4g} for clicks_per_user={target / unscaled.shape[0]:.4g} "
            f"(exposing every pair with it alone yields more clicks), got {floor}"
        )
    buffer, product = np.empty_like(flat_unscaled), np.empty_like(flat_unscaled)

    def weighted_sum(values: np.ndarray) -> float:
        # float32 pairwise summation: 1e-8 relative error here, 10x faster than float64
        np.multiply(values, flat_preference, out=product)
        return float(product.sum())

    def clicks_and_slope(base: float) -> Tuple[float, float]:
        np.multiply(flat_unscaled, np.float32(base), out=buffer)
        free = (buffer > floor) & (buffer < 1.0)
        np.clip(buffer, np.float32(floor), np.float32(1.0), out=buffer)
        clicks = weighted_sum(buffer)
        np.multiply(flat_unscaled, free, out=buffer)
        return clicks, weighted_sum(buffer)

    low, high = 0.0, math.inf
    base = target / weighted_sum(flat_unscaled)
    for _ in range(100):
        clicks, slope = clicks_and_slope(base)
        if abs(clicks - target) <= 1e-6 * target or (math.isfinite(high) and high - low <= 1e-9 * high):
            return base
        if clicks < target:
            low = base
        else:
            high = base
        step = base + (target - clicks) / slope if slope > 0 else math.nan
        if low < step < high:
            base = step
        elif math.isinf(high):
            base = 2.0 * base
        else:
            base = math.sqrt(low * high) if low > 0 else 0.5 * high
    return base


def _force_one_click(
    clicked: np.ndarray,
    relevant: np.ndarray,
    propensity: np.ndarray,
    preference: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Give each user without a click one click (in place, see the module
    docstring) and return those users."""
    empty = np.flatnonzero(~clicked.any(axis=1))
    if empty.size:
        weight = propensity[empty] * relevant[empty]
        # No relevant item (or, with min_propensity=0, none exposable): fall back.
        for fallback in (propensity[empty] * preference[empty], preference[empty]):
            stuck = weight.sum(axis=1) <= 0
            weight[stuck] = fallback[stuck]
        cumulative = np.cumsum(weight, axis=1, dtype=np.float64)
        threshold = rng.random(empty.size) * cumulative[:, -1]
        chosen = np.minimum((cumulative <= threshold[:, None]).sum(axis=1), clicked.shape[1] - 1)
        clicked[empty, chosen] = True
        relevant[empty, chosen] = True
    return empty


def _split(
    observed: Interactions, ratios: Tuple[float, float, float], rng: np.random.Generator
) -> Tuple[Interactions, Interactions, Interactions]:
    """(train, valid, test) by the package's per-user random split; parts
    whose ratio is 0 stay empty (``random_split`` takes positive ratios only)."""
    kept = [j for j, ratio in enumerate(ratios) if ratio > 0]
    parts = [observed.empty()] * 3
    split_seed = int(rng.integers(2**63))
    for j, part in zip(kept, random_split(observed, [ratios[j] for j in kept], seed=split_seed)):
        parts[j] = part
    return parts[0], parts[1], parts[2]


def _random_exposure(
    relevant: np.ndarray, per_user: int, rng: np.random.Generator, user_ids: IdMap, item_ids: IdMap
) -> Interactions:
    """``per_user`` uniformly drawn items per user, rated 1.0 when relevant."""
    num_users, num_items = relevant.shape
    if per_user == 0:
        return Interactions(user=[], item=[], user_ids=user_ids, item_ids=item_ids, rating=[])
    # The per_user smallest of i.i.d. uniform keys: a uniform subset without replacement.
    keys = rng.random((num_users, num_items), dtype=np.float32)
    chosen = np.argpartition(keys, per_user - 1, axis=1)[:, :per_user]
    chosen.sort(axis=1)
    user = np.repeat(np.arange(num_users), per_user)
    item = chosen.ravel()
    rating = relevant[user, item].astype(np.float32)
    return Interactions(user=user, item=item, user_ids=user_ids, item_ids=item_ids, rating=rating)


# -- diagnostics -------------------------------------------------------------
def gini(values: np.ndarray) -> float:
    r"""Gini coefficient of non-negative ``values``:
    :math:`G = \frac{\sum_k (2k - n - 1)\, x_{(k)}}{n \sum_k x_k}` over the
    sorted values :math:`x_{(1)} \le \dots \le x_{(n)}`; 0 = all equal, near 1 =
    all mass on one entry."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    k = np.arange(1, n + 1)
    return float(np.dot(2 * k - n - 1, x) / (n * total))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks, ties
    shared); NaN when either side is constant."""
    rx, ry = _average_ranks(x), _average_ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denominator = math.sqrt(float(np.dot(rx, rx)) * float(np.dot(ry, ry)))
    return float(np.dot(rx, ry) / denominator) if denominator > 0 else math.nan


def _average_ranks(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    # Tied values share the mean of the 1-based ranks they occupy.
    first = np.cumsum(counts) - counts + 1
    return (first + (counts - 1) / 2.0)[inverse].astype(np.float64)


# -- argument checks ---------------------------------------------------------
def _check_int(name: str, value: Any, *, low: int, high: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ValueError(f"{name} must be at least {low}{upper}, got {value}")
    return int(value)


def _check_float(
    name: str, value: Any, low: float, high: float, *, open_low: bool = False, open_high: bool = False
) -> float:
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high or math.isinf(high) else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{name} must be a real number in {interval}, got {value!r}")
    value = float(value)
    if value < low or value > high or (open_low and value == low) or (open_high and value == high) or math.isinf(value):
        raise ValueError(f"{name} must lie in {interval}, got {value:g}")
    return value


def _check_relations(
    relations: Mapping[str, int], values_per_item: Union[int, Mapping[str, int]]
) -> Tuple[Dict[str, int], Dict[str, int]]:
    if not isinstance(relations, Mapping) or not relations:
        raise ValueError(
            f"relations must be a non-empty mapping from relation name to its number of values, got {relations!r}"
        )
    sizes: Dict[str, int] = {}
    for name, size in relations.items():
        if not isinstance(name, str) or not _RELATION_NAME.match(name) or name == "item":
            raise ValueError(
                f"relations: names must be identifiers other than 'item' (entity names read 'genre:3'), got {name!r}"
            )
        sizes[name] = _check_int(f"relations[{name!r}]", size, low=1)
    if isinstance(values_per_item, Mapping):
        unknown = sorted(set(values_per_item) - set(sizes))
        if unknown:
            raise ValueError(f"values_per_item names relations that relations lacks: {unknown}")
        per_item = {name: values_per_item.get(name, 1) for name in sizes}
    else:
        per_item = {name: values_per_item for name in sizes}
    for name in sizes:
        per_item[name] = _check_int(f"values_per_item[{name!r}]", per_item[name], low=1, high=sizes[name])
    return sizes, per_item


def _check_ratios(ratios: Sequence[float]) -> Tuple[float, float, float]:
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError):
        raise ValueError(f"ratios must be three numbers (train, valid, test), got {ratios!r}") from None
    if (
        len(values) != 3
        or not all(math.isfinite(r) and r >= 0 for r in values)
        or values[0] <= 0
        or abs(sum(values) - 1.0) > 1e-6
    ):
        raise ValueError(
            "ratios must be three non-negative numbers (train, valid, test) summing to 1 "
            f"with train > 0, got {ratios!r}"
        )
    return values  # type: ignore[return-value]
