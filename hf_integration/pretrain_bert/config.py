"""The pretraining configuration: a YAML file plus ``dotted.key=value`` overrides, validated.

Every value is checked here, before any data is read or any model is built, and a bad value
raises ``ValueError`` naming the key, the value and what is allowed.

>>> cfg = load_config("configs/bert/tiny.yaml", ["schedule=linear", "phases.0.total_steps=40"])
... # doctest: +SKIP
>>> cfg.schedule, cfg.phases[0].total_steps  # doctest: +SKIP
('linear', 40)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knee_nlp.registry import schedule_spec
from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import check_number, check_ratio, check_step_count, renamed_errors

OPTIMIZERS = ("lamb", "adamw")
MIXED_PRECISION = ("no", "bf16", "fp16")


@dataclass(frozen=True)
class PhaseConfig:
    """One pretraining phase: its own sequence length, batch, budget, peak LR, warmup, explore.

    ``warmup_ratio`` / ``explore_ratio`` are fractions of this phase's ``total_steps``;
    explore settings are used by the ``knee`` schedule only (default ratio 0.5, the paper's).
    """

    name: str
    max_seq_length: int
    per_device_batch_size: int
    total_steps: int
    peak_lr: float
    gradient_accumulation_steps: int = 1
    warmup_steps: int | None = None
    warmup_ratio: float | None = None
    explore_steps: int | None = None
    explore_ratio: float | None = None

    @property
    def num_warmup_steps(self) -> int:
        """Warmup in optimizer updates (``warmup_ratio`` rounds half up, like explore)."""
        if self.warmup_ratio is not None:
            return math.floor(self.warmup_ratio * self.total_steps + 0.5)
        return self.warmup_steps or 0

    def global_batch_size(self, num_processes: int) -> int:
        """Sequences per optimizer update: per-device batch x processes x accumulation."""
        return self.per_device_batch_size * num_processes * self.gradient_accumulation_steps


@dataclass(frozen=True)
class TokenizerConfig:
    """WordPiece vocabulary: a user's ``vocab.txt``, or one trained on the training files."""

    vocab_file: str | None = None
    lowercase: bool = True
    min_frequency: int = 2
    pad_vocab_to_multiple_of: int = 1


@dataclass(frozen=True)
class DataConfig:
    """Plain-text files or directories; blank lines separate nothing (one line = one segment)."""

    train_files: list[str] = field(default_factory=list)
    validation_files: list[str] = field(default_factory=list)
    cache_dir: str | None = None
    mlm_probability: float = 0.15
    num_proc: int = 1


@dataclass(frozen=True)
class OptimizerConfig:
    """LAMB (``pytorch_optimizer.Lamb``) or AdamW (``torch.optim.AdamW``)."""

    name: str = "lamb"
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    max_grad_norm: float = 1.0


@dataclass(frozen=True)
class LoggingConfig:
    """Intervals in optimizer updates; ``trackers`` are accelerate tracker names."""

    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 20
    save_every: int = 100
    keep_checkpoints: int = 2
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])


@dataclass(frozen=True)
class PretrainConfig:
    """The whole run. ``mixed_precision: null`` takes accelerate's setting (launch flag/config)."""

    run_dir: str
    model: dict[str, Any]
    data: DataConfig
    phases: list[PhaseConfig]
    schedule: str = "knee"
    seed: int = 42
    mixed_precision: str | None = None
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists for tuples), as written to ``<run_dir>/config.yaml``."""
        return yaml.safe_load(yaml.safe_dump(_plain(dataclasses.asdict(self))))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set ``dotted.key=value`` pairs (values parsed as YAML; list items by index: ``phases.0.x``)."""
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise ValueError(f"override must look like dotted.key=value, got {override!r}")
        *parents, last = key.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        value = yaml.safe_load(text)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return raw


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping, got {raw!r}")
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}")
    try:
        return cls(**raw)
    except TypeError as error:
        raise ValueError(f"{where}: {error}") from None


def _validate_phase(phase: PhaseConfig, schedule: str, max_positions: int, where: str) -> None:
    check_step_count(f"{where}.max_seq_length", phase.max_seq_length, minimum=8)
    if phase.max_seq_length > max_positions:
        raise ValueError(
            f"{where}.max_seq_length must be <= model.max_position_embeddings ({max_positions}), "
            f"got {phase.max_seq_length}"
        )
    check_step_count(f"{where}.per_device_batch_size", phase.per_device_batch_size, minimum=1)
    check_step_count(f"{where}.gradient_accumulation_steps", phase.gradient_accumulation_steps, minimum=1)
    check_step_count(f"{where}.total_steps", phase.total_steps, minimum=1)
    check_number(f"{where}.peak_lr", phase.peak_lr, inclusive=False)
    if phase.warmup_steps is not None and phase.warmup_ratio is not None:
        raise ValueError(f"{where}: give warmup_steps or warmup_ratio, not both")
    if phase.warmup_steps is not None:
        check_step_count(f"{where}.warmup_steps", phase.warmup_steps)
    if phase.warmup_ratio is not None:
        check_ratio(f"{where}.warmup_ratio", phase.warmup_ratio)
    if schedule == "knee":
        with renamed_errors({}, prefix=f"{where} (schedule knee): budget too short or bad explore: "):
            KneeSchedule(
                peak_lr=phase.peak_lr,
                total_steps=phase.total_steps,
                warmup_steps=phase.num_warmup_steps,
                explore_steps=phase.explore_steps,
                explore_ratio=phase.explore_ratio,
            )
    elif phase.num_warmup_steps > phase.total_steps:
        raise ValueError(
            f"{where}: warmup ({phase.num_warmup_steps} steps) must be <= total_steps ({phase.total_steps})"
        )


