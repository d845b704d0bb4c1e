"""The pretraining configuration: a YAML file plus ``dotted.key=value`` overrides, validated.

The dataclasses below are OmegaConf structured configs: the YAML file is merged onto them and
each override is set on the merged config, so an unknown key (``model.hiden_size``), a value of
the wrong type (``seed=abc``) or a list index out of range (``phases.5.total_steps=3``) fails as
one :class:`PretrainConfigError` naming the key (and, for indices, the allowed range). A string
where a list is expected (``data.train_files=/a.txt``) is a one-element list. The data files have
no default (``???`` in the presets): a config that leaves ``data.train_files`` or
``data.validation_files`` unset fails with one error naming them and the override that sets them.
Every value is then
checked here, before any data is read or any model is built; ``model`` is checked as
``transformers.BertConfig`` arguments without building the model.

The shipped presets (``tiny``, ``bert-base``, ``bert-large``, in ``presets/`` beside this module)
are found by name, so an installed wheel needs no checkout; any other value is a file path.

>>> cfg = load_config("tiny", ["schedule=linear", "phases.0.total_steps=40",
...                   "data.train_files=[train.txt]", "data.validation_files=[valid.txt]"])
... # doctest: +SKIP
>>> cfg.schedule, cfg.phases[0].total_steps  # doctest: +SKIP
('linear', 40)
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from knee_nlp.budget import warmup_steps_from_ratio
from knee_nlp.errors import InputFileError, InvalidInputError
from knee_nlp.registry import schedule_spec
from knee_nlp.schedule import KneeSchedule, check_explore
from knee_nlp.validation import (MAX_SEED, check_number, check_probability, check_ratio, check_seed,
                                 check_step_count, renamed_errors)

OPTIMIZERS = ("lamb", "adamw")
MIXED_PRECISION = ("no", "bf16", "fp16")


class PretrainConfigError(InvalidInputError):
    """A config value, key or override that is not allowed (a ``ValueError``)."""


@dataclass
class PhaseConfig:
    """One pretraining phase: its own sequence length, batch, budget, peak LR, warmup, explore.

    ``warmup_ratio`` / ``explore_ratio`` are fractions of this phase's ``total_steps``;
    explore settings are used by the ``knee`` schedule only (default ratio 0.5, the paper's).
    A fractional warmup rounds **up**, as the Hugging Face ``Trainer`` does
    (:func:`knee_nlp.budget.warmup_steps_from_ratio`, ``ceil(warmup_ratio * total_steps)`` with the
    float product: ``0.07 x 100`` is ``7.000000000000001``, so 8 updates; ``0.128 x 1563`` gives 201,
    ``0.1 x 30`` is exactly 3.0, so 3).
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
        """Warmup in optimizer updates: ``warmup_steps``, or ``warmup_ratio`` of ``total_steps``
        rounded up (the ``Trainer``'s rule, :func:`knee_nlp.budget.warmup_steps_from_ratio`)."""
        if self.warmup_ratio is not None:
            return warmup_steps_from_ratio(self.warmup_ratio, self.total_steps)
        return self.warmup_steps or 0

    def global_batch_size(self, num_processes: int) -> int:
        """Sequences per optimizer update: per-device batch x processes x accumulation."""
        return self.per_device_batch_size * num_processes * self.gradient_accumulation_steps


@dataclass
class TokenizerConfig:
    """WordPiece vocabulary: a user's ``vocab.txt``, or one trained on the training files."""

    vocab_file: str | None = None
    lowercase: bool = True
    min_frequency: int = 2
    pad_vocab_to_multiple_of: int = 1


@dataclass
class DataConfig:
    """Plain-text files or directories; blank lines separate nothing (one line = one segment).

    ``train_files`` and ``validation_files`` have no default: the presets leave them ``???`` and
    a run gives them as overrides (``'data.train_files=[corpus/]'``).
    """

    train_files: list[str] = MISSING
    validation_files: list[str] = MISSING
    cache_dir: str | None = None
    mlm_probability: float = 0.15
    num_proc: int = 1


@dataclass
class OptimizerConfig:
    """LAMB (``pytorch_optimizer.Lamb``) or AdamW (``torch.optim.AdamW``)."""

    name: str = "lamb"
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-6
    max_grad_norm: float = 1.0


@dataclass
class LoggingConfig:
    """Intervals in optimizer updates; ``trackers`` are accelerate tracker names."""

    log_every: int = 10
    eval_every: int = 100
    eval_batches: int = 20
    save_every: int = 100
    keep_checkpoints: int = 2
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])


