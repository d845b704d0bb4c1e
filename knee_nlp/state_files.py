"""Reading the JSON state files the commands keep in their output directories.

A state file (``reproduce.json``, a run's ``plan.json`` or ``result.json``, ``sweep.json``, a data
recipe's ``prep.json``) cut short by a full disk or an editor, or edited into something else, is
a :class:`StateFileError` naming the file, what is wrong with it and the way out, never a
``JSONDecodeError`` traceback.

Example::

    manifest = read_json(run_dir / "reproduce.json", "choose another --run-dir, or delete it")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from knee_nlp.errors import UserError


class StateFileError(UserError, ValueError):
    """A state file that is not the JSON this project wrote there."""


_JSON_NAMES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true or false", type(None): "null"}


def read_json(path: Path, fix: str, kind: type = dict) -> Any:
    """The JSON value in ``path`` (an instance of ``kind``); :class:`StateFileError` naming
    ``path`` and ending with ``fix`` (how to recover) when it is unreadable, not JSON or another kind.

    >>> read_json(Path("plan.json"), "delete the run's directory to start it again")  # doctest: +SKIP
    {'schedule': 'knee', ...}
    """
    path = Path(path)
    try:
        value = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise StateFileError(f"{path} is damaged (not valid JSON: {error}; truncated?); {fix}") from None
    except IsADirectoryError:
        raise StateFileError(f"{path} is a directory, not a JSON file; {fix}") from None
    if not isinstance(value, kind):
        raise StateFileError(f"{path} holds {_JSON_NAMES[type(value)]} where {_JSON_NAMES[kind]} "
                             f"belongs (JSON); {fix}")
    return value
