"""Resumable preparation steps: a step is redone only if its inputs, options or outputs changed.

Each finished step leaves a stamp ``<root>/.steps/<name>.json`` with the SHA-256 of its inputs and
outputs and its options. A re-run skips a step whose stamp still matches; an interrupted step
has no stamp (outputs are renamed into place before the stamp is written), so it is redone.

Example::

    steps = Steps(Path("out"))
    steps.run("lowercase", inputs=[src], outputs=[dst], options={}, action=lambda: ...)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from knee_nlp.atomic import atomic_file
from knee_nlp.data.files import sha256_file, sha256_text

_DIGESTS: dict[tuple[str, int, int], str] = {}


def digest(path: Path) -> str:
    """SHA-256 of a file, or of a directory's relative names and file digests; cached per mtime."""
    path = Path(path)
    if path.is_dir():
        entries = sorted(p for p in path.rglob("*") if p.is_file())
        return sha256_text("\n".join(f"{p.relative_to(path)} {digest(p)}" for p in entries))
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


class Steps:
    """Runs named steps under ``root``, skipping those whose stamp matches."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.stamp_dir = self.root / ".steps"

    def _key(self, path: Path) -> str:
        path = Path(path).resolve()
        root = self.root.resolve()
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    def _request(self, inputs: Sequence[Path], options: dict[str, Any]) -> dict[str, Any]:
        return {"inputs": {self._key(p): digest(p) for p in inputs}, "options": options}

    def is_done(self, name: str, *, inputs: Sequence[Path], outputs: Sequence[Path],
                options: dict[str, Any]) -> bool:
        """Whether ``name`` finished with these inputs and options and its outputs are intact."""
        stamp = self.stamp_dir / f"{name}.json"
        if not stamp.is_file() or not all(Path(p).exists() for p in outputs):
            return False
        try:
            record = json.loads(stamp.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):  # damaged (e.g. cut short by a power loss): redo the step
            stamp.unlink()
            return False
        return (record.get("request") == self._request(inputs, options)
                and record.get("outputs") == {self._key(p): digest(p) for p in outputs})

    def run(self, name: str, *, inputs: Sequence[Path], outputs: Sequence[Path],
            options: dict[str, Any], action: Callable[[], object]) -> bool:
        """Run ``action`` (which must write every path in ``outputs``) unless already done.

        Returns True if the step ran, False if it was skipped. Raises ``FileNotFoundError``
        naming a missing input, or ``RuntimeError`` if ``action`` did not write an output.
        """
        missing = [str(p) for p in inputs if not Path(p).exists()]
        if missing:
            raise FileNotFoundError(f"step {name!r}: missing input(s): {', '.join(missing)}")
        if self.is_done(name, inputs=inputs, outputs=outputs, options=options):
            tqdm.write(f"[{name}] up to date", file=sys.stderr)
            return False
        stamp = self.stamp_dir / f"{name}.json"
        stamp.unlink(missing_ok=True)
        tqdm.write(f"[{name}] running", file=sys.stderr)
        action()
        absent = [str(p) for p in outputs if not Path(p).exists()]
        if absent:
            raise RuntimeError(f"step {name!r} did not write: {', '.join(absent)}")
        record = {"request": self._request(inputs, options),
                  "outputs": {self._key(p): digest(p) for p in outputs}}
        self.stamp_dir.mkdir(parents=True, exist_ok=True)
        with atomic_file(stamp) as work:
            work.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return True
