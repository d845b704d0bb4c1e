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
position). Checkpoints are written to a hidden ``.<name>.partial`` sibling and renamed when
complete (:mod:`knee_nlp.atomic`), so a run killed while saving resumes from the previous checkpoint.

>>> check_run_dir(Path("runs/tiny"), {"seed": 1})  # doctest: +SKIP
'new'
"""

from __future__ import annotations

import shutil
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import Accelerator

from knee_nlp.atomic import atomic_directory, partial_path
from knee_nlp.errors import OutputExistsError

CONFIG_FILE = "config.yaml"
TRAINER_STATE = "trainer_state.pt"
STEP_PREFIX = "step_"


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
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
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


def latest_checkpoint(phase_dir: Path) -> Path | None:
    """The complete checkpoint with the most updates, or ``None``."""
    found = list((phase_dir / "checkpoints").glob(f"{STEP_PREFIX}*"))
    return max(found, key=lambda p: int(p.name[len(STEP_PREFIX) :]), default=None)


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


def resume_progress(accelerator: Accelerator, phase_dir: Path, scheduler: Any, phase: str) -> Progress:
    """The phase's counters from its latest checkpoint (state restored), or fresh ones."""
    checkpoint = latest_checkpoint(phase_dir)
    if checkpoint is None:
        return Progress()
    progress = load_checkpoint(accelerator, checkpoint, scheduler)
    accelerator.print(f"[{phase}] resumed from {checkpoint} at update {progress.updates}", flush=True)
    return progress


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
