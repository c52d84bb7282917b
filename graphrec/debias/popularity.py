r"""Item popularity as the debiasing methods use it: counts, normalisations, time windows.

With :math:`c_i` the number of training interactions of item :math:`i`:

- :func:`relative_popularity`: :math:`c_i / \max_j c_j` (IPS's propensity base);
- :func:`minmax_popularity`: :math:`(c_i - \min_j c_j) / (\max_j c_j - \min_j c_j)`,
  PDA's normalisation. The official PDA code first smooths the counts into
  shares :math:`(c_i + 1) / (\sum_j c_j + |I|)` and then min-max normalises;
  the smoothing is an affine map of the counts and cancels in the min-max, so
  the two are equal. All-equal counts carry no popularity signal and give 1.
- :func:`time_stages` / :func:`latest_window`: equal-width slots of the
  training time span, and the interactions in its last fraction.
"""
from __future__ import annotations

import numpy as np

from ..data.interactions import Interactions

__all__ = ["relative_popularity", "minmax_popularity", "time_stages", "latest_window", "pair_stages"]


def relative_popularity(counts: np.ndarray) -> np.ndarray:
    """``counts / counts.max()`` as float64 (zeros when every count is 0)."""
    counts = np.asarray(counts, dtype=np.float64)
    top = counts.max() if counts.size else 0.0
    return counts / top if top > 0 else np.zeros_like(counts)


def minmax_popularity(counts: np.ndarray) -> np.ndarray:
    """Counts min-max normalised to ``[0, 1]`` along the last axis (each row of a
    ``[stages, items]`` table separately); a row of equal counts becomes ones."""
    counts = np.asarray(counts, dtype=np.float64)
    low = counts.min(axis=-1, keepdims=True)
    span = counts.max(axis=-1, keepdims=True) - low
    flat = span == 0
    return np.where(flat, 1.0, (counts - low) / np.where(flat, 1.0, span))


def time_stages(timestamps: np.ndarray, stages: int) -> np.ndarray:
    r"""Stage ``0 .. stages-1`` of each timestamp: ``stages`` equal-width slots of
    ``[t_min, t_max]``, :math:`s = \min(\lfloor S (t - t_{\min}) / (t_{\max} - t_{\min}) \rfloor, S - 1)`
    (all in stage 0 when every timestamp is equal)."""
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if timestamps.size == 0:
        return np.zeros(0, dtype=np.int64)
    low, high = timestamps.min(), timestamps.max()
    if high == low:
        return np.zeros(timestamps.shape, dtype=np.int64)
    stage = np.floor((timestamps - low) / (high - low) * stages).astype(np.int64)
    return np.minimum(stage, stages - 1)


def latest_window(train: Interactions, window: float) -> Interactions:
    r"""The interactions in the last ``window`` fraction of the time span,
    :math:`t \ge t_{\max} - w (t_{\max} - t_{\min})`; all of them without timestamps."""
    if train.timestamp is None or len(train) == 0:
        return train
    timestamps = train.timestamp.astype(np.float64)
    low, high = timestamps.min(), timestamps.max()
    return train.subset(timestamps >= high - window * (high - low))


def pair_stages(train: Interactions, stage: np.ndarray) -> "tuple[np.ndarray, np.ndarray]":
    """Sorted distinct pair keys (``user * num_items + item``) and each pair's stage;
    a pair that occurs more than once takes the stage of its latest occurrence."""
    keys = train.pair_keys()
    order = np.lexsort((train.timestamp if train.timestamp is not None else np.zeros(len(keys)), keys))
    keys, stage = keys[order], np.asarray(stage)[order]
    last = np.ones(len(keys), dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return keys[last], stage[last]
