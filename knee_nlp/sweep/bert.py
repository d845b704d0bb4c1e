"""The tiny BERT masked-LM backend of the explore sweep.

- **Training**: the BERT launcher (``python -m hf_integration.pretrain_bert``) by subprocess, with
  ``schedule=knee``, the run's ``seed``, every phase's ``explore_ratio`` set to the swept value,
  the training file, the validation half as ``data.validation_files`` and
  ``logging.eval_batches`` large enough to evaluate on the whole validation half. The launcher
  resumes an interrupted run by itself.
- **Validation score**: the launcher's own held-out MLM accuracy on the validation half at the end
  of the last phase (``<phase>/eval_mlm_accuracy`` in ``metrics.jsonl``).
- **Test score**: MLM accuracy (argmax = original token, over masked positions) of the final
  model on the test half, computed after training on every full batch of 8 packed blocks of the
  test half (up to 7 trailing blocks left out), masked
  once from a fixed seed (:func:`knee_nlp.sharpness_targets.hf_mlm_target`'s 80/10/10 masking),
  so every run is scored on the same masked tokens.
- **Sharpness**: :func:`knee_nlp.sharpness.keskar_sharpness` of the final model on a fixed seeded
  sample of training batches (8 blocks of 128 tokens each), the same sample for every run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from knee_nlp.child_process import dies_with_parent
from knee_nlp.data.parallel import check_utf8
from knee_nlp.sweep.backend import RunFailed, Scores, SharpnessSettings, measure_sharpness
from knee_nlp.sweep.splits import ArticleSplit, sha256_file, split_by_article, write_split

#: keys the sweep sets itself; ``--set`` may not touch them
CONTROLLED_KEYS = ("seed", "schedule", "run_dir", "data.train_files", "data.validation_files",
                   "logging.eval_batches")
#: evaluate on every block of the validation half (the launcher caps at the data it has)
EVAL_ALL_BATCHES = 1_000_000
TEST_BATCH_SIZE = 8
TEST_MASK_SEED = 0
SHARPNESS_BATCH_SIZE = 8
SHARPNESS_SEQ_LENGTH = 128


def check_override(text: str) -> str:
    """A ``--set KEY=VALUE`` passthrough: well formed and not one of the sweep's own keys."""
    key, sep, _ = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--set must look like dotted.key=value, got {text!r}")
    parts = key.split(".")
    if key in CONTROLLED_KEYS or (parts[0] == "phases" and parts[-1] in ("explore_ratio", "explore_steps")):
        raise ValueError(
            f"--set {key} is chosen by the sweep itself (explore ratio, seed, schedule, run "
            f"directory, data files, evaluation size); allowed: any other launcher key"
        )
    return text


