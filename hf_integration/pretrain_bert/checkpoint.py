"""Run directory, checkpoints and resume.

Layout of ``run_dir``::

    config.yaml                  the resolved config; a re-run must match it (then it resumes)
    tokenizer/vocab.txt          the WordPiece vocabulary (trained or copied)
    logs/metrics.jsonl           every logged metric, one JSON object per log call
    logs/<run>/<phase>/          TensorBoard events of each phase (hyperparameters in logs/<run>/)
    <phase>/checkpoints/step_00000100/   accelerator.save_state + trainer_state.pt
    <phase>/final/               save_pretrained model and tokenizer (model_max_length = the model's
                                 max_position_embeddings): marks the phase done

A checkpoint holds the model, optimizer, every process's RNG states (``save_state``) and, in
``trainer_state.pt``, the scheduler and :class:`Progress` (completed updates and the data
position), plus ``SHA256SUMS`` of all its files (``sha256sum -c`` format). Checkpoints are written
to a hidden ``.<name>.partial`` sibling and renamed when complete (:mod:`knee_nlp.atomic`), so a
run killed while saving resumes from the previous checkpoint.

A resume takes the newest checkpoint that matches its ``SHA256SUMS`` and loads on every process;
a damaged one (bytes changed or cut short after it was saved) is renamed ``damaged-step_...``
with a warning and the one before it is used. With no intact checkpoint left the run stops with
:class:`CheckpointError` naming the file and how to start the phase again. The sums cost one read
of the checkpoint at save and at resume (SHA-256 at about 0.3 GB/s on the loaded 2-core test box).

>>> check_run_dir(Path("runs/tiny"), {"seed": 1})  # doctest: +SKIP
'new'
"""

from __future__ import annotations

import pickle
import shutil
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors import SafetensorError

from knee_nlp.atomic import atomic_directory, partial_path
from knee_nlp.data.files import sha256_file
from knee_nlp.errors import OutputExistsError, RunFailedError
from knee_nlp.run_lock import LOCK_NAME

CONFIG_FILE = "config.yaml"
TRAINER_STATE = "trainer_state.pt"
STEP_PREFIX = "step_"
SUMS_FILE = "SHA256SUMS"
DAMAGED_PREFIX = "damaged-"
#: what loading a damaged state file raises (safetensors, torch's zip reader, pickle, a missing key)
_LOAD_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, pickle.UnpicklingError,
                SafetensorError)


class CheckpointError(RunFailedError, RuntimeError):
    """No intact checkpoint to resume a phase from; the message names the file and the way out."""


@dataclass
class Progress:
    """What a resumed run needs beyond accelerate's state: counters of this phase."""

    updates: int = 0
    micro_batches: int = 0
    skipped_updates: int = 0
    examples_seen: int = 0  # sequences this process has trained on


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [line for key in keys for line in _diff(old.get(key), new.get(key), f"{prefix}{key}.")]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [line for i, (a, b) in enumerate(zip(old, new, strict=True)) for line in _diff(a, b, f"{prefix}{i}.")]
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def check_run_dir(run_dir: Path, config: dict[str, Any]) -> str:
    """``"new"`` (absent or empty) or ``"resume"`` (same config); anything else raises.

    Read-only, so every process can call it before the main process writes anything.
    """
    if not run_dir.exists() or (run_dir.is_dir() and
                                all(p.name == LOCK_NAME for p in run_dir.iterdir())):
        return "new"
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise OutputExistsError(
            f"run_dir {run_dir} exists and is not a pretraining run directory (no {CONFIG_FILE}); "
            "refusing to write into it: choose another run_dir"
        )
    try:
        changes = _diff(yaml.safe_load(saved.read_text()), config)
    except yaml.YAMLError as error:
        raise OutputExistsError(f"run_dir {run_dir}: its {CONFIG_FILE} is damaged ({' '.join(str(error).split())}); "
                                "restore it to resume that run, or choose another run_dir") from None
    if changes:
        raise OutputExistsError(
            f"run_dir {run_dir} holds a run with a different config ({'; '.join(changes)}); "
            "restore that config to resume it, or choose another run_dir"
        )
    return "resume"


def write_config(run_dir: Path, config: dict[str, Any]) -> None:
    """Write ``config.yaml`` once (main process)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    if not path.exists():
        path.write_text(yaml.safe_dump(config, sort_keys=False))


def checkpoints(phase_dir: Path) -> list[Path]:
    """The phase's complete checkpoints, newest (most updates) first."""
    found = (phase_dir / "checkpoints").glob(f"{STEP_PREFIX}*")
    return sorted(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]), reverse=True)


def _write_sums(directory: Path) -> None:
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != SUMS_FILE)
    (directory / SUMS_FILE).write_text(
        "".join(f"{sha256_file(p)}  {p.relative_to(directory)}\n" for p in files))


def _sums_problem(directory: Path) -> str | None:
    """What differs from the checkpoint's ``SHA256SUMS`` (``None``: nothing, or no sums saved)."""
    sums = directory / SUMS_FILE
    if not sums.is_file():  # saved before checkpoints recorded their sums: loading is the test
        return None
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        if not (directory / name).is_file():
            return f"{name} is missing"
        if sha256_file(directory / name) != digest:
            return f"{name} does not match its SHA-256"
    return None


def _agreed(problem: str | None) -> str | None:
    """The first problem any process reports (the same answer on every process)."""
    return next((found for found in gather_object([problem]) if found), None)


