"""The errors a command reports with a message instead of a traceback, and its exit statuses.

Every ``knee-nlp`` command and ``python -m hf_integration.pretrain_bert`` prints one line,
``<command>: error: <message>``, and exits with

- :data:`USER_ERROR_STATUS` (2, argparse's status): something the user gave is wrong (a flag,
  config value, file or directory); the message says what and what is allowed;
- :data:`RUN_FAILED_STATUS` (1): a run, or a tool it started, failed or was killed
  (:class:`RunFailedError`); the message says how to go on, usually "run the same command again";
- :data:`INTERRUPTED_STATUS` (130, as a shell reports Ctrl-C): stopped by Ctrl-C or SIGTERM.

Any other exception is a bug and keeps its traceback. Each subclass also derives from the builtin
it stands for, so ``except ValueError`` still works.

>>> issubclass(InputFileError, FileNotFoundError), issubclass(InputFileError, UserError)
(True, True)
>>> exit_status(InvalidInputError("--seeds: got -1")), exit_status(RunFailedError("killed"))
(2, 1)
"""

from __future__ import annotations

import sys
from typing import NoReturn

USER_ERROR_STATUS = 2
RUN_FAILED_STATUS = 1
INTERRUPTED_STATUS = 130


class UserError(Exception):
    """Something the user gave is wrong; the message says what and what is allowed."""

    exit_status = USER_ERROR_STATUS


class RunFailedError(UserError):
    """A run, or a tool it started, failed or was killed; the message says how to go on."""

    exit_status = RUN_FAILED_STATUS


class InvalidInputError(UserError, ValueError):
    """A value (flag, config key, file content) outside what is allowed."""


class InputFileError(UserError, FileNotFoundError):
    """An input file or directory that does not exist."""


class OutputExistsError(UserError, FileExistsError):
    """An output path that holds something this run must not overwrite."""


class OutputPathError(InvalidInputError):
    """An output path that cannot be written: a file where a directory must be, or no permission."""


def exit_status(error: BaseException) -> int:
    """The status a command exits with for ``error``: a :class:`UserError`'s own, 1 for any other
    ``RuntimeError`` (a step that failed), 2 for the rest (a bad value, a missing or existing file)."""
    if isinstance(error, UserError):
        return error.exit_status
    return RUN_FAILED_STATUS if isinstance(error, RuntimeError) else USER_ERROR_STATUS


def exit_for_user_error(error: UserError) -> int:
    """Print ``error: <message>`` to stderr; return the exit status for it."""
    print(f"error: {error}", file=sys.stderr)
    return exit_status(error)


class CommandExit(SystemExit):
    """How a command stops on an error it reported: ``code`` is the exit status, ``str()`` the
    message it printed (so a caller of ``main()`` in the same process can read it)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(status)
        self.message = message

    def __str__(self) -> str:
        return self.message


def fail(command: str, error: BaseException | str) -> NoReturn:
    """Print ``<command>: error: <message>`` to stderr and exit with :func:`exit_status` (2 for a
    plain message)."""
    message = f"{command}: error: {error}"
    print(message, file=sys.stderr)
    raise CommandExit(message, USER_ERROR_STATUS if isinstance(error, str) else exit_status(error))


def interrupted(command: str, how_to_go_on: str) -> NoReturn:
    """Print ``<command>: interrupted; <how_to_go_on>`` to stderr and exit with status 130."""
    message = f"{command}: interrupted; {how_to_go_on}"
    print(message, file=sys.stderr)
    raise CommandExit(message, INTERRUPTED_STATUS)
