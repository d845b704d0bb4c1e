"""One base for the errors a user can fix (a bad flag, config value, file or run directory).

The command-line entry points (``knee-nlp`` and ``python -m hf_integration.pretrain_bert``) catch
:class:`UserError` and exit with status :data:`USER_ERROR_STATUS` after printing
``error: <message>``, without a traceback; any other exception is a bug and keeps its traceback.
Each subclass also derives from the builtin it stands for, so ``except ValueError`` still works.

>>> issubclass(InputFileError, FileNotFoundError), issubclass(InputFileError, UserError)
(True, True)
"""

from __future__ import annotations

import sys

USER_ERROR_STATUS = 2


class UserError(Exception):
    """Something the user gave is wrong; the message says what and what is allowed."""


class InvalidInputError(UserError, ValueError):
    """A value (flag, config key, file content) outside what is allowed."""


class InputFileError(UserError, FileNotFoundError):
    """An input file or directory that does not exist."""


class OutputExistsError(UserError, FileExistsError):
    """An output path that holds something this run must not overwrite."""


class OutputPathError(InvalidInputError):
    """An output path that cannot be written: a file where a directory must be, or no permission."""


def exit_for_user_error(error: UserError) -> int:
    """Print ``error: <message>`` to stderr; return the exit status for it."""
    print(f"error: {error}", file=sys.stderr)
    return USER_ERROR_STATUS
