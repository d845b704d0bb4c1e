"""argparse ``type=`` converters shared by the subcommands: a bad value is argparse's own
``error: argument --flag: must be ..., got '...'`` (exit status 2), naming the flag, the value and
the allowed range.

>>> parser = argparse.ArgumentParser()
>>> _ = parser.add_argument("--gpus", type=count(1))
>>> parser.parse_args(["--gpus", "2"]).gpus
2
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from knee_nlp.errors import InvalidInputError
from knee_nlp.validation import MAX_SEED


def count(minimum: int) -> Callable[[str], int]:
    """A converter to an ``int`` >= ``minimum``."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    convert.__name__ = f"integer >= {minimum}"
    return convert


def seed(text: str) -> int:
    """A converter to a seed: an integer in [0, :data:`MAX_SEED`]."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be integers in [0, {MAX_SEED}], got {text!r}")
    return value


def check_unique(flag: str, values: Sequence[object] | None) -> None:
    """Refuse a list flag that repeats a value (each value is one run)."""
    if values and len(set(values)) != len(values):
        raise InvalidInputError(f"{flag} must not repeat a value, got {' '.join(map(str, values))}")