def save_checkpoint(
    accelerator: Accelerator, phase_dir: Path, progress: Progress, scheduler: Any, keep: int
) -> Path:
    """Save everything a resume needs after ``progress.updates`` updates; keep the newest ``keep``."""
    final = phase_dir / "checkpoints" / f"{STEP_PREFIX}{progress.updates:08d}"
    # Every process writes its part into the main process's work directory, renamed when all are done.
    main = accelerator.is_main_process
    with atomic_directory(final) if main else nullcontext(partial_path(final)) as work:
        accelerator.wait_for_everyone()
        accelerator.save_state(str(work))
        if main:
            torch.save({"progress": asdict(progress), "scheduler": scheduler.state_dict()}, work / TRAINER_STATE)
        accelerator.wait_for_everyone()
        if main:
            _write_sums(work)
    if main:
        older = sorted(
            final.parent.glob(f"{STEP_PREFIX}*"),
            key=lambda p: int(p.name[len(STEP_PREFIX) :]),
        )
        for stale in older[:-keep]:
            shutil.rmtree(stale)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, path: Path, scheduler: Any) -> Progress:
    """Restore model, optimizer, RNG, scheduler and the phase's counters from ``path``."""
    accelerator.load_state(str(path))
    state = torch.load(path / TRAINER_STATE, weights_only=False)
    scheduler.load_state_dict(state["scheduler"])
    return Progress(**state["progress"])


def _try_load(accelerator: Accelerator, path: Path, scheduler: Any) -> tuple[Progress | None, str | None]:
    """Load ``path`` on every process: ``(progress, None)``, or ``(None, why not)`` if any failed."""
    problem = _agreed(_sums_problem(path) if accelerator.is_main_process else None)
    if problem is not None:
        return None, problem
    try:
        progress = load_checkpoint(accelerator, path, scheduler)
    except _LOAD_ERRORS as error:
        progress, problem = None, f"{type(error).__name__}: {str(error).split('. ')[0][:200]}"
    problem = _agreed(problem)
    return (None, problem) if problem else (progress, None)


def _set_aside(accelerator: Accelerator, damaged: list[Path], phase: str) -> None:
    """Rename damaged checkpoints ``damaged-<name>`` so that training can save that step again."""
    if accelerator.is_main_process:
        for path in damaged:
            target = path.with_name(DAMAGED_PREFIX + path.name)
            if target.exists():
                shutil.rmtree(target)
            path.rename(target)
            accelerator.print(f"[{phase}] kept the damaged checkpoint as {target}", flush=True)
    accelerator.wait_for_everyone()


def resume_progress(accelerator: Accelerator, phase_dir: Path, scheduler: Any, phase: str) -> Progress:
    """The phase's counters from its newest intact checkpoint (state restored), or fresh ones."""
    damaged: list[Path] = []
    for checkpoint in checkpoints(phase_dir):
        progress, problem = _try_load(accelerator, checkpoint, scheduler)
        if progress is not None:
            _set_aside(accelerator, damaged, phase)
            accelerator.print(f"[{phase}] resumed from {checkpoint} at update {progress.updates}", flush=True)
            return progress
        accelerator.print(f"[{phase}] warning: checkpoint {checkpoint} is damaged ({problem}); "
                          "trying the one before it", flush=True)
        damaged.append(checkpoint)
    if damaged:
        raise CheckpointError(
            f"[{phase}] no intact checkpoint to resume from: {damaged[0]} and any older ones are "
            f"damaged (see the warnings above); delete {phase_dir / 'checkpoints'} to train "
            f"{phase} again from its first update")
    return Progress()


def save_periodic_checkpoint(
    accelerator: Accelerator, phase_dir: Path, progress: Progress, scheduler: Any, keep: int, phase: str
) -> Path:
    """:func:`save_checkpoint` and say where it went."""
    path = save_checkpoint(accelerator, phase_dir, progress, scheduler, keep)
    accelerator.print(f"[{phase}] saved checkpoint {path}", flush=True)
    return path


def save_final(accelerator: Accelerator, model: torch.nn.Module, tokenizer: Any, target: Path) -> None:
    """``save_pretrained`` the unwrapped ``BertForMaskedLM`` and tokenizer into ``target``.

    The saved tokenizer records the model's limit, ``model_max_length =
    config.max_position_embeddings`` (512 for BERT), so ``tokenizer(text, truncation=True)`` on the
    loaded pair never makes an input the model cannot take (the vocabulary-only tokenizer says
    1e30). Every phase's ``max_seq_length`` is at most that limit (checked with the config).
    """
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        mlm = accelerator.unwrap_model(model).mlm
        with atomic_directory(target) as work:
            mlm.save_pretrained(str(work))
            save_tokenizer(tokenizer, work, mlm.config.max_position_embeddings)
    accelerator.wait_for_everyone()


def save_tokenizer(tokenizer: Any, target: Path, model_max_length: int) -> None:
    """``tokenizer.save_pretrained(target)`` with ``model_max_length`` recorded; the in-memory
    tokenizer keeps its own setting (it tokenizes whole lines for packing, never truncating)."""
    unbounded = tokenizer.model_max_length
    tokenizer.model_max_length = model_max_length
    try:
        tokenizer.save_pretrained(str(target))
    finally:
        tokenizer.model_max_length = unbounded
