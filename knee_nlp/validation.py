"""Argument checks shared by the schedule, the budget helpers and the adapters.

Each check returns the normalised value or raises ``ValueError`` naming the argument, the
value it got and the allowed range, so bad input fails at construction, never mid-training.

>>> check_step_count("warmup_steps", 10)
10
>>> check_ratio("explore_ratio", 1.5)
Traceback (most recent call last):
...
ValueError: explore_ratio must be a number in [0, 1], got 1.5
"""

from __future__ import annotations

import math
import operator
from typing import Any


def check_step_count(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` as an ``int`` >= ``minimum`` (integral floats such as ``10.0`` are accepted)."""
    message = f"{name} must be an integer >= {minimum}, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    try:
        count = operator.index(value)
    except TypeError:
        if not (isinstance(value, float) and value.is_integer()):
            raise ValueError(message) from None
        count = int(value)
    if count < minimum:
        raise ValueError(message)
    return count


def check_number(name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = True) -> float:
    """``value`` as a finite ``float`` >= ``minimum`` (> ``minimum`` when not ``inclusive``)."""
    bound = f">= {minimum}" if inclusive else f"> {minimum}"
    message = f"{name} must be a finite number {bound}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(message)
    number = float(value)
    if not math.isfinite(number) or number < minimum or (number == minimum and not inclusive):
        raise ValueError(message)
    return number


def check_ratio(name: str, value: Any) -> float:
    """``value`` as a ``float`` in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)
