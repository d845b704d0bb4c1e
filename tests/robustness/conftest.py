"""The bad-input sweep: call each command's ``main(argv)`` in-process and classify what it did.

A *clean error* is exit status 2 (``SystemExit`` or a returned status: the status of a bad input,
:mod:`knee_nlp.errors`) with an ``error:`` line naming what was wrong, and no traceback; anything else that escapes ``main`` is a
bug (the test fails with its traceback). An *acceptance* is a zero exit.
"""

from __future__ import annotations

import contextlib
import io
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest


@dataclass
class Outcome:
    """What one command call did: its exit status and everything it printed."""

    status: int
    output: str

    def clean_error(self, *needles: str) -> str:
        """Assert a clean error whose text holds every needle (case-sensitive); returns the text."""
        assert self.status == 2, f"status {self.status}, expected 2 (a bad input):\n{self.output}"
        assert "Traceback" not in self.output, self.output
        lines = [line for line in self.output.splitlines() if "error:" in line]
        assert lines, f"no 'error:' line in:\n{self.output}"
        message = "\n".join(lines)
        for needle in needles:
            assert needle in message, f"{needle!r} not in the error:\n{message}"
        return message

    def accepted(self) -> str:
        """Assert a zero exit; returns the output."""
        assert self.status == 0, f"status {self.status}:\n{self.output}"
        return self.output


def run_main(main: Callable[[Sequence[str]], int | None], argv: Sequence[str]) -> Outcome:
    """``main(argv)`` with stdout and stderr captured; an exception other than ``SystemExit``
    fails the test with the traceback the user would have seen."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv)) or 0
        except SystemExit as exit_:
            status = exit_.code or 0
        except Exception as error:  # noqa: BLE001 - the sweep reports it as the bug it is
            pytest.fail(f"{list(argv)} raised instead of a clean error:\n"
                        + "".join(traceback.format_exception(error)) + err.getvalue())
    return Outcome(status, out.getvalue() + err.getvalue())


@pytest.fixture
def run() -> Callable[[Callable[[Sequence[str]], int | None], Sequence[str]], Outcome]:
    """``run(main, argv) -> Outcome`` (see :func:`run_main`)."""
    return run_main
