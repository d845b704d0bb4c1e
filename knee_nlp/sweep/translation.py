"""The translation backend of the explore sweep: a ``knee-nlp reproduce`` experiment with fairseq.

- **Training**: the experiment's tuned ``knee`` schedule at the preset's full budget (its largest
  ``<N>ep``), with the swept explore fraction (:func:`knee_nlp.reproduce.explore.with_explore`)
  and the run's seed, planned by :func:`knee_nlp.reproduce.pipeline.plan_runs` and run by
  :func:`knee_nlp.reproduce.runner.execute` exactly as ``knee-nlp reproduce`` runs it:
  fairseq-train (a re-run resumes from the last checkpoint), the average of the last
  ``evaluate.average_last_epochs`` epoch checkpoints, fairseq-generate on the test set. One
  process, fp32, on CUDA when available.
- **Validation score**: tokenized BLEU (fairseq's ``BLEU4``, the score ``knee-nlp reproduce``
  reports) of that final checkpoint on the ``valid`` subset: ``fairseq-generate --gen-subset
  valid`` with the preset's ``evaluate.generate`` settings (Multi30k: val, 1,014 pairs).
- **Test score**: the same on the ``test`` subset, from the reproduce run's ``result.json``;
  reported, never used to choose.
- **Sharpness**: :func:`knee_nlp.sharpness_targets.fairseq_target` on the final checkpoint: its
  criterion per target token on a seeded sample of training batches of its ``--max-tokens``
  (the same batches for every run).

A run directory holds ``train/`` (a reproduce run directory: ``train/runs/knee-<budget>-seed<s>/``
with ``plan.json``, ``train.log``, ``checkpoints/``, ``generate.log``, ``result.json``) and
``valid-generate.log``. Data that must be cut to the preset's subset or binarized goes to
``<sweep-dir>/data/``, once.

Example::

    backend = TranslationBackend(Path("multi30k.de-en"), experiment="multi30k", preset="cpu")
    run_sweep(Path("sweeps/multi30k"), backend, [0.0, 0.5], [1, 2], SharpnessSettings(1e-4, 50, 0.2, 2))
"""

from __future__ import annotations

import logging
import math
import subprocess
from pathlib import Path
from typing import Any

from knee_nlp.child_process import dies_with_parent
from knee_nlp.reproduce.config import (ConfigError, RunConfig, budget_epochs, knee_schedule,
                                       load_experiment, load_run_config)
from knee_nlp.reproduce.datasets import DataError, DataSource, detect_layout, resolve_data
from knee_nlp.reproduce.explore import TUNED_SCHEDULE, explore_choice, with_explore
from knee_nlp.reproduce.fairseq_commands import generate_command
from knee_nlp.reproduce.layout import CHECKPOINTS, RESULT, run_directories
from knee_nlp.reproduce.pipeline import check_devices, plan_runs
from knee_nlp.reproduce.runner import RunPlan, execute
from knee_nlp.reproduce.scoring import score_generate_output
from knee_nlp.state_files import read_json
from knee_nlp.sweep.backend import RunFailed, Scores, SharpnessSettings, measure_sharpness
from knee_nlp.sweep.splits import sha256_file

TRAIN_DIR = "train"
VALID_LOG = "valid-generate.log"
#: lr_scheduler keys the sweep sets (left out of the recorded settings)
EXPLORE_KEYS = ("explore_ratio", "explore_updates")
#: files of a data folder that decide its content: the dictionaries and the three splits
DATA_FILE_PREFIXES = ("dict", "train", "valid", "test")
#: one training process in fp32, as ``knee-nlp reproduce`` without --gpus/--fp16/--bf16
GPUS, PRECISION = 1, "fp32"


def import_fairseq_keeping_logging() -> None:
    """Import fairseq, undoing the DEBUG-level root handler its import installs (which would
    print every library's debug lines, matplotlib's included, into the sweep's output)."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    import fairseq  # noqa: F401

    root.setLevel(level)
    root.handlers[:] = handlers


def full_budget(budgets: tuple[str, ...]) -> str:
    """The largest of a preset's budgets (``("5ep", "3ep")`` -> ``"5ep"``)."""
    return max(budgets, key=budget_epochs)


