"""fairseq checkpoints of a run: which are intact, how far each got, where a re-run continues.

A run's progress is what its checkpoints hold (``optimizer_history[-1]["num_updates"]``), never
its log: the process copying fairseq's output into ``train.log`` may have been killed while
fairseq went on. A checkpoint counts only if it is intact: a torch zip archive whose every record
matches its CRC-32 (bytes zeroed or flipped anywhere are caught; ``torch.load`` alone does not
check) and that ``torch.load`` then reads on the CPU (tensors memory-mapped). That costs one read
of the file: 35 ms for the tiny preset's 9 MB checkpoint, 0.3 s for a 474 MB one (the size of
the IWSLT'14 Transformer's with its Adam state).

fairseq saves ``checkpoint<E>.pt`` (``checkpoint<E>_<U>.pt`` with ``--save-interval-updates``)
atomically, then *copies* it to ``checkpoint_last.pt``; an interruption between the two leaves
``checkpoint_last.pt`` short, missing or one save behind. :func:`resume_point` therefore compares
``checkpoint_last.pt`` with the newest intact numbered checkpoint and skips damaged ones.

Example::

    point = resume_point(Path("runs/tiny/runs/knee-50ep-seed1/checkpoints"))
    point.checkpoint.path.name, point.checkpoint.updates, point.skipped
    # ('checkpoint_last.pt', 180, [])
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

LAST_CHECKPOINT = "checkpoint_last.pt"
_NUMBERED = re.compile(r"checkpoint(\d+)(?:_(\d+))?\.pt")
#: what reading a damaged file raises (torch's zip reader, pickle, a missing key or record)
_READ_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError,
                pickle.UnpicklingError, zipfile.BadZipFile)


class DamagedCheckpointError(ValueError):
    """A checkpoint file that cannot be read back in full; the message says why."""


@dataclass(frozen=True)
class Checkpoint:
    """An intact checkpoint and the optimizer updates it holds."""

    path: Path
    updates: int


@dataclass(frozen=True)
class ResumePoint:
    """Where a re-run continues (``None``: from the start) and the damaged files passed over
    (``{"file": name, "reason": why}``, newest first)."""

    checkpoint: Checkpoint | None
    skipped: list[dict[str, str]] = field(default_factory=list)


def _check_crc(path: Path) -> bool:
    """Whether ``path`` is a zip archive (then every record's CRC-32 was checked)."""
    if not zipfile.is_zipfile(path):  # torch's legacy format, or a zip cut short
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except _READ_ERRORS as error:
        raise DamagedCheckpointError(f"unreadable archive: {error}") from None
    if bad is not None:
        raise DamagedCheckpointError(f"record {bad} does not match its CRC-32")
    return True


def read_checkpoint(path: Path) -> Checkpoint:
    """``path`` checked as described above; :class:`DamagedCheckpointError` says what is wrong."""
    import torch

    path = Path(path)
    checked = _check_crc(path)
    try:  # checked bytes need not be read again: map the tensors instead of copying them
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=checked)
        updates = int(state["optimizer_history"][-1]["num_updates"])
    except _READ_ERRORS as error:
        first_sentence = str(error).split(". ")[0][:200]
        raise DamagedCheckpointError(f"{type(error).__name__}: {first_sentence}") from None
    return Checkpoint(path, updates)


def numbered_checkpoints(save_dir: Path) -> list[Path]:
    """``checkpoint<E>.pt`` and ``checkpoint<E>_<U>.pt`` of ``save_dir``, newest first.

    ``checkpoint<E>.pt`` is saved at the end of epoch ``E``, after every ``checkpoint<E>_<U>.pt``.
    """
    found = [(m, path) for path in Path(save_dir).glob("checkpoint*.pt")
             if (m := _NUMBERED.fullmatch(path.name))]
    order = sorted(found, key=lambda item: (int(item[0].group(1)),
                                            int(item[0].group(2) or 1 << 62)), reverse=True)
    return [path for _, path in order]


def resume_point(save_dir: Path) -> ResumePoint:
    """The intact checkpoint with the most updates among ``checkpoint_last.pt`` and the newest
    intact numbered one (``checkpoint_last.pt`` on a tie: fairseq's default restore file)."""
    skipped: list[dict[str, str]] = []
    found: list[Checkpoint] = []
    last = Path(save_dir) / LAST_CHECKPOINT
    for path in ([last] if last.is_file() else []) + numbered_checkpoints(save_dir):
        try:
            found.append(read_checkpoint(path))
        except DamagedCheckpointError as error:
            skipped.append({"file": path.name, "reason": str(error)})
            continue
        if path != last:
            break
    best = max(found, key=lambda checkpoint: checkpoint.updates, default=None)
    return ResumePoint(best, skipped)
