"""Experiment and run configs: compose the YAML files shipped in ``knee_nlp/configs/reproduce``.

Layout (found with :mod:`importlib.resources`; ``$KNEE_NLP_CONFIG_DIR`` or ``--config-dir``
points at another folder of the same shape)::

    schedules.yaml                    one block per schedule (its lr_scheduler keys), in report order
    <experiment>/experiment.yaml      languages, data, presets and their budgets, defaults, paper;
                                      optional ``schedules:`` blocks that replace the shared ones
    <experiment>/<preset>.yaml        the preset's base: every fairseq hyperparameter but the
                                      schedule's own

One run = base + schedule block + budget, merged with OmegaConf: the block's keys override the
base's (a key set to ``null`` in ``lr_scheduler`` is dropped), ``lr_scheduler.name`` comes first,
and the budget ``<N>ep`` sets ``epochs: N``. The resolved config has the shape of a stand-alone
run file (:meth:`RunConfig.to_dict`; ``knee-nlp reproduce --dry-run`` prints it).

A run config maps 1:1 onto fairseq flags: ``train`` and ``evaluate.generate`` keys become
``--key-with-dashes value`` (``true`` -> bare flag, ``false``/``null`` -> omitted) and
``lr_scheduler.name`` is ``--lr-scheduler``. Flags the runner owns (data, save dir, seed,
budget, devices, precision, logging) are rejected in a config so that nothing is set twice.
Errors name the file and the key that set a bad value.

Example::

    spec = load_experiment("iwslt14")
    run = load_run_config(spec, "tiny", "knee", "50ep")
    run.train["lr"], run.lr_scheduler["name"]      # (0.002, 'knee')
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from knee_nlp.errors import UserError
from knee_nlp.fairseq_options import knee_schedule_from_fairseq
from knee_nlp.registry import SCHEDULES as REGISTRY
from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import check_number, check_ratio, check_step_count

SCHEDULE_FILE = "schedules.yaml"
EXPERIMENT_FILE = "experiment.yaml"
BASELINE_SCHEDULE = "inverse_sqrt"
#: fairseq-train flags set by the runner; a config that sets one is rejected
RUNNER_FLAGS = frozenset({
    "save_dir", "seed", "max_update", "max_epoch", "total_num_update", "lr_scheduler",
    "distributed_world_size", "fp16", "bf16", "cpu", "user_dir", "log_format", "log_file",
    "keep_last_epochs", "no_epoch_checkpoints", "source_lang", "target_lang", "path",
})
_BASE_KEYS = {"experiment", "preset", "recipe_gpus", "data", "train", "lr_scheduler", "evaluate"}
_BLOCK_KEYS = {"lr_scheduler", "train", "evaluate"}
_RUN_KEYS = _BASE_KEYS | {"schedule", "budget", "epochs"}
_EXPERIMENT_KEYS = {"experiment", "title", "source_lang", "target_lang", "data", "budgets",
                    "defaults", "paper"}
_DATA_KEYS = {"search_dirs", "prepare"}
_DATA_OPTIONAL = {"synthetic_fallback", "prepare_recipe"}
_DATA_LIMITS = ("max_train_pairs", "max_valid_pairs", "max_test_pairs")
_BUDGET = re.compile(r"([1-9]\d*)ep")


class ConfigError(UserError, ValueError):
    """A config file is missing, malformed or belongs to another experiment."""


def shipped_config_dir() -> Path:
    """The configs installed with the package (``knee_nlp/configs/reproduce``)."""
    return Path(str(resources.files("knee_nlp").joinpath("configs", "reproduce")))


def default_config_dir() -> Path:
    """``$KNEE_NLP_CONFIG_DIR``, else the configs shipped inside the package."""
    env = os.environ.get("KNEE_NLP_CONFIG_DIR")
    return Path(env) if env else shipped_config_dir()


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


def _require(data: dict[str, Any], keys: set[str], path: Path | str, where: str = "top level",
             optional: set[str] = frozenset()) -> None:
    missing, unknown = sorted(keys - data.keys()), sorted(data.keys() - keys - optional)
    if missing or unknown:
        allowed = sorted(keys) + ([f"optional {sorted(optional)}"] if optional else [])
        raise ConfigError(f"{path}: {where} must have exactly the keys {allowed}; "
                          f"missing {missing}, unknown {unknown}")


#: the fairseq ``--lr-scheduler`` of every schedule family in the one registry; each block of
#: ``schedules.yaml`` configures one of them (``knee_explore50`` is Knee with another setting)
FAIRSEQ_SCHEDULERS = tuple(spec.fairseq_scheduler for spec in REGISTRY.values())


def _schedule_blocks(data: Any, path: Path | str) -> dict[str, dict[str, Any]]:
    """Check a mapping of schedule name -> block (``lr_scheduler`` with a ``name``, ...)."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: schedules must be a non-empty mapping of schedule -> block")
    for name, block in data.items():
        where = f"schedules.{name}" if str(path).endswith(EXPERIMENT_FILE) else name
        if not isinstance(block, dict):
            raise ConfigError(f"{path}: {where} must be a mapping, got {block!r}")
        _require(block, {"lr_scheduler"}, path, where, optional=_BLOCK_KEYS - {"lr_scheduler"})
        for key, value in block.items():
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {where}.{key} must be a mapping, got {value!r}")
        if block["lr_scheduler"].get("name") not in FAIRSEQ_SCHEDULERS:
            raise ConfigError(f"{path}: {where}.lr_scheduler.name must name a fairseq "
                              f"--lr-scheduler of knee_nlp.registry ({', '.join(FAIRSEQ_SCHEDULERS)}), "
                              f"got {block['lr_scheduler'].get('name')!r}")
    return data