class TranslationBackend:
    """A ``knee-nlp reproduce`` experiment and preset, trained with its ``knee`` schedule."""

    name = "translation"
    score_name = "BLEU"
    score_format = "plain"

    def __init__(self, data_dir: Path, *, experiment: str = "multi30k", preset: str = "cpu",
                 config_dir: Path | None = None, device: str = "auto") -> None:
        self.spec = load_experiment(experiment, config_dir)
        if preset not in self.spec.presets:
            raise ConfigError(f"--preset must be one of {list(self.spec.presets)} for {experiment}, "
                              f"got {preset!r}")
        self.preset = preset
        self.budget = full_budget(self.spec.budgets[preset])
        self.config: RunConfig = load_run_config(self.spec, preset, TUNED_SCHEDULE, self.budget)
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            problem = "is a file, not a directory" if data_dir.exists() else "does not exist"
            raise DataError(f"--data-dir {data_dir} {problem}; prepare it with: {self.spec.prepare_hint}")
        self.data_dir = data_dir.resolve()
        inner = self.data_dir / "data-bin"  # the output folder of `knee-nlp data`
        self.input_dir = inner if inner.is_dir() else self.data_dir
        try:
            self.layout = detect_layout(self.input_dir, self.spec.source_lang, self.spec.target_lang)
        except DataError as error:
            raise DataError(f"--data-dir: {error}") from None
        self.cpu = check_devices(GPUS, PRECISION)
        self.device = device
        self.source: DataSource | None = None
        self.sweep_dir: Path | None = None
        self._budget: tuple[int, int] | None = None

    def settings(self) -> dict[str, Any]:
        config = self.config.to_dict()
        config["lr_scheduler"] = {key: value for key, value in config["lr_scheduler"].items()
                                  if key not in EXPLORE_KEYS}
        return {
            "experiment": self.spec.name, "preset": self.preset, "budget": self.budget,
            "run_config": config,
            "data": {"layout": self.layout,
                     "sha256": {path.name: sha256_file(path) for path in self._data_files()}},
            "training": {"gpus": GPUS, "precision": PRECISION, "cpu": self.cpu},
            "validation_score": "tokenized BLEU (fairseq BLEU4) of the final checkpoint on the valid "
                                "subset: fairseq-generate --gen-subset valid with evaluate.generate",
            "test_score": "the same on the test subset (knee-nlp reproduce's test BLEU); reported only",
            "sharpness_batches": "a seeded sample of training batches of the checkpoint's --max-tokens",
        }

    def _data_files(self) -> list[Path]:
        return sorted(path for path in self.input_dir.iterdir()
                      if path.is_file() and path.name.split(".")[0] in DATA_FILE_PREFIXES)

    def paths(self) -> dict[str, str]:
        return {"data_dir": str(self.data_dir), "config_dir": str(self.spec.directory)}

    def describe_data(self) -> dict[str, str]:
        def split(name: str, limit: str, use: str) -> str:
            count = self.config.data.get(limit)
            return f"{f'first {count} pairs of ' if count else ''}{name} of {self.input_dir} ({use})"

        return {
            "train": split("train", "max_train_pairs", f"{self.spec.title}, preset {self.preset}, "
                           f"knee schedule at the full budget {self.budget}"),
            "validation": split("valid", "max_valid_pairs", "fairseq-generate --gen-subset valid: "
                                "chooses the explore fraction"),
            "test": split("test", "max_test_pairs", "--gen-subset test: reported only"),
        }

    def prepare(self, sweep_dir: Path) -> None:
        import_fairseq_keeping_logging()  # before the data and batch counts import it
        self.sweep_dir = sweep_dir
        self.source = resolve_data(self.spec, sweep_dir / "data", self.data_dir, self.config.data,
                                   self.preset)

    def _run_config(self, explore_ratio: float) -> RunConfig:
        return with_explore(self.config, explore_choice(explore_ratio, "--explore-ratios"))

    def _plan(self, run_dir: Path, explore_ratio: float, seed: int) -> RunPlan:
        """The reproduce plan of one run (nothing is written)."""
        assert self.source is not None, "prepare() first"
        (plan,) = plan_runs(self.spec, [self._run_config(explore_ratio)], (seed,), run_dir,
                            self.source, GPUS, PRECISION, self.cpu)
        return plan

    def budget_updates(self) -> tuple[int, int]:
        """``(updates, warmup updates)`` of a run, counted with fairseq's batching (once)."""
        if self._budget is None:
            assert self.sweep_dir is not None, "prepare() first"
            plan = self._plan(self.sweep_dir / "runs", 0.0, 0)
            self._budget = plan.max_update, int(self.config.lr_scheduler.get("warmup_updates", 0))
        return self._budget

    def check_ratio(self, explore_ratio: float) -> None:
        updates, warmup = self.budget_updates()
        try:
            knee_schedule(self._run_config(explore_ratio).lr_scheduler, self.config.peak_lr, updates)
        except ValueError as error:
            top = math.floor(1000 * (updates - warmup) / updates) / 1000
            raise ValueError(
                f"--explore-ratios {explore_ratio:g} does not fit the budget of {self.spec.name} "
                f"--preset {self.preset} ({self.budget} = {updates} updates, {warmup} of them "
                f"warmup): allowed [0, {top:g}] ({error})"
            ) from None

    @staticmethod
    def _finished(run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
        """The reproduce run directory and its ``result.json`` once trained, averaged and tested."""
        for directory in run_directories(run_dir / TRAIN_DIR):
            if (directory / RESULT).is_file():
                return directory, read_json(directory / RESULT, "delete it and run the same sweep "
                                            "command again: the run is scored again from its checkpoints")
        return None

    def _final_checkpoint(self, run_dir: Path) -> tuple[Path, dict[str, Any]]:
        finished = self._finished(run_dir)
        assert finished is not None, f"{run_dir} is not trained"
        directory, result = finished
        return directory / CHECKPOINTS / result["checkpoint"], result

    def is_trained(self, run_dir: Path) -> bool:
        return self._finished(run_dir) is not None

    def train(self, run_dir: Path, explore_ratio: float, seed: int) -> None:
        assert self.source is not None, "prepare() first"
        execute(self._plan(run_dir / TRAIN_DIR, explore_ratio, seed),
                target_lang=self.spec.target_lang, test_pairs=self.source.pairs["test"])

    def score(self, run_dir: Path) -> Scores:
        assert self.source is not None, "prepare() first"
        checkpoint, result = self._final_checkpoint(run_dir)
        argv = [*generate_command(self.config, bin_dir=self.source.bin_dir,
                                  source_lang=self.spec.source_lang, target_lang=self.spec.target_lang,
                                  precision=PRECISION, cpu=self.cpu, subset="valid"),
                "--path", str(checkpoint)]
        log = run_dir / VALID_LOG
        print(f"{run_dir.name}: generating the validation set with {checkpoint.name}", flush=True)
        with open(log, "w", encoding="utf-8") as sink:
            returncode = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, check=False,
                                        preexec_fn=dies_with_parent()).returncode
        if returncode != 0:
            raise RunFailed(f"fairseq-generate on the validation set exited with status "
                               f"{returncode}; see {log}")
        valid = score_generate_output(log.read_text(encoding="utf-8"), target_lang=self.spec.target_lang)
        if valid["sentences"] != self.source.pairs["valid"]:
            raise RunFailed(f"fairseq-generate translated {valid['sentences']} of the "
                               f"{self.source.pairs['valid']} validation sentences; see {log}")
        test = result["test"]
        return Scores(
            validation=valid["bleu_tokenized"], test=test["bleu_tokenized"],
            extra={"validation_sacrebleu": valid["sacrebleu"], "validation_sentences": valid["sentences"],
                   "test_sacrebleu": test["sacrebleu"], "test_sentences": test["sentences"],
                   "sacrebleu_signature": valid["sacrebleu_signature"],
                   "checkpoint": result["checkpoint"], "averaged_checkpoints": result["averaged_checkpoints"],
                   "updates": result["max_update"]},
        )

    def sharpness(self, run_dir: Path, settings: SharpnessSettings) -> dict[str, Any]:
        from knee_nlp.sharpness_targets import fairseq_target, resolve_device

        assert self.source is not None, "prepare() first"
        checkpoint, _ = self._final_checkpoint(run_dir)
        target = fairseq_target(checkpoint, self.source.bin_dir, split="train",
                                max_batches=settings.batches, max_tokens=None, seed=settings.seed,
                                device=resolve_device(self.device))
        return measure_sharpness(target, settings, checkpoint=checkpoint.name,
                                 batch_tokens=target.description["max_tokens"])