def validate(cfg: PretrainConfig) -> PretrainConfig:
    """Check every value; return ``cfg`` unchanged or raise ``ValueError``."""
    schedule_spec(cfg.schedule)
    if cfg.optimizer.name not in OPTIMIZERS:
        raise ValueError(f"optimizer.name must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer.name!r}")
    if cfg.mixed_precision is not None and cfg.mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            f"mixed_precision must be null or one of {', '.join(MIXED_PRECISION)}, got {cfg.mixed_precision!r}"
        )
    if not cfg.run_dir:
        raise ValueError("run_dir is required: the directory for checkpoints, logs and the final model")
    check_step_count("seed", cfg.seed)
    check_step_count("model.vocab_size", cfg.model.get("vocab_size"), minimum=8)
    check_step_count("tokenizer.pad_vocab_to_multiple_of", cfg.tokenizer.pad_vocab_to_multiple_of, minimum=1)
    check_step_count("tokenizer.min_frequency", cfg.tokenizer.min_frequency, minimum=1)
    if not cfg.data.train_files:
        raise ValueError("data.train_files must list at least one text file or directory")
    if not cfg.data.validation_files:
        raise ValueError("data.validation_files must list at least one text file or directory")
    check_ratio("data.mlm_probability", cfg.data.mlm_probability)
    check_step_count("data.num_proc", cfg.data.num_proc, minimum=1)
    check_number("optimizer.weight_decay", cfg.optimizer.weight_decay)
    check_number("optimizer.eps", cfg.optimizer.eps, inclusive=False)
    check_number("optimizer.max_grad_norm", cfg.optimizer.max_grad_norm)
    if len(cfg.optimizer.betas) != 2 or not all(0.0 <= b < 1.0 for b in cfg.optimizer.betas):
        raise ValueError(f"optimizer.betas must be two numbers in [0, 1), got {cfg.optimizer.betas!r}")
    for name in ("log_every", "eval_every", "eval_batches", "save_every", "keep_checkpoints"):
        check_step_count(f"logging.{name}", getattr(cfg.logging, name), minimum=1)
    if not cfg.phases:
        raise ValueError("phases must list at least one phase")
    names = [phase.name for phase in cfg.phases]
    if len(set(names)) != len(names):
        raise ValueError(f"phase names must be unique, got {names}")
    max_positions = cfg.model.get("max_position_embeddings", 512)
    for index, phase in enumerate(cfg.phases):
        _validate_phase(phase, cfg.schedule, max_positions, f"phases[{index}] ({phase.name})")
    return cfg


def config_from_dict(raw: dict[str, Any]) -> PretrainConfig:
    """Build and validate a :class:`PretrainConfig` from plain data."""
    raw = dict(raw)
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(PretrainConfig)})
    if unknown:
        raise ValueError(f"unknown top-level key(s) {unknown} in the config")
    for key in ("run_dir", "model", "data", "phases"):
        if key not in raw:
            raise ValueError(f"the config needs a {key!r} entry")
    sections = {
        "tokenizer": TokenizerConfig,
        "data": DataConfig,
        "optimizer": OptimizerConfig,
        "logging": LoggingConfig,
    }
    for key, cls in sections.items():
        if key in raw:
            raw[key] = _build(cls, raw[key], key)
    if "optimizer" in raw and isinstance(raw["optimizer"].betas, list):
        raw["optimizer"] = dataclasses.replace(raw["optimizer"], betas=tuple(raw["optimizer"].betas))
    if not isinstance(raw["phases"], list):
        raise ValueError(f"phases must be a list of phase mappings, got {raw['phases']!r}")
    raw["phases"] = [_build(PhaseConfig, phase, f"phases[{i}]") for i, phase in enumerate(raw["phases"])]
    if not isinstance(raw["model"], dict):
        raise ValueError(
            f"model must be a mapping of transformers.BertConfig arguments, got {raw['model']!r}"
        )
    raw["run_dir"] = str(raw["run_dir"])
    return validate(PretrainConfig(**raw))


def load_config(path: str | Path, overrides: list[str] | None = None) -> PretrainConfig:
    """Read ``path`` (YAML), apply ``overrides`` and validate."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    return config_from_dict(apply_overrides(raw, list(overrides or [])))