def load_schedule_table(config_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """``schedules.yaml`` of ``config_dir`` (else the shipped one): schedule -> block."""
    path = Path(config_dir or shipped_config_dir()) / SCHEDULE_FILE
    if config_dir is not None and not path.is_file():
        path = shipped_config_dir() / SCHEDULE_FILE
    return _schedule_blocks(_read_yaml(path), path)


#: schedule name in configs and reports -> fairseq ``--lr-scheduler`` (from schedules.yaml)
SCHEDULES = {name: block["lr_scheduler"]["name"] for name, block in load_schedule_table().items()}


def budget_epochs(budget: str) -> int:
    """``"50ep"`` -> 50; ``ConfigError`` for another form. Whole epochs only: fairseq's
    ``--max-epoch`` and the average of the last epochs' checkpoints count whole epochs."""
    match = _BUDGET.fullmatch(str(budget))
    if not match:
        raise ConfigError(f"budget {budget!r} must be '<whole epochs>ep' (an integer >= 1), e.g. '50ep'")
    return int(match.group(1))


@dataclass(frozen=True)
class Selection:
    """Which schedules, budgets and seeds a preset runs by default."""

    schedules: tuple[str, ...]
    budgets: tuple[str, ...]
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class ExperimentSpec:
    """``<experiment>/experiment.yaml``: what is fixed across all runs of an experiment."""

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
    budgets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedule_sources: dict[str, Path] = field(default_factory=dict)
    synthetic_fallback: tuple[str, ...] = ()
    prepare_recipe: str | None = None

    @property
    def presets(self) -> tuple[str, ...]:
        return tuple(self.budgets)

    def available(self, preset: str) -> list[tuple[str, str]]:
        """``(schedule, budget)`` pairs ``preset`` can run."""
        return [(s, b) for s in self.schedules for b in self.budgets.get(preset, ())]

    def base_path(self, preset: str) -> Path:
        return self.directory / f"{preset}.yaml"


@dataclass(frozen=True)
class RunConfig:
    """One run, resolved from its preset base, schedule block and budget."""

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
    source: str = ""

    @property
    def peak_lr(self) -> float:
        return float(self.train["lr"])

    def to_dict(self) -> dict[str, Any]:
        """The resolved config in the shape of a stand-alone run file."""
        return {
            "experiment": self.experiment, "preset": self.preset, "schedule": self.schedule,
            "budget": self.budget, "epochs": self.epochs, "recipe_gpus": self.recipe_gpus,
            "data": dict(self.data), "train": dict(self.train),
            "lr_scheduler": dict(self.lr_scheduler),
            "evaluate": {"average_last_epochs": self.average_last_epochs,
                         "generate": dict(self.generate)},
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)


def load_experiment(name: str, config_dir: Path | None = None) -> ExperimentSpec:
    """Load ``<config_dir>/<name>/experiment.yaml``; ``ConfigError`` lists known experiments."""
    config_dir = Path(config_dir) if config_dir else default_config_dir()
    path = config_dir / name / EXPERIMENT_FILE
    if not path.is_file():
        known = sorted(p.parent.name for p in config_dir.glob(f"*/{EXPERIMENT_FILE}"))
        raise ConfigError(f"unknown experiment {name!r}: no {path}; known experiments: {known}")
    data = _read_yaml(path)
    _require(data, _EXPERIMENT_KEYS, path, optional={"schedules"})
    if data["experiment"] != name:
        raise ConfigError(f"{path}: says experiment {data['experiment']!r}, expected {name!r}")
    if not isinstance(data["data"], dict):
        raise ConfigError(f"{path}: data must be a mapping, got {data['data']!r}")
    _require(data["data"], _DATA_KEYS, path, "data", optional=_DATA_OPTIONAL)
    budgets = data["budgets"]
    if not isinstance(budgets, dict) or not budgets:
        raise ConfigError(f"{path}: budgets must map each preset to its list of budgets")
    for preset, names in budgets.items():
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{path}: budgets.{preset} must be a list like [50ep, 35ep]")
        for budget in names:
            try:
                budget_epochs(budget)
            except ConfigError as error:
                raise ConfigError(f"{path}: budgets.{preset}: {error}") from None
    table = dict(load_schedule_table(config_dir))
    own_table = config_dir / SCHEDULE_FILE
    sources = {schedule: own_table if own_table.is_file() else shipped_config_dir() / SCHEDULE_FILE
               for schedule in table}
    if "schedules" in data:  # this experiment's own blocks replace the shared ones
        for schedule, block in _schedule_blocks(data["schedules"], path).items():
            if schedule not in SCHEDULES:
                raise ConfigError(f"{path}: schedules.{schedule} is not a known schedule; known: "
                                  f"{list(SCHEDULES)} (add new ones to {SCHEDULE_FILE})")
            table[schedule], sources[schedule] = block, path
    defaults = {}
    for preset, selection in data["defaults"].items():
        if preset not in budgets:
            raise ConfigError(f"{path}: defaults preset must be one of {tuple(budgets)} "
                              f"(the presets of budgets), got {preset!r}")
        defaults[preset] = Selection(tuple(selection["schedules"]), tuple(selection["budgets"]),
                                     tuple(int(s) for s in selection["seeds"]))
    for preset in budgets:
        if not (path.parent / f"{preset}.yaml").is_file():
            raise ConfigError(f"{path}: preset {preset!r} has no base {path.parent / preset}.yaml")
    fallback = data["data"].get("synthetic_fallback") or []
    unknown = sorted(set(fallback) - set(budgets))
    if unknown:
        raise ConfigError(f"{path}: data.synthetic_fallback names unknown presets {unknown}")
    paper = data["paper"]
    return ExperimentSpec(
        name=name, title=data["title"], source_lang=data["source_lang"],
        target_lang=data["target_lang"], data_search_dirs=tuple(data["data"]["search_dirs"]),
        prepare_hint=data["data"]["prepare"], defaults=defaults, paper_source=paper["source"],
        paper_note=paper["note"],
        paper_bleu={budget: dict(row) for budget, row in (paper["bleu"] or {}).items()},
        directory=path.parent, budgets={p: tuple(b) for p, b in budgets.items()},
        schedules=table, schedule_sources=sources, synthetic_fallback=tuple(fallback),
        prepare_recipe=data["data"].get("prepare_recipe"),
    )


def _origin(key: str, parts: list[tuple[str, dict[str, Any]]]) -> str:
    """The file (of ``parts``, last one wins) that sets the dotted ``key``."""
    for label, data in reversed(parts):
        target: Any = data
        for piece in key.split("."):
            if not isinstance(target, dict) or piece not in target:
                break
            target = target[piece]
        else:
            return label
    return parts[0][0]


def compose_run(base: dict[str, Any], block: dict[str, Any], schedule: str,
                budget: str) -> dict[str, Any]:
    """Merge base + schedule block + budget into one run config (a plain dict)."""
    from omegaconf import OmegaConf

    try:
        merged = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(base),
                                                        OmegaConf.create(block)), resolve=True)
    except Exception as error:  # omegaconf's errors name the key
        raise ConfigError(f"cannot merge the {schedule!r} block onto the base: {error}") from None
    scheduler = merged.get("lr_scheduler") or {}
    name = scheduler.pop("name", None)
    merged["lr_scheduler"] = {"name": name, **{k: v for k, v in scheduler.items()
                                               if v is not None}}
    head = {key: merged.pop(key) for key in ("experiment", "preset") if key in merged}
    return {**head, "schedule": schedule, "budget": budget, "epochs": budget_epochs(budget),
            **merged}


