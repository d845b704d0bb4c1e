"""One resumable run: train with fairseq, average the last checkpoints, generate, score.

Each (schedule, budget, seed) owns ``<run-dir>/runs/<schedule>-<budget>-seed<seed>/``:

``plan.json``     what the run is (its full fairseq-train command and budget in updates)
``train.log``     fairseq's JSON log, appended by every attempt
``checkpoints/``  fairseq's save dir (``checkpoint_last.pt`` is what a re-run resumes from)
``generate.log``  fairseq-generate output on the test set
``result.json``   scores and curves; written last, so its presence means "finished"

Re-running the same command skips finished runs and resumes unfinished ones from
``checkpoint_last.pt`` (fairseq's own resume; the LR is a pure function of ``num_updates``, so
the trajectory continues exactly). A run directory whose ``plan.json`` differs from the new plan
is never reused: that is an error, not an overwrite.

Example::

    plans = plan_runs(spec, runs, seeds=[1], ...)      # knee_nlp.reproduce.pipeline
    result = execute(plans[0], target_lang="en", test_pairs=6750)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_nlp.atomic import write_text_atomic
from knee_nlp.errors import UserError
from knee_nlp.reproduce.averaging import average_checkpoints, last_epoch_checkpoints
from knee_nlp.reproduce.fairseq_commands import Batching
from knee_nlp.reproduce.config import RunConfig
from knee_nlp.reproduce.layout import (CHECKPOINTS, GENERATE_LOG, PLAN, RESULT, TRAIN_LOG,
                                       TRAINED, read_state)
from knee_nlp.reproduce.logs import parse_training_log
from knee_nlp.reproduce.scoring import score_generate_output


class RunError(UserError, RuntimeError):
    """A run failed, was started with other settings, or stopped short of its budget."""


@dataclass(frozen=True)
class RunPlan:
    """Everything that defines one run; ``record()`` is what ``plan.json`` holds."""

    config: RunConfig
    seed: int
    directory: Path
    epoch_updates: int
    max_update: int
    batching: Batching
    train_argv: list[str]
    generate_argv: list[str]

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def save_dir(self) -> Path:
        return self.directory / CHECKPOINTS

    def record(self) -> dict[str, Any]:
        return {
            "config": self.config.source or str(self.config.path),
            "schedule": self.config.schedule,
            "budget": self.config.budget, "epochs": self.config.epochs, "seed": self.seed,
            "peak_lr": self.config.peak_lr, "lr_scheduler": self.config.lr_scheduler,
            "updates_per_epoch": self.epoch_updates, "max_update": self.max_update,
            "batching": {"gpus": self.batching.gpus, "max_tokens": self.batching.max_tokens,
                         "update_freq": self.batching.update_freq,
                         "global_tokens": self.batching.global_tokens},
            # argv[0] is the Python interpreter, which may legitimately move between attempts
            "train_command": self.train_argv[1:],
        }


#: plan.json keys that record where the settings came from; a resume does not compare them
_PROVENANCE = frozenset({"config"})


def run_name(run: RunConfig, seed: int) -> str:
    return f"{run.schedule}-{run.budget}-seed{seed}"


def _check_plan(plan: RunPlan) -> None:
    path = plan.directory / PLAN
    record = plan.record()
    if path.is_file():
        previous = read_state(path)
        # "config" names the files the settings came from, not a setting: runs started before
        # the configs were composed (one file per run) stay resumable
        changed = sorted(key for key in record.keys() | previous.keys()
                         if key not in _PROVENANCE and record.get(key) != previous.get(key))
        if changed:
            raise RunError(f"{plan.directory} was started with different settings ({changed} "
                           "differ); it is never overwritten: use another --run-dir, or delete "
                           "that run directory to start it again")
    else:
        plan.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")


def _stream(argv: list[str], log: Path, *, total: int | None, desc: str, mode: str) -> None:
    """Run ``argv``, copying its output to ``log``; a tqdm bar follows ``num_updates``."""
    from tqdm import tqdm

    with open(log, mode, encoding="utf-8") as sink, tqdm(total=total, desc=desc, unit="upd",
                                                         disable=total is None) as bar:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            for line in process.stdout:
                sink.write(line)
                sink.flush()
                if total is not None and "train_inner" in line:
                    done = parse_training_log(line).last_update
                    bar.update(max(0, done - bar.n))
            returncode = process.wait()
        except BaseException:
            process.terminate()
            process.wait()
            raise
    if returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:])
        raise RunError(f"{argv[2]} exited with status {returncode}; see {log}. Last lines:\n{tail}")


def resume_point(save_dir: Path) -> Path | None:
    """The checkpoint an interrupted run continues from, or None to start fresh.

    fairseq resumes from ``checkpoint_last.pt``, which it *copies* from the epoch checkpoint
    it has just saved atomically. An interruption between the two leaves it missing or short;
    then the newest ``checkpoint<E>.pt`` is the right place to continue.
    """
    numbered = (re.fullmatch(r"checkpoint(\d+)\.pt", p.name) for p in save_dir.glob("*.pt"))
    epochs = [save_dir / m.group(0) for m in sorted(filter(None, numbered),
                                                    key=lambda m: int(m.group(1)))]
    last = save_dir / "checkpoint_last.pt"
    if not epochs:
        return last if last.is_file() else None
    newest = epochs[-1]
    if last.is_file() and last.stat().st_size == newest.stat().st_size:
        return last
    return newest


def _train(plan: RunPlan) -> None:
    log = plan.directory / TRAIN_LOG
    start = resume_point(plan.save_dir)
    argv = list(plan.train_argv)
    if start is not None and start.name != "checkpoint_last.pt":
        argv += ["--restore-file", str(start)]
    print(f"{plan.name}: {f'resuming from {start.name}' if start else 'training'} "
          f"({plan.max_update} updates = {plan.config.epochs:g} epochs x "
          f"{plan.epoch_updates} updates/epoch)", flush=True)
    _stream(argv, log, total=plan.max_update, desc=plan.name, mode="a")
    reached = parse_training_log(log.read_text(encoding="utf-8")).last_update
    if reached != plan.max_update:
        raise RunError(f"{plan.name}: fairseq-train stopped at {reached} updates, the budget is "
                       f"{plan.max_update}; see {log}")
    (plan.directory / TRAINED).touch()


def _final_checkpoint(plan: RunPlan) -> tuple[Path, list[str]]:
    epochs = int(plan.config.epochs)
    inputs = last_epoch_checkpoints(plan.save_dir, epochs, plan.config.average_last_epochs)
    if len(inputs) == 1:
        return inputs[0], [inputs[0].name]
    output = plan.save_dir / f"checkpoint_avg{len(inputs)}.pt"
    if not output.is_file():
        average_checkpoints(inputs, output)
    return output, [path.name for path in inputs]


def execute(plan: RunPlan, *, target_lang: str, test_pairs: int) -> dict[str, Any]:
    """Train (or resume), average, generate and score one run; returns its ``result.json``.

    ``test_pairs`` is the size of the test set: a generate output that scores fewer sentences
    is an error, never a partial result.
    """
    result_path = plan.directory / RESULT
    _check_plan(plan)
    if result_path.is_file():
        print(f"{plan.name}: finished earlier, reusing {result_path}", flush=True)
        return read_state(result_path)
    if not (plan.directory / TRAINED).is_file():
        _train(plan)
    checkpoint, averaged = _final_checkpoint(plan)
    generate_log = plan.directory / GENERATE_LOG
    argv = [*plan.generate_argv, "--path", str(checkpoint)]
    print(f"{plan.name}: generating the test set with {checkpoint.name}", flush=True)
    _stream(argv, generate_log, total=None, desc=plan.name, mode="w")
    scores = score_generate_output(generate_log.read_text(encoding="utf-8"),
                                   target_lang=target_lang)
    if scores["sentences"] != test_pairs:
        raise RunError(f"{plan.name}: fairseq-generate translated {scores['sentences']} of the "
                       f"{test_pairs} test sentences; see {generate_log}")
    curves = parse_training_log((plan.directory / TRAIN_LOG).read_text(encoding="utf-8"))
    result = {
        **plan.record(),
        "name": plan.name,
        "checkpoint": checkpoint.name,
        "averaged_checkpoints": averaged,
        "test": scores,
        "curves": {
            "lr": curves.lr_points(),
            "train_loss": curves.train_loss_points(),
            "valid_loss": curves.valid_points("loss"),
            "valid_bleu": curves.valid_points("bleu"),
        },
    }
    write_text_atomic(result_path, json.dumps(result, indent=2) + "\n")
    return result