class BertBackend:
    """Tiny BERT MLM pretraining on a training text, scored on a held-out text split by article."""

    name = "bert"
    score_name = "MLM accuracy"
    score_format = "percent"

    def __init__(
        self, config: Path, train_file: Path, heldout_file: Path, *, overrides: list[str] | None = None,
        device: str = "auto", python: str = sys.executable,
    ) -> None:
        self.config = Path(config).resolve()
        if not self.config.is_file():
            raise ValueError(f"--config {config} is not a file")
        self.train_file = Path(train_file).resolve()
        if not self.train_file.is_file():
            raise ValueError(f"--train-file {train_file} is not a file")
        self.heldout_file = Path(heldout_file).resolve()
        if not self.heldout_file.is_file():
            raise ValueError(f"--validation-file {heldout_file} is not a file")
        if self.heldout_file == self.train_file:
            raise ValueError("--validation-file must not be the --train-file: held-out data must be disjoint")
        self.overrides = [check_override(text) for text in overrides or []]
        try:
            raw = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise ValueError(f"--config {config} is not a YAML file (a BERT launcher config?): {error}") from None
        phases = raw.get("phases") if isinstance(raw, dict) else None
        if not isinstance(phases, list) or not phases:
            raise ValueError(f"--config {config} has no phases list (a BERT launcher config?)")
        self.phases = phases
        self._load_config()  # the launcher's checks, before any run
        check_utf8(self.train_file)  # names the first line that is not UTF-8
        check_utf8(self.heldout_file)
        self.split: ArticleSplit = split_by_article(
            self.heldout_file.read_text(encoding="utf-8"), f"--validation-file {heldout_file}"
        )
        self.device = device
        self.python = python
        self.data_dir: Path | None = None

    def settings(self) -> dict[str, Any]:
        return {
            "config_sha256": sha256_file(self.config),
            "overrides": self.overrides,
            "train_sha256": sha256_file(self.train_file),
            "heldout_sha256": sha256_file(self.heldout_file),
            "split": self.split.describe(),
            "validation_score": "launcher eval_mlm_accuracy of the last phase on the whole validation half",
            "test_score": {"metric": "MLM accuracy over masked tokens", "batch_size": TEST_BATCH_SIZE,
                           "mask_seed": TEST_MASK_SEED, "masking": "80/10/10, drawn once"},
            "sharpness_batch": [SHARPNESS_BATCH_SIZE, SHARPNESS_SEQ_LENGTH],
        }

    def paths(self) -> dict[str, str]:
        return {"config": str(self.config), "train_file": str(self.train_file),
                "heldout_file": str(self.heldout_file)}

    def describe_data(self) -> dict[str, str]:
        s = self.split
        return {
            "train": f"{self.train_file.name} ({self.train_file})",
            "validation": f"first {s.validation_articles} articles of {self.heldout_file.name} "
                          f"(from {s.validation_first_title!r}); data/validation.txt",
            "test": f"last {s.test_articles} articles of {self.heldout_file.name} "
                    f"(from {s.test_first_title!r}); data/test.txt",
        }

    def prepare(self, sweep_dir: Path) -> None:
        self.data_dir = sweep_dir / "data"
        write_split(self.split, self.data_dir)

    def _load_config(self, *extra: str) -> None:
        from hf_integration.pretrain_bert.config import load_config

        load_config(self.config, [*self.overrides, "schedule=knee", f"data.train_files={json.dumps([str(self.train_file)])}",
                                  f"data.validation_files={json.dumps([str(self.heldout_file)])}", *extra])

    def _explore_overrides(self, explore_ratio: float) -> list[str]:
        return [f"phases.{index}.explore_ratio={explore_ratio!r}" for index in range(len(self.phases))]

    def check_ratio(self, explore_ratio: float) -> None:
        """The launcher's own check of every phase's schedule (warmup, --set overrides included)."""
        try:
            self._load_config(*self._explore_overrides(explore_ratio))
        except ValueError as error:
            raise ValueError(f"--explore-ratios {explore_ratio:g} does not fit this config: {error}") from None

    def _validation_file(self) -> Path:
        assert self.data_dir is not None, "prepare() first"
        return self.data_dir / "validation.txt"

    def _test_file(self) -> Path:
        assert self.data_dir is not None, "prepare() first"
        return self.data_dir / "test.txt"

    @staticmethod
    def _run_config(run_dir: Path) -> dict[str, Any]:
        return yaml.safe_load((run_dir / "train" / "config.yaml").read_text(encoding="utf-8"))

    def _final_dir(self, run_dir: Path) -> Path:
        return run_dir / "train" / self._run_config(run_dir)["phases"][-1]["name"] / "final"

    def is_trained(self, run_dir: Path) -> bool:
        return (run_dir / "train" / "config.yaml").is_file() and (self._final_dir(run_dir) / "config.json").is_file()

    def command(self, run_dir: Path, explore_ratio: float, seed: int) -> list[str]:
        """The launcher command line of one run."""
        return [
            self.python, "-m", "hf_integration.pretrain_bert", "--config", str(self.config),
            *self.overrides, f"seed={seed}", "schedule=knee", f"run_dir={json.dumps(str(run_dir / 'train'))}",
            *self._explore_overrides(explore_ratio),
            f"data.train_files={json.dumps([str(self.train_file)])}",
            f"data.validation_files={json.dumps([str(self._validation_file())])}",
            f"logging.eval_batches={EVAL_ALL_BATCHES}",
        ]

    def train(self, run_dir: Path, explore_ratio: float, seed: int) -> None:
        argv = self.command(run_dir, explore_ratio, seed)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "command.json").write_text(json.dumps(argv, indent=1) + "\n")
        completed = subprocess.run(argv, check=False, preexec_fn=dies_with_parent())
        if completed.returncode != 0 or not self.is_trained(run_dir):
            raise RunFailed(
                f"training {run_dir.name} failed (exit code {completed.returncode}; its output is above; "
                f"the command is in {run_dir / 'command.json'}); re-run the same sweep command to resume"
            )

    def score(self, run_dir: Path) -> Scores:
        import torch

        from knee_nlp.sharpness_targets import hf_mlm_target, resolve_device

        cfg = self._run_config(run_dir)
        last = cfg["phases"][-1]
        validation = _final_eval(run_dir / "train", last["name"])
        target = hf_mlm_target(
            self._final_dir(run_dir), [self._test_file()], max_batches=10**9, batch_size=TEST_BATCH_SIZE,
            max_seq_length=last["max_seq_length"], mlm_probability=cfg["data"]["mlm_probability"],
            seed=TEST_MASK_SEED, device=resolve_device(self.device),
        )
        model = target.model.eval()
        correct = masked = 0
        loss_sum = 0.0
        with torch.no_grad():
            for batch in target.batches:
                out = model(**batch)
                chosen = batch["labels"] != -100
                count = int(chosen.sum())
                correct += int((out.logits.argmax(-1)[chosen] == batch["labels"][chosen]).sum())
                masked += count
                loss_sum += float(out.loss) * count
        return Scores(
            validation=validation["accuracy"], test=correct / masked,
            extra={"validation_loss": validation["loss"], "validation_step": validation["step"],
                   "test_loss": loss_sum / masked, "test_masked_tokens": masked,
                   "test_blocks": len(target.batches) * TEST_BATCH_SIZE,
                   "test_seq_length": last["max_seq_length"]},
        )

    def sharpness(self, run_dir: Path, settings: SharpnessSettings) -> dict[str, Any]:
        from knee_nlp.sharpness_targets import hf_mlm_target, resolve_device

        cfg = self._run_config(run_dir)
        target = hf_mlm_target(
            self._final_dir(run_dir), [self.train_file], max_batches=settings.batches,
            batch_size=SHARPNESS_BATCH_SIZE, max_seq_length=SHARPNESS_SEQ_LENGTH,
            mlm_probability=cfg["data"]["mlm_probability"], seed=settings.seed,
            device=resolve_device(self.device),
        )
        return measure_sharpness(target, settings, batch_shape=[SHARPNESS_BATCH_SIZE, SHARPNESS_SEQ_LENGTH])


def _final_eval(train_dir: Path, phase: str) -> dict[str, float]:
    """The last ``<phase>/eval_mlm_accuracy`` and ``eval_loss`` logged under ``train_dir``."""
    accuracy_key, loss_key = f"{phase}/eval_mlm_accuracy", f"{phase}/eval_loss"
    best: dict[str, float] | None = None
    for path in sorted(train_dir.rglob("metrics.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if accuracy_key in record and (best is None or record.get("step", 0) >= best["step"]):
                best = {"accuracy": record[accuracy_key], "loss": record.get(loss_key, float("nan")),
                        "step": record.get("step", 0)}
    if best is None:
        raise RunFailed(f"no {accuracy_key} in {train_dir}/**/metrics.jsonl: did the launcher evaluate?")
    return best
