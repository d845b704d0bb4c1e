"""Experiment and run configs: load the YAML files under ``configs/`` and validate them early.

Layout (one file per experiment x preset x schedule x budget)::

    configs/<experiment>/experiment.yaml            languages, data locations, defaults, paper numbers
    configs/<experiment>/<preset>/<schedule>-<budget>.yaml   every fairseq hyperparameter of one run

A run config maps 1:1 onto fairseq flags: ``train`` and ``evaluate.generate`` keys become
``--key-with-dashes value`` (``true`` -> bare flag, ``false``/``null`` -> omitted) and
``lr_scheduler.name`` is ``--lr-scheduler``. Flags the runner owns (data, save dir, seed,
budget, devices, precision, logging) are rejected in a config so that nothing is set twice.

Example::

    spec = load_experiment("iwslt14")
    run = load_run_config(spec, "tiny", "knee", "50ep")
    run.train["lr"], run.lr_scheduler["name"]      # (0.001, 'knee')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knee_nlp.errors import UserError
from knee_nlp.fairseq_options import knee_schedule_from_fairseq
from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import check_number, check_step_count

#: schedule name in configs and reports -> fairseq ``--lr-scheduler``
SCHEDULES = {
    "inverse_sqrt": "inverse_sqrt",
    "knee": "knee",
    "knee_explore50": "knee",
    "linear": "polynomial_decay",
    "cosine": "cosine",
}
BASELINE_SCHEDULE = "inverse_sqrt"
PRESETS = ("tiny", "full")
#: fairseq-train flags set by the runner; a config that sets one is rejected
RUNNER_FLAGS = frozenset({
    "save_dir", "seed", "max_update", "max_epoch", "total_num_update", "lr_scheduler",
    "distributed_world_size", "fp16", "bf16", "cpu", "user_dir", "log_format", "log_file",
    "keep_last_epochs", "no_epoch_checkpoints", "source_lang", "target_lang", "path",
})
_RUN_KEYS = {"experiment", "preset", "schedule", "budget", "epochs", "recipe_gpus", "data",
             "train", "lr_scheduler", "evaluate"}
_DATA_LIMITS = ("max_train_pairs", "max_valid_pairs", "max_test_pairs")


class ConfigError(UserError, ValueError):
    """A config file is missing, malformed or belongs to another experiment."""


def default_config_dir() -> Path:
    """``$KNEE_NLP_CONFIG_DIR``, else the ``configs/`` folder shipped beside the package."""
    env = os.environ.get("KNEE_NLP_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "configs"


@dataclass(frozen=True)
class Selection:
    """Which schedules, budgets and seeds a preset runs by default."""

    schedules: tuple[str, ...]
    budgets: tuple[str, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class ExperimentSpec:
    """``configs/<experiment>/experiment.yaml``: what is fixed across all runs of an experiment."""

    name: str
    title: str
    source_lang: str
    target_lang: str
    data_search_dirs: tuple[str, ...]
    prepare_hint: str
    defaults: dict[str, Selection]
    paper_source: str
    paper_note: str
    paper_bleu: dict[str, dict[str, float]]
    directory: Path

    def available(self, preset: str) -> list[tuple[str, str]]:
        """``(schedule, budget)`` pairs that have a config file for ``preset``."""
        folder = self.directory / preset
        pairs = []
        for path in sorted(folder.glob("*.yaml")):
            schedule, _, budget = path.stem.rpartition("-")
            pairs.append((schedule, budget))
        return pairs


@dataclass(frozen=True)
class RunConfig:
    """One ``<schedule>-<budget>.yaml``: every hyperparameter of one training run."""

    path: Path
    experiment: str
    preset: str
    schedule: str
    budget: str
    epochs: float
    recipe_gpus: int
    data: dict[str, int | None]
    train: dict[str, Any]
    lr_scheduler: dict[str, Any]
    average_last_epochs: int
    generate: dict[str, Any]

    @property
    def peak_lr(self) -> float:
        return float(self.train["lr"])


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _require(data: dict[str, Any], keys: set[str], path: Path, where: str = "top level") -> None:
    missing, unknown = sorted(keys - data.keys()), sorted(data.keys() - keys)
    if missing or unknown:
        raise ConfigError(f"{path}: {where} must have exactly the keys {sorted(keys)}; "
                          f"missing {missing}, unknown {unknown}")


def load_experiment(name: str, config_dir: Path | None = None) -> ExperimentSpec:
    """Load ``<config_dir>/<name>/experiment.yaml``; ``ConfigError`` lists known experiments."""
    config_dir = Path(config_dir) if config_dir else default_config_dir()
    path = config_dir / name / "experiment.yaml"
    if not path.is_file():
        known = sorted(p.parent.name for p in config_dir.glob("*/experiment.yaml"))
        raise ConfigError(f"unknown experiment {name!r}: no {path}; known experiments: {known}")
    data = _read_yaml(path)
    _require(data, {"experiment", "title", "source_lang", "target_lang", "data", "defaults",
                    "paper"}, path)
    if data["experiment"] != name:
        raise ConfigError(f"{path}: says experiment {data['experiment']!r}, expected {name!r}")
    defaults = {}
    for preset, selection in data["defaults"].items():
        if preset not in PRESETS:
            raise ConfigError(f"{path}: defaults preset must be one of {PRESETS}, got {preset!r}")
        defaults[preset] = Selection(tuple(selection["schedules"]), tuple(selection["budgets"]),
                                     tuple(int(s) for s in selection["seeds"]))
    paper = data["paper"]
    return ExperimentSpec(
        name=name, title=data["title"], source_lang=data["source_lang"],
        target_lang=data["target_lang"], data_search_dirs=tuple(data["data"]["search_dirs"]),
        prepare_hint=data["data"]["prepare"], defaults=defaults, paper_source=paper["source"],
        paper_note=paper["note"],
        paper_bleu={budget: dict(row) for budget, row in (paper["bleu"] or {}).items()},
        directory=path.parent,
    )


def parse_run_config(data: dict[str, Any], path: Path, spec: ExperimentSpec,
                     preset: str) -> RunConfig:
    """Validate a loaded run config against its experiment and preset."""
    _require(data, _RUN_KEYS, path)
    if data["experiment"] != spec.name:
        raise ConfigError(f"{path}: is a config for experiment {data['experiment']!r}, "
                          f"not {spec.name!r}")
    if data["preset"] != preset:
        raise ConfigError(f"{path}: is a {data['preset']!r} preset, expected {preset!r}")
    schedule = data["schedule"]
    if schedule not in SCHEDULES:
        raise ConfigError(f"{path}: schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    try:
        epochs = check_number("epochs", data["epochs"], inclusive=False)
        recipe_gpus = check_step_count("recipe_gpus", data["recipe_gpus"], minimum=1)
    except ValueError as error:
        raise ConfigError(f"{path}: {error}") from None
    if data["budget"] != f"{epochs:g}ep":
        raise ConfigError(f"{path}: budget {data['budget']!r} does not match epochs {epochs:g} "
                          f"(expected {epochs:g}ep)")
    train = dict(data["train"])
    owned = sorted(RUNNER_FLAGS & train.keys())
    if owned:
        raise ConfigError(f"{path}: train sets {owned}, which knee-nlp reproduce sets itself")
    missing = sorted({"arch", "lr", "max_tokens", "update_freq"} - train.keys())
    if missing:
        raise ConfigError(f"{path}: train is missing {missing}")
    lr_scheduler = dict(data["lr_scheduler"])
    if lr_scheduler.get("name") != SCHEDULES[schedule]:
        raise ConfigError(f"{path}: schedule {schedule!r} needs lr_scheduler.name "
                          f"{SCHEDULES[schedule]!r}, got {lr_scheduler.get('name')!r}")
    limits = dict(data["data"] or {})
    unknown = sorted(limits.keys() - set(_DATA_LIMITS))
    if unknown:
        raise ConfigError(f"{path}: data keys must be among {list(_DATA_LIMITS)}, got {unknown}")
    try:
        for key, value in limits.items():
            if value is not None:
                limits[key] = check_step_count(f"data.{key}", value, minimum=1)
        check_number("train.lr", train["lr"], inclusive=False)
        check_step_count("train.max_tokens", train["max_tokens"], minimum=1)
        check_step_count("train.update_freq", train["update_freq"], minimum=1)
        evaluate = data["evaluate"]
        average = check_step_count("evaluate.average_last_epochs",
                                   evaluate["average_last_epochs"], minimum=1)
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{path}: {error}") from None
    return RunConfig(
        path=path, experiment=spec.name, preset=preset, schedule=schedule,
        budget=data["budget"], epochs=epochs, recipe_gpus=recipe_gpus,
        data={key: limits.get(key) for key in _DATA_LIMITS}, train=train,
        lr_scheduler=lr_scheduler, average_last_epochs=average,
        generate=dict(evaluate.get("generate") or {}),
    )


def load_run_config(spec: ExperimentSpec, preset: str, schedule: str, budget: str) -> RunConfig:
    """Load ``<experiment>/<preset>/<schedule>-<budget>.yaml``, naming the valid choices on error."""
    if preset not in PRESETS:
        raise ConfigError(f"preset must be one of {PRESETS}, got {preset!r}")
    available = spec.available(preset)
    if (schedule, budget) not in available:
        schedules = sorted({s for s, _ in available})
        budgets = sorted({b for _, b in available})
        what = (f"schedule {schedule!r}" if schedule not in schedules
                else f"budget {budget!r}" if budget not in budgets
                else f"combination {schedule}-{budget}")
        raise ConfigError(f"{spec.name} ({preset}): unknown {what}; schedules: {schedules}, "
                          f"budgets: {budgets}")
    path = spec.directory / preset / f"{schedule}-{budget}.yaml"
    return parse_run_config(_read_yaml(path), path, spec, preset)


def knee_schedule(lr_scheduler: dict[str, Any], peak_lr: float, total_updates: int) -> KneeSchedule:
    """The :class:`~knee_nlp.schedule.KneeSchedule` a ``knee`` lr_scheduler section describes.

    >>> knee_schedule({"name": "knee", "warmup_updates": 4, "explore_ratio": 0.5}, 1.0, 20).explore_end
    14
    """
    options = {key: value for key, value in lr_scheduler.items() if key != "name"}
    return knee_schedule_from_fairseq(lr=peak_lr, total_num_update=total_updates, **options)
