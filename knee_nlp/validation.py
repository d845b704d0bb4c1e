"""Argument checks shared by the schedule, the budget helpers and the adapters.

Each check returns the normalised value or raises :class:`ArgumentError`, a ``ValueError`` that
carries the argument's name, the value it got and the allowed range, so bad input fails at
construction, never mid-training. Adapters translate the core's names into their own flags with
:func:`renamed_errors`.

Numbers may be Python ``int``/``float`` or any real scalar that knows its value: a numpy scalar
(``np.float32(5e-4)``, ``np.int64(100)``) or a one-element 0-d array or tensor
(``torch.tensor(5e-4)``); each check returns a plain Python ``int`` or ``float``. Booleans,
strings, complex numbers and arrays with more than one element are refused.

>>> check_step_count("warmup_steps", 10)
10
>>> check_ratio("explore_ratio", 1.5)
Traceback (most recent call last):
...
knee_nlp.validation.ArgumentError: explore_ratio must be a number in [0, 1], got 1.5
>>> with renamed_errors({"warmup_steps": "--warmup-updates"}):
...     check_step_count("warmup_steps", -1)
Traceback (most recent call last):
...
knee_nlp.validation.ArgumentError: --warmup-updates must be an integer >= 0, got -1
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from knee_nlp.errors import UserError

_NAME = re.compile("⟨([^⟨⟩]+)⟩")


class ArgumentError(UserError, ValueError):
    """A bad argument: ``argument`` (its name), ``value`` and ``allowed`` (the allowed range).

    ``template`` is the message with every argument name written ``⟨name⟩``, so that
    :meth:`renamed` can put an adapter's names (``--warmup-updates``, ``num_warmup_steps``) in.

    >>> error = ArgumentError("end_lr", 2.0, "in [0, ⟨peak_lr⟩=1.0]")
    >>> str(error), str(error.renamed({"end_lr": "--end-learning-rate", "peak_lr": "--lr"}))
    ('end_lr must be in [0, peak_lr=1.0], got 2.0', '--end-learning-rate must be in [0, --lr=1.0], got 2.0')
    """

    def __init__(self, argument: str, value: Any, allowed: str, template: str | None = None) -> None:
        self.argument, self.value, self._allowed = argument, value, allowed
        self.template = template or f"⟨{argument}⟩ must be {allowed}, got {value!r}"
        super().__init__(self.render())

    def __reduce__(self) -> tuple[type[ArgumentError], tuple[Any, ...]]:
        """Picklable (a worker process can send it back), with its rename template."""
        return type(self), (self.argument, self.value, self._allowed, self.template)

    @property
    def allowed(self) -> str:
        """The allowed range, in the core's names."""
        return _NAME.sub(r"\1", self._allowed)

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message with each ``⟨name⟩`` replaced by ``names.get(name, name)``."""
        return _NAME.sub(lambda match: (names or {}).get(match[1], match[1]), self.template)

    def renamed(self, names: Mapping[str, str], prefix: str = "",
                kind: type[ArgumentError] | None = None) -> ArgumentError:
        """The same error in an adapter's names (as ``kind``, default this class), after ``prefix``.

        Renaming composes: a renamed error can be renamed again by a wrapping adapter.
        """
        def rename(text: str) -> str:
            return _NAME.sub(lambda match: f"⟨{names.get(match[1], match[1])}⟩", text)

        return (kind or type(self))(names.get(self.argument, self.argument), self.value,
                                    rename(self._allowed), prefix + rename(self.template))


@contextmanager
def renamed_errors(names: Mapping[str, str], prefix: str = "",
                   kind: type[ArgumentError] | None = None) -> Iterator[None]:
    """Re-raise an :class:`ArgumentError` of the block in ``names`` (see :meth:`ArgumentError.renamed`)."""
    try:
        yield
    except ArgumentError as error:
        raise error.renamed(names, prefix, kind) from None


def real_scalar(value: Any) -> int | float | None:
    """``value`` as a Python ``int`` or ``float`` if it is a real number, else ``None``.

    Accepts Python numbers, numpy scalars and 0-d arrays or tensors (numpy, torch), never a
    ``bool`` (of any library), a string or a complex number.

    >>> real_scalar(2), real_scalar(0.5), real_scalar(True), real_scalar("1")
    (2, 0.5, None, None)
    """
    if getattr(value, "shape", None) == () and callable(getattr(value, "item", None)):
        value = value.item()  # numpy scalar, 0-d numpy array or 0-d torch tensor
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return value if isinstance(value, int) else float(value)


def check_step_count(name: str, value: Any, *, minimum: int = 0) -> int:
    """``value`` as an ``int`` >= ``minimum`` (integral floats such as ``10.0`` are accepted)."""
    error = ArgumentError(name, value, f"an integer >= {minimum}")
    number = real_scalar(value)
    if number is None:
        raise error
    try:
        count = operator.index(number)
    except TypeError:
        if not (math.isfinite(number) and float(number).is_integer()):
            raise error from None
        count = int(number)
    if count < minimum:
        raise error
    return count


def check_number(name: str, value: Any, *, minimum: float = 0.0, inclusive: bool = True) -> float:
    """``value`` as a finite ``float`` >= ``minimum`` (> ``minimum`` when not ``inclusive``)."""
    error = ArgumentError(name, value, f"a finite number {'>=' if inclusive else '>'} {minimum}")
    number = real_scalar(value)
    if number is None:
        raise error
    number = float(number)
    if not math.isfinite(number) or number < minimum or (number == minimum and not inclusive):
        raise error
    return number


def check_ratio(name: str, value: Any) -> float:
    """``value`` as a ``float`` in [0, 1]."""
    number = real_scalar(value)
    if number is None or not 0.0 <= number <= 1.0:
        raise ArgumentError(name, value, "a number in [0, 1]")
    return float(number)


def check_probability(name: str, value: Any) -> float:
    """``value`` as a ``float`` in (0, 1]: a share that must not be zero (a masking probability)."""
    number = real_scalar(value)
    if number is None or not 0.0 < number <= 1.0:
        raise ArgumentError(name, value, "a number in (0, 1]")
    return float(number)


#: the largest seed every library a run seeds accepts (numpy's ``np.random.seed``)
MAX_SEED = 2**32 - 1


def check_seed(name: str, value: Any, *, largest: int = MAX_SEED) -> int:
    """``value`` as a seed: an integer in [0, ``largest``] (:data:`MAX_SEED` by default)."""
    seed = check_step_count(name, value)
    if seed > largest:
        raise ArgumentError(name, value, f"an integer in [0, {largest}]")
    return seed