def parse_run_config(data: dict[str, Any], path: Path, spec: ExperimentSpec, preset: str,
                     parts: list[tuple[str, dict[str, Any]]] | None = None) -> RunConfig:
    """Validate a resolved run config against its experiment and preset.

    ``parts`` (label, data) are the files it was composed from, to name the one at fault.
    """
    parts = parts or [(str(path), data)]
    where = lambda key: _origin(key, parts)  # noqa: E731
    _require(data, _RUN_KEYS, path)
    if data["experiment"] != spec.name:
        raise ConfigError(f"{where('experiment')}: is a config for experiment "
                          f"{data['experiment']!r}, not {spec.name!r}")
    if data["preset"] != preset:
        raise ConfigError(f"{where('preset')}: is a {data['preset']!r} preset, expected {preset!r}")
    schedule = data["schedule"]
    if schedule not in SCHEDULES:
        raise ConfigError(f"{path}: schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    try:
        epochs = check_number("epochs", data["epochs"], inclusive=False)
        recipe_gpus = check_step_count("recipe_gpus", data["recipe_gpus"], minimum=1)
    except ValueError as error:
        raise ConfigError(f"{where('recipe_gpus')}: {error}") from None
    if data["budget"] != f"{epochs:g}ep":
        raise ConfigError(f"{path}: budget {data['budget']!r} does not match epochs {epochs:g} "
                          f"(expected {epochs:g}ep)")
    for section in ("train", "lr_scheduler", "evaluate"):
        if not isinstance(data[section], dict):
            raise ConfigError(f"{where(section)}: {section} must be a mapping, "
                              f"got {data[section]!r}")
    train = dict(data["train"])
    owned = sorted(RUNNER_FLAGS & train.keys())
    if owned:
        raise ConfigError(f"{where('train.' + owned[0])}: train sets {owned}, which knee-nlp "
                          "reproduce sets itself")
    missing = sorted({"arch", "lr", "max_tokens", "update_freq"} - train.keys())
    if missing:
        raise ConfigError(f"{where('train')}: train is missing {missing}")
    lr_scheduler = dict(data["lr_scheduler"])
    if lr_scheduler.get("name") != SCHEDULES[schedule]:
        raise ConfigError(f"{where('lr_scheduler.name')}: schedule {schedule!r} needs "
                          f"lr_scheduler.name {SCHEDULES[schedule]!r}, got "
                          f"{lr_scheduler.get('name')!r}")
    limits = dict(data["data"] or {})
    unknown = sorted(limits.keys() - set(_DATA_LIMITS))
    if unknown:
        raise ConfigError(f"{where('data.' + unknown[0])}: data keys must be among "
                          f"{list(_DATA_LIMITS)}, got {unknown}")
    checks = [(f"data.{key}", lambda k=key, v=value: check_step_count(f"data.{k}", v, minimum=1))
              for key, value in limits.items() if value is not None]
    checks += [
        ("train.lr", lambda: check_number("train.lr", train["lr"], inclusive=False)),
        ("train.max_tokens", lambda: check_step_count("train.max_tokens", train["max_tokens"],
                                                      minimum=1)),
        ("train.update_freq", lambda: check_step_count("train.update_freq", train["update_freq"],
                                                       minimum=1)),
        ("evaluate.average_last_epochs", lambda: check_step_count(
            "evaluate.average_last_epochs", data["evaluate"]["average_last_epochs"], minimum=1)),
    ]
    checks += [(f"lr_scheduler.{key}", lambda k=key, v=value: LR_SCHEDULER_CHECKS[k](f"lr_scheduler.{k}", v))
               for key, value in lr_scheduler.items() if key in LR_SCHEDULER_CHECKS]
    results = {}
    for key, check in checks:
        try:
            results[key] = check()
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"{where(key)}: {error}") from None
    for key in limits:
        if limits[key] is not None:
            limits[key] = results[f"data.{key}"]
    return RunConfig(
        path=path, experiment=spec.name, preset=preset, schedule=schedule,
        budget=data["budget"], epochs=epochs, recipe_gpus=recipe_gpus,
        data={key: limits.get(key) for key in _DATA_LIMITS}, train=train,
        lr_scheduler=lr_scheduler, average_last_epochs=results["evaluate.average_last_epochs"],
        generate=dict(data["evaluate"].get("generate") or {}),
        source=" + ".join(label for label, _ in parts),
    )


