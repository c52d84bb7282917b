"""Checks of debiaser hyper-parameters whose errors name the key and the allowed values.

Each method validates its keyword arguments with these helpers in one static
``validate`` method, which both its constructor and
:func:`graphrec.debias.check_arguments` (config resolution, before any data is
loaded) call.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Optional, Sequence


def number(
    method: str,
    key: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float in the interval, else ``ValueError`` naming ``key`` and the interval."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or high == math.inf else ']'}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{method}: {key} must be a finite number in {interval}, got {value!r}")
    number = float(value)
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if too_low or too_high:
        raise ValueError(f"{method}: {key} must be a number in {interval}, got {value!r}")
    return number


def optional_number(method: str, key: str, value: Any, **bounds: Any) -> Optional[float]:
    """``None`` or :func:`number`."""
    return None if value is None else number(method, key, value, **bounds)


def integer(method: str, key: str, value: Any, *, low: int) -> int:
    """``value`` as an int ``>= low``, else ``ValueError`` naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{method}: {key} must be an integer >= {low}, got {value!r}")
    return int(value)


def choice(method: str, key: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else ``ValueError`` listing them."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{method}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def boolean(method: str, key: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``, else ``ValueError``."""
    if not isinstance(value, bool):
        raise ValueError(f"{method}: {key} must be true or false, got {value!r}")
    return value
