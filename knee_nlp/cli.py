"""``knee-nlp``: the command-line entry point.

Each subcommand lives in its own module under :mod:`knee_nlp.commands` and exposes
``add_parser(subparsers)``, which registers its flags and sets ``func(args) -> int``.
Heavy imports (matplotlib, fairseq, transformers) happen inside ``func``, so ``--help`` is fast.

Usage::

    knee-nlp plot --peak-lr 5e-4 --total-steps 10000 --warmup-steps 1000 --explore-ratio 0.5 --output lr.png
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from knee_nlp import __version__
from knee_nlp.errors import UserError, exit_for_user_error, interrupted

SUBCOMMAND_MODULES = (
    "knee_nlp.commands.plot",
    "knee_nlp.commands.fairseq_user_dir",
    "knee_nlp.commands.data",
    "knee_nlp.commands.reproduce",
    "knee_nlp.commands.report",
    "knee_nlp.commands.sharpness",
    "knee_nlp.commands.sweep_explore",
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``knee-nlp`` parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="knee-nlp",
        description="The Knee (explore-exploit) LR schedule: plots, data preparation and "
        "reproduction of the paper's NLP experiments.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the process exit code.

    A :class:`~knee_nlp.errors.UserError` prints ``error: <message>`` and returns its status (2, or
    1 for a failed run); Ctrl-C exits with 130 (:mod:`knee_nlp.errors`).
    """
    args = build_parser().parse_args(argv)
    previous = _stop_on_sigterm()
    try:
        return args.func(args)
    except UserError as error:
        return exit_for_user_error(error)
    except KeyboardInterrupt:
        interrupted(f"knee-nlp {args.command}", "run the same command again (what it finished is kept)")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a SIGTERM stops the command as Ctrl-C does (children included)


def _stop_on_sigterm() -> Any:
    """Let SIGTERM (``kill``) stop the command like Ctrl-C; returns the handler it replaced
    (``None`` off the main thread, where signals cannot be handled)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


if __name__ == "__main__":
    sys.exit(main())