@dataclass
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


def _fields(path: str) -> list[str]:
    """The keys of the section at ``path`` (``"phases[0]"``, ``"logging"``, ``""``)."""
    cls: Any = PretrainConfig
    for part in re.findall(r"\w+", path):
        if part.isdigit():
            continue
        cls = typing.get_type_hints(cls)[part]
        cls = (typing.get_args(cls) or [cls])[0] if typing.get_origin(cls) is list else cls
    return sorted(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else []


def _error(error: OmegaConfBaseException) -> PretrainConfigError:
    """OmegaConf's error as one line naming the key."""
    key = error.full_key or str(error.key or "")
    parent, _, name = key.rpartition(".")
    if isinstance(error, MissingMandatoryValue):
        return PretrainConfigError(
            f"the config needs a {key!r} entry" if not parent else f"{parent} needs a {name!r} entry"
        )
    if "not in" in error.msg or "Key" in error.msg and "not" in error.msg:
        where = parent or "the config"
        return PretrainConfigError(f"unknown key(s) [{name!r}] in {where}; allowed: {_fields(parent)}")
    reason = error.msg.splitlines()[0]
    return PretrainConfigError(f"{key}: {reason}")


def _as_list(expected: Any, value: Any) -> Any:
    """A string given where a list is expected is a one-element list (never its characters);
    ``???`` (OmegaConf's mandatory value) stays as it is."""
    wrap = isinstance(expected, (list, ListConfig)) and isinstance(value, str) and value != MISSING
    return [value] if wrap else value


def _wrap_strings(cls: type, raw: Any) -> Any:
    """:func:`_as_list` for every list-typed field of ``cls`` present in ``raw`` (recursively)."""
    if not isinstance(raw, dict):
        return raw
    hints = typing.get_type_hints(cls)
    out = dict(raw)
    for name, value in raw.items():
        hint = hints.get(name)
        if typing.get_origin(hint) is list:
            out[name] = _as_list([], value)
        elif dataclasses.is_dataclass(hint):
            out[name] = _wrap_strings(hint, value)
    return out


def _child(node: DictConfig | ListConfig, part: str, key: str, where: str) -> tuple[Any, Any]:
    """``(container key, current value)`` of ``part`` in ``node`` (the section ``where``).

    An index outside the list or a key the section's dataclass lacks raises, naming ``key``.
    """
    if isinstance(node, ListConfig):
        if not part.isdigit() or int(part) >= len(node):
            allowed = f"0..{len(node) - 1}" if len(node) else "none: the list is empty"
            raise PretrainConfigError(
                f"{key}: {where} has {len(node)} item(s); index {part!r} is out of range (allowed: {allowed})"
            )
        return int(part), node[int(part)]
    present = part in node.keys()  # ``part in node`` is False for a ``???`` value
    if not present and dataclasses.is_dataclass(OmegaConf.get_type(node)):
        raise PretrainConfigError(f"{key}: unknown key(s) [{part!r}] in {where}; allowed: {sorted(node.keys())}")
    if present and OmegaConf.is_missing(node, part):
        return part, node._get_node(part)  # a ``???`` value not set yet: its typed node (a list stays a list)
    return part, node.get(part)


def _yaml_value(key: str, text: str) -> Any:
    """The YAML value of an override, or an error naming the key and the text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        reason = " ".join(str(getattr(error, "problem", None) or error).split())
        raise PretrainConfigError(f"{key}: the value {text!r} is not valid YAML ({reason})") from None


def _typed(current: Any, value: Any, key: str) -> Any:
    """``value`` to store in place of ``current``: a list given for a typed list (``phases=[...]``)
    is merged into it, so each item is checked against its dataclass (``PhaseConfig``)."""
    if not (isinstance(current, ListConfig) and isinstance(value, list)):
        return value
    try:
        return OmegaConf.merge(current, value)
    except OmegaConfBaseException as error:
        raise PretrainConfigError(f"{key}: {error.msg.splitlines()[0]}") from None


def apply_overrides(raw: Any, overrides: list[str]) -> Any:
    """Set ``dotted.key=value`` pairs (values parsed as YAML; list items by index: ``phases.0.x``).

    ``raw`` is a structured config (unknown keys and types checked) or plain data (returned as
    plain data); a list index must exist either way.
    """
    plain = not isinstance(raw, DictConfig)
    node_root = OmegaConf.create(raw) if plain else raw
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key:
            raise PretrainConfigError(f"override must look like dotted.key=value, got {override!r}")
        *parents, last = key.split(".")
        node: Any = node_root
        try:
            for depth, part in enumerate(parents):
                index, child = _child(node, part, key, ".".join(parents[:depth]) or "the config")
                if not isinstance(node, ListConfig) and (child is None or OmegaConf.is_missing(node, index)):
                    node[index] = {}
                node = node[index]
            if not isinstance(node, (DictConfig, ListConfig)):
                raise PretrainConfigError(f"{key}: {'.'.join(parents)} is a value, not a section")
            index, current = _child(node, last, key, ".".join(parents) or "the config")
            node[index] = _typed(current, _as_list(current, _yaml_value(key, text)), key)
        except OmegaConfBaseException as error:
            raise _error(error) from None
    return OmegaConf.to_container(node_root) if plain else node_root


def _structured(raw: Any) -> DictConfig:
    """``raw`` merged onto the :class:`PretrainConfig` schema."""
    if not isinstance(raw, dict):
        raise PretrainConfigError(f"the config must be a mapping of keys to values, got {raw!r}")
    try:
        return OmegaConf.merge(OmegaConf.structured(PretrainConfig), _wrap_strings(PretrainConfig, raw))
    except OmegaConfBaseException as error:
        raise _error(error) from None


#: how each mandatory value is given on the command line, in the "is required" error
OVERRIDE_EXAMPLES = {
    "data.train_files": "'data.train_files=[path/to/train.txt]'",
    "data.validation_files": "'data.validation_files=[path/to/valid.txt]'",
}


def _check_required(structured: DictConfig) -> None:
    """Every ``???`` value left unset is one error naming the keys and the overrides that set them."""
    missing = sorted(re.sub(r"\[(\d+)\]", r".\1", key) for key in OmegaConf.missing_keys(structured))
    if missing:
        examples = " ".join(OVERRIDE_EXAMPLES.get(key, f"{key}=VALUE") for key in missing)
        one = len(missing) == 1
        raise PretrainConfigError(
            f"{', '.join(missing)} {'is' if one else 'are'} required (??? or absent in the config): "
            f"set {'it' if one else 'them'} in the config file or on the command line, e.g. --config FILE {examples}"
        )


#: ``BertConfig`` sizes that must be integers >= 1, and its probabilities in [0, 1]
_MODEL_SIZES = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "max_position_embeddings", "type_vocab_size")
_MODEL_PROBABILITIES = ("hidden_dropout_prob", "attention_probs_dropout_prob")


def check_model(model: dict[str, Any]) -> None:
    """``model`` as ``transformers.BertConfig`` arguments: known names, valid values, heads that
    divide the hidden size. Builds the ``BertConfig`` only, never the model."""
    from transformers import BertConfig
    from transformers.activations import ACT2FN

    allowed = set(inspect.signature(BertConfig.__init__).parameters) | set(BertConfig().to_dict())
    allowed -= {"self", "args", "kwargs"}
    unknown = sorted(set(model) - allowed)
    if unknown:
        raise PretrainConfigError(
            f"unknown key(s) {unknown} in model (transformers.BertConfig arguments); allowed: {sorted(allowed)}"
        )
    try:
        config = BertConfig(**model)
    except Exception as error:  # noqa: BLE001 - BertConfig raises TypeError, ValueError or its own
        reason = " ".join(str(error).split())
        raise PretrainConfigError(f"model: not valid transformers.BertConfig arguments: {reason}") from None
    for name in _MODEL_SIZES:
        check_step_count(f"model.{name}", getattr(config, name), minimum=1)
    for name in _MODEL_PROBABILITIES:
        check_ratio(f"model.{name}", getattr(config, name))
    check_number("model.layer_norm_eps", config.layer_norm_eps, inclusive=False)
    check_number("model.initializer_range", config.initializer_range)
    if config.hidden_act not in ACT2FN:
        raise PretrainConfigError(f"model.hidden_act must be one of {', '.join(sorted(ACT2FN))}, "
                                  f"got {config.hidden_act!r}")
    if config.hidden_size % config.num_attention_heads:
        raise PretrainConfigError(
            f"model.hidden_size ({config.hidden_size}) must be a multiple of model.num_attention_heads "
            f"({config.num_attention_heads})"
        )


def _validate_phase(phase: PhaseConfig, schedule: str, max_positions: int, where: str) -> None:
    check_step_count(f"{where}.max_seq_length", phase.max_seq_length, minimum=8)
    if phase.max_seq_length > max_positions:
        raise PretrainConfigError(
            f"{where}.max_seq_length must be <= model.max_position_embeddings ({max_positions}), "
            f"got {phase.max_seq_length}"
        )
    check_step_count(f"{where}.per_device_batch_size", phase.per_device_batch_size, minimum=1)
    check_step_count(f"{where}.gradient_accumulation_steps", phase.gradient_accumulation_steps, minimum=1)
    check_step_count(f"{where}.total_steps", phase.total_steps, minimum=1)
    check_number(f"{where}.peak_lr", phase.peak_lr, inclusive=False)
    if phase.warmup_steps is not None and phase.warmup_ratio is not None:
        raise PretrainConfigError(f"{where}: give warmup_steps or warmup_ratio, not both")
    if phase.warmup_steps is not None:
        check_step_count(f"{where}.warmup_steps", phase.warmup_steps)
    if phase.warmup_ratio is not None:
        check_ratio(f"{where}.warmup_ratio", phase.warmup_ratio)
    if schedule == "knee":
        with renamed_errors({}, prefix=f"{where} (schedule knee): budget too short or bad explore: "):
            check_explore(phase.explore_steps, phase.explore_ratio)
            KneeSchedule(
                peak_lr=phase.peak_lr,
                total_steps=phase.total_steps,
                warmup_steps=phase.num_warmup_steps,
                explore_steps=phase.explore_steps,
                explore_ratio=phase.explore_ratio,
            )
    elif phase.num_warmup_steps > phase.total_steps:
        raise PretrainConfigError(
            f"{where}: warmup ({phase.num_warmup_steps} steps) must be <= total_steps ({phase.total_steps})"
        )
    elif schedule == "inverse_sqrt" and phase.num_warmup_steps < 1:
        raise PretrainConfigError(
            f"{where} (schedule inverse_sqrt): warmup must be >= 1 step, got {phase.num_warmup_steps}: "
            "the decay is peak * sqrt(warmup / step) (transformers' get_inverse_sqrt_schedule would "
            "silently use a timescale of 10,000 steps instead)"
        )


def validate(cfg: PretrainConfig) -> PretrainConfig:
    """Check every value; return ``cfg`` unchanged or raise a ``ValueError`` (a ``UserError``)."""
    schedule_spec(cfg.schedule)
    if cfg.optimizer.name not in OPTIMIZERS:
        raise PretrainConfigError(f"optimizer.name must be one of {', '.join(OPTIMIZERS)}, got {cfg.optimizer.name!r}")
    if cfg.mixed_precision is not None and cfg.mixed_precision not in MIXED_PRECISION:
        raise PretrainConfigError(
            f"mixed_precision must be null or one of {', '.join(MIXED_PRECISION)}, got {cfg.mixed_precision!r}"
        )
    if not cfg.run_dir:
        raise PretrainConfigError("run_dir is required: the directory for checkpoints, logs and the final model")
    check_seed("seed", cfg.seed, largest=MAX_SEED - max(len(cfg.phases) - 1, 0))  # phase k seeds with seed + k
    check_step_count("model.vocab_size", cfg.model.get("vocab_size"), minimum=8)
    check_model(cfg.model)
    check_step_count("tokenizer.pad_vocab_to_multiple_of", cfg.tokenizer.pad_vocab_to_multiple_of, minimum=1)
    check_step_count("tokenizer.min_frequency", cfg.tokenizer.min_frequency, minimum=1)
    if not cfg.data.train_files:
        raise PretrainConfigError("data.train_files must list at least one text file or directory")
    if not cfg.data.validation_files:
        raise PretrainConfigError("data.validation_files must list at least one text file or directory")
    check_probability("data.mlm_probability", cfg.data.mlm_probability)  # 0 masks nothing: no loss
    check_step_count("data.num_proc", cfg.data.num_proc, minimum=1)
    check_number("optimizer.weight_decay", cfg.optimizer.weight_decay)
    check_number("optimizer.eps", cfg.optimizer.eps, inclusive=False)
    check_number("optimizer.max_grad_norm", cfg.optimizer.max_grad_norm)
    if len(cfg.optimizer.betas) != 2 or not all(0.0 <= b < 1.0 for b in cfg.optimizer.betas):
        raise PretrainConfigError(f"optimizer.betas must be two numbers in [0, 1), got {cfg.optimizer.betas!r}")
    for name in ("log_every", "eval_every", "eval_batches", "save_every", "keep_checkpoints"):
        check_step_count(f"logging.{name}", getattr(cfg.logging, name), minimum=1)
    from hf_integration.pretrain_bert.tracking import check_trackers

    check_trackers(cfg.logging.trackers, "logging.trackers")
    if not cfg.phases:
        raise PretrainConfigError("phases must list at least one phase")
    names = [phase.name for phase in cfg.phases]
    if len(set(names)) != len(names):
        raise PretrainConfigError(f"phase names must be unique, got {names}")
    max_positions = cfg.model.get("max_position_embeddings", 512)
    for index, phase in enumerate(cfg.phases):
        _validate_phase(phase, cfg.schedule, max_positions, f"phases[{index}] ({phase.name})")
    return cfg


def config_from_dict(raw: dict[str, Any], overrides: list[str] | None = None) -> PretrainConfig:
    """Build and validate a :class:`PretrainConfig` from plain data and ``overrides``."""
    structured = apply_overrides(_structured(raw), list(overrides or []))
    _check_required(structured)
    try:
        cfg = OmegaConf.to_object(structured)
    except OmegaConfBaseException as error:
        raise _error(error) from None
    cfg.optimizer.betas = tuple(cfg.optimizer.betas)
    return validate(cfg)


def preset_names() -> list[str]:
    """The presets shipped inside the package: ``--config tiny`` etc."""
    return sorted(entry.name.removesuffix(".yaml") for entry in files(__package__).joinpath(
        "presets").iterdir() if entry.name.endswith(".yaml"))


def read_config_text(name_or_path: str | Path) -> str:
    """The YAML text of a config file, or of a shipped preset given by name (``tiny``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path.read_text()
    if str(name_or_path) in preset_names():
        return files(__package__).joinpath("presets", f"{name_or_path}.yaml").read_text()
    raise InputFileError(f"config {name_or_path} is neither a file nor a preset "
                         f"(presets: {', '.join(preset_names())})")


def load_config(path: str | Path, overrides: list[str] | None = None) -> PretrainConfig:
    """Read the config file or preset ``path`` (YAML), apply ``overrides`` and validate."""
    try:
        raw = yaml.safe_load(read_config_text(path)) or {}
    except yaml.YAMLError as error:
        raise PretrainConfigError(f"config file {path} is not valid YAML: {error}") from None
    return config_from_dict(raw, overrides)
