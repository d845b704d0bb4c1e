"""One resumable run: train with fairseq, average the last checkpoints, generate, score.

Each (schedule, budget, seed) owns ``<run-dir>/runs/<schedule>-<budget>-seed<seed>/``:

``plan.json``     what the run is (its full fairseq-train command and budget in updates)
``train.log``     fairseq's JSON log, appended by every attempt
``checkpoints/``  fairseq's save dir: the run's progress (:mod:`.checkpoints`)
``resumes.json``  one entry per attempt that continued from a checkpoint or skipped a damaged one
``generate.log``  fairseq-generate output on the test set
``result.json``   scores, curves and the resumes; written last, so its presence means "finished"

Re-running the same command skips finished runs and continues unfinished ones from their
newest intact checkpoint, whatever stopped them (the command or fairseq killed, Ctrl-C, a
reboot); damaged checkpoints are skipped with a warning and recorded. Training runs through
:mod:`.fairseq_train`, so a resumed run repeats the uninterrupted one's updates exactly (same
batches, dropout seeds, optimizer state and LR). fairseq dies with this process, even with
``kill -9`` (:mod:`knee_nlp.child_process`). A run directory whose ``plan.json`` differs from the
new plan is never reused: that is an error, not an overwrite.

Example::

    plans = plan_runs(spec, runs, seeds=[1], ...)      # knee_nlp.reproduce.pipeline
    result = execute(plans[0], target_lang="en", test_pairs=6750)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_nlp.atomic import write_text_atomic
from knee_nlp.child_process import dies_with_parent
from knee_nlp.errors import OutputExistsError, RunFailedError
from knee_nlp.reproduce.averaging import average_checkpoints, last_epoch_checkpoints
from knee_nlp.reproduce.checkpoints import (LAST_CHECKPOINT, Checkpoint, DamagedCheckpointError,
                                            read_checkpoint, resume_point)
from knee_nlp.reproduce.fairseq_train import MODULE as EXACT_RESUME_MODULE
from knee_nlp.reproduce.fairseq_commands import Batching
from knee_nlp.reproduce.config import RunConfig
from knee_nlp.reproduce.layout import (CHECKPOINTS, GENERATE_LOG, PLAN, RESULT, TRAIN_LOG,
                                       TRAINED, read_state)
from knee_nlp.reproduce.logs import parse_training_log
from knee_nlp.reproduce.scoring import score_generate_output
from knee_nlp.state_files import read_json

#: the run's resume history (see the module docstring)
RESUMES = "resumes.json"


class RunError(RunFailedError, RuntimeError):
    """A run failed, was killed, or stopped short of its budget (exit status 1)."""


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
            raise OutputExistsError(f"{plan.directory} was started with different settings ({changed} "
                           "differ); it is never overwritten: use another --run-dir, or delete "
                           "that run directory to start it again")
    else:
        plan.directory.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(record, indent=2) + "\n")


def _stream(argv: list[str], log: Path, *, command: str, total: int | None, desc: str,
            mode: str) -> None:
    """Run ``argv`` (``command`` names it in errors), copying its output to ``log``; a tqdm bar
    follows ``num_updates``.

    The child dies with this process (:func:`~knee_nlp.child_process.dies_with_parent`), and any
    exception here (Ctrl-C, SIGTERM) terminates it and waits for it before going on.
    """
    from tqdm import tqdm

    with open(log, mode, encoding="utf-8") as sink, tqdm(total=total, desc=desc, unit="upd",
                                                         disable=total is None) as bar:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1, preexec_fn=dies_with_parent(),
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
    if returncode < 0:
        raise RunError(f"{command} was killed ({signal.Signals(-returncode).name}); run the same "
                       "command again to continue")
    if returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:])
        raise RunError(f"{command} exited with status {returncode}; see {log}. Last lines:\n{tail}")


def _train(plan: RunPlan) -> None:
    """Train to the budget, continuing from the newest intact checkpoint; progress is what the
    checkpoints hold (a log can stop early: its writer may have been killed)."""
    point = resume_point(plan.save_dir)
    for damaged in point.skipped:
        print(f"{plan.name}: warning: skipping damaged {damaged['file']} ({damaged['reason']})",
              flush=True)
    if point.checkpoint is None and point.skipped:
        raise RunError(f"{plan.name}: no intact checkpoint left in {plan.save_dir} (damaged: "
                       f"{', '.join(d['file'] for d in point.skipped)}); delete the damaged "
                       "file(s) to train this run again from its first update")
    start = point.checkpoint
    if start is not None:
        _record_resume(plan, start, point.skipped)
    if start is not None and start.updates >= plan.max_update:
        print(f"{plan.name}: {start.path.name} holds all {plan.max_update} updates: trained",
              flush=True)
    else:
        argv = [plan.train_argv[0], "-m", EXACT_RESUME_MODULE, *plan.train_argv[3:]]
        if start is not None and start.path.name != LAST_CHECKPOINT:
            argv += ["--restore-file", str(start.path)]
        print(f"{plan.name}: "
              f"{f'resuming from {start.path.name} ({start.updates} updates)' if start else 'training'}"
              f" ({plan.max_update} updates = {plan.config.epochs:g} epochs x "
              f"{plan.epoch_updates} updates/epoch)", flush=True)
        _stream(argv, plan.directory / TRAIN_LOG, command="fairseq-train", total=plan.max_update,
                desc=plan.name, mode="a")
        reached = resume_point(plan.save_dir).checkpoint
        if reached is None or reached.updates != plan.max_update:
            raise RunError(f"{plan.name}: fairseq-train stopped with "
                           f"{reached.updates if reached else 0} updates in its checkpoints, the "
                           f"budget is {plan.max_update}; see {plan.directory / TRAIN_LOG}")
    (plan.directory / TRAINED).touch()


def _record_resume(plan: RunPlan, start: Checkpoint, skipped: list[dict[str, str]]) -> None:
    """Append where this attempt starts (and the damaged files it skipped) to ``resumes.json``."""
    history = [*resumes(plan.directory),
               {"checkpoint": start.path.name, "updates": start.updates, "skipped": skipped}]
    write_text_atomic(plan.directory / RESUMES, json.dumps(history, indent=2) + "\n")


def resumes(directory: Path) -> list[dict[str, Any]]:
    """Every resume of the run in ``directory``, oldest first (``[]``: never interrupted)."""
    path = Path(directory) / RESUMES
    if not path.is_file():
        return []
    return read_json(path, "delete it: it only records the run's resumes", list)


def _final_checkpoint(plan: RunPlan) -> tuple[Path, list[str]]:
    epochs = int(plan.config.epochs)
    inputs = last_epoch_checkpoints(plan.save_dir, epochs, plan.config.average_last_epochs)
    for path in inputs:
        try:
            read_checkpoint(path)
        except DamagedCheckpointError as error:
            raise RunError(f"{plan.name}: {path} is damaged ({error}), and it is one of the last "
                           f"epochs that are averaged for the test: delete {plan.directory} to "
                           "train this run again") from None
    if len(inputs) == 1:
        return inputs[0], [inputs[0].name]
    output = plan.save_dir / f"checkpoint_avg{len(inputs)}.pt"
    if output.is_file():
        try:
            read_checkpoint(output)
        except DamagedCheckpointError as error:
            print(f"{plan.name}: warning: {output.name} is damaged ({error}); averaging again",
                  flush=True)
            output.unlink()
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
    _stream(argv, generate_log, command="fairseq-generate", total=None, desc=plan.name, mode="w")
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
        "resumes": resumes(plan.directory),
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