def _positive(name: str, value: Any) -> float:
    return check_number(name, value, inclusive=False)


def _period(name: str, value: Any) -> int:
    return -1 if value == -1 else check_step_count(name, value, minimum=1)


#: checks of the fairseq scheduler settings every schedule block may set (the same flag means the
#: same thing in each of fairseq's schedulers), applied to every run at config time, so that a
#: bad value fails at ``--dry-run`` and names its file, not later inside fairseq
LR_SCHEDULER_CHECKS = {
    "warmup_updates": check_step_count,
    "warmup_init_lr": check_number,
    "end_learning_rate": check_number,
    "min_lr": check_number,
    "explore_updates": check_step_count,
    "explore_ratio": check_ratio,
    "power": _positive,
    "t_mult": _positive,
    "lr_shrink": _positive,
    "lr_period_updates": _period,
}


def load_run_config(spec: ExperimentSpec, preset: str, schedule: str, budget: str) -> RunConfig:
    """Compose one run (base + schedule block + budget), naming the valid choices on error."""
    if preset not in spec.presets:
        raise ConfigError(f"{spec.name}: preset must be one of {spec.presets}, got {preset!r}")
    available = spec.available(preset)
    if (schedule, budget) not in available:
        schedules = sorted({s for s, _ in available})
        budgets = sorted({b for _, b in available})
        what = (f"schedule {schedule!r}" if schedule not in schedules
                else f"budget {budget!r}" if budget not in budgets
                else f"combination {schedule}-{budget}")
        raise ConfigError(f"{spec.name} ({preset}): unknown {what}; schedules: {schedules}, "
                          f"budgets: {budgets}")
    path = spec.base_path(preset)
    base = _read_yaml(path)
    _require(base, _BASE_KEYS, path)
    if isinstance(base["lr_scheduler"], dict) and "name" in base["lr_scheduler"]:
        raise ConfigError(f"{path}: lr_scheduler.name belongs in the schedule blocks "
                          f"({SCHEDULE_FILE}), not in a preset's base")
    block = spec.schedules[schedule]
    block_source = spec.schedule_sources[schedule]
    block_label = (f"{block_source} (schedules.{schedule})"
                   if block_source.name == EXPERIMENT_FILE else f"{block_source} ({schedule})")
    parts = [(str(path), base), (block_label, block),
             (f"{spec.directory / EXPERIMENT_FILE} (budgets.{preset})",
              {"budget": budget, "epochs": budget_epochs(budget)})]
    data = compose_run(base, block, schedule, budget)
    return parse_run_config(data, path, spec, preset, parts)


def knee_schedule(lr_scheduler: dict[str, Any], peak_lr: float, total_updates: int) -> KneeSchedule:
    """The :class:`~knee_nlp.schedule.KneeSchedule` a ``knee`` lr_scheduler section describes.

    >>> knee_schedule({"name": "knee", "warmup_updates": 4, "explore_ratio": 0.5}, 1.0, 20).explore_end
    14
    """
    options = {key: value for key, value in lr_scheduler.items() if key != "name"}
    return knee_schedule_from_fairseq(lr=peak_lr, total_num_update=total_updates, **options)
