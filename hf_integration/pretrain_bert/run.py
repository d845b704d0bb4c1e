"""Pretraining end to end: check inputs, prepare the vocabulary and data, run every phase.

Everything that can be wrong with the input (config values, data files, the vocabulary against
``model.vocab_size``, a non-matching run directory, too little text for a phase's global batch)
fails here before the first write into the run directory.
Phase ``k > 1`` starts from phase ``k - 1``'s saved weights with a fresh optimizer and its own
warmup and decay. A re-run of the same config resumes: finished phases are skipped and the
current one continues from its latest checkpoint.

>>> final_model_dir = pretrain(load_config("tiny", ["data.train_files=[train.txt]",
...                                       "data.validation_files=[valid.txt]"]))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import datasets
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed

from hf_integration.pretrain_bert.batches import MaskedBatches
from hf_integration.pretrain_bert.checkpoint import check_run_dir, save_final, write_config
from hf_integration.pretrain_bert.config import PhaseConfig, PretrainConfig
from hf_integration.pretrain_bert.data import (
    check_vocab_matches,
    file_key,
    load_tokenizer,
    packed_blocks,
    resolve_text_files,
    train_wordpiece,
)
from hf_integration.pretrain_bert.model import SparseMLM, load_bert, new_bert
from hf_integration.pretrain_bert.tracking import trackers_for
from hf_integration.pretrain_bert.train import train_phase
from knee_nlp.errors import InvalidInputError
from knee_nlp.outputs import check_writable_dir
from knee_nlp.run_lock import locked

DEFAULT_CACHE = Path(os.environ.get("KNEE_NLP_CACHE", Path.home() / ".cache" / "knee-nlp")) / "pretrain_bert"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return (
            {prefix.rstrip("."): str(value)}
            if not value or not isinstance(value[0], dict)
            else {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{prefix}{i}.").items()}
        )
    return {prefix.rstrip("."): "null" if value is None else value}


def _vocabulary(
    accelerator: Accelerator, cfg: PretrainConfig, run_dir: Path, train_files: list[Path], cache_root: Path
) -> Path:
    """The run's ``vocab.txt``: the run directory's copy, the user's file, or one trained (once,
    by the main process) into the cache, keyed by the files and tokenizer settings."""
    if (run_dir / "tokenizer" / "vocab.txt").is_file():
        return run_dir / "tokenizer" / "vocab.txt"
    if cfg.tokenizer.vocab_file:
        return Path(cfg.tokenizer.vocab_file)
    settings = (cfg.model["vocab_size"], cfg.tokenizer.lowercase, cfg.tokenizer.min_frequency)
    target = cache_root / f"wordpiece-{file_key(train_files, settings)}"
    if accelerator.is_main_process and not (target / "vocab.txt").is_file():
        accelerator.print(
            f"training a {settings[0]}-token WordPiece vocabulary on {len(train_files)} file(s)"
        )
        train_wordpiece(train_files, *settings, target)
    accelerator.wait_for_everyone()
    return target / "vocab.txt"


def phase_data(
    cfg: PretrainConfig,
    accelerator: Accelerator,
    tokenizer: Any,
    phase: PhaseConfig,
    train_files: list[Path],
    validation_files: list[Path],
) -> tuple[datasets.Dataset, datasets.Dataset, bool]:
    """``(train blocks, validation blocks, train loaded from cache)`` of ``phase``, packed once into the
    cache. ``InvalidInputError`` when the training data holds less than one global batch or the
    validation data fewer sequences than processes (every process evaluates its share)."""
    with accelerator.main_process_first():
        train_blocks, cached = packed_blocks(
            train_files, tokenizer, phase.max_seq_length, cache_root(cfg), cfg.data.num_proc
        )
        eval_blocks, _ = packed_blocks(
            validation_files, tokenizer, phase.max_seq_length, cache_root(cfg), cfg.data.num_proc
        )
    processes = accelerator.num_processes
    where = f"[{phase.name}] (max_seq_length {phase.max_seq_length})"
    if len(train_blocks) < phase.global_batch_size(processes):
        raise InvalidInputError(
            f"{where}: data.train_files hold {len(train_blocks)} training sequences, fewer than one global "
            f"batch of {phase.global_batch_size(processes)} (per_device_batch_size "
            f"{phase.per_device_batch_size} x {processes} processes x gradient_accumulation_steps "
            f"{phase.gradient_accumulation_steps}): give more text or a smaller batch"
        )
    if len(eval_blocks) < processes:
        raise InvalidInputError(
            f"{where}: data.validation_files hold {len(eval_blocks)} sequences, fewer than the {processes} "
            "processes that each evaluate a share: give more validation text or a shorter max_seq_length"
        )
    return train_blocks, eval_blocks, cached


def cache_root(cfg: PretrainConfig) -> Path:
    """Where tokenized blocks and trained vocabularies are cached: ``data.cache_dir`` or the default."""
    return Path(cfg.data.cache_dir) if cfg.data.cache_dir else DEFAULT_CACHE


def check_inputs(cfg: PretrainConfig) -> tuple[list[Path], list[Path], str]:
    """Every check the run makes before it writes, reading only (``--check`` runs exactly these):
    data files (present, UTF-8), a user-supplied vocabulary, writable output folders and the run
    directory (new, or this config's run: returns ``"new"`` or ``"resume"``). The config, ``model``
    and trackers included, was checked by :func:`~hf_integration.pretrain_bert.config.validate`."""
    train_files = resolve_text_files(cfg.data.train_files, "data.train_files")
    validation_files = resolve_text_files(cfg.data.validation_files, "data.validation_files")
    if cfg.tokenizer.vocab_file:
        tokenizer = load_tokenizer(Path(cfg.tokenizer.vocab_file), cfg.tokenizer.lowercase)
        check_vocab_matches(tokenizer, cfg.model["vocab_size"], cfg.tokenizer.pad_vocab_to_multiple_of)
    check_writable_dir(cfg.run_dir, "run_dir")
    check_writable_dir(cache_root(cfg), "data.cache_dir")
    return train_files, validation_files, check_run_dir(Path(cfg.run_dir), cfg.to_dict())


def pretrain(cfg: PretrainConfig) -> Path:
    """Run (or resume) every phase of ``cfg``; return the final ``save_pretrained`` directory.

    The main process holds ``run_dir``'s lock (:mod:`knee_nlp.run_lock`) from its first write
    to the end: a second launch on the same ``run_dir`` stops there, naming the holder.
    """
    run_dir = Path(cfg.run_dir)
    train_files, validation_files, state = check_inputs(cfg)
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        log_with=trackers_for(cfg.logging.trackers, run_dir.name, run_dir / "logs"),
        project_config=ProjectConfiguration(project_dir=str(run_dir), logging_dir=str(run_dir / "logs")),
    )
    vocab = _vocabulary(accelerator, cfg, run_dir, train_files, cache_root(cfg))
    tokenizer = load_tokenizer(vocab, cfg.tokenizer.lowercase)
    check_vocab_matches(tokenizer, cfg.model["vocab_size"], cfg.tokenizer.pad_vocab_to_multiple_of)
    accelerator.wait_for_everyone()
    data = {phase.name: phase_data(cfg, accelerator, tokenizer, phase, train_files, validation_files)
            for phase in cfg.phases if not _finished(run_dir, phase)}  # sized before any phase trains
    with locked(run_dir) if accelerator.is_main_process else nullcontext():
        return _pretrain(cfg, accelerator, vocab, tokenizer, state, data)


def _finished(run_dir: Path, phase: PhaseConfig) -> bool:
    return (run_dir / phase.name / "final" / "config.json").is_file()


def _pretrain(
    cfg: PretrainConfig,
    accelerator: Accelerator,
    vocab: Path,
    tokenizer: Any,
    state: str,
    data: dict[str, tuple[datasets.Dataset, datasets.Dataset, bool]],
) -> Path:
    """:func:`pretrain` once every input is checked and ``run_dir`` is this run's alone; ``data``
    holds each unfinished phase's :func:`phase_data`."""
    run_dir = Path(cfg.run_dir)
    config = cfg.to_dict()
    if accelerator.is_main_process:  # the first write into run_dir, after every input check
        write_config(run_dir, config)
        if vocab != run_dir / "tokenizer" / "vocab.txt":
            (run_dir / "tokenizer").mkdir(exist_ok=True)
            shutil.copyfile(vocab, run_dir / "tokenizer" / "vocab.txt")
    accelerator.print(
        f"{'resuming' if state == 'resume' else 'starting'} {run_dir}: schedule {cfg.schedule}, optimizer "
        f"{cfg.optimizer.name}, {accelerator.num_processes} process(es), mixed precision {accelerator.mixed_precision}"
    )
    accelerator.init_trackers(run_dir.name, config=_flat(config))
    weights: Path | None = None
    for index, phase in enumerate(cfg.phases):
        final = run_dir / phase.name / "final"
        if _finished(run_dir, phase):
            accelerator.print(f"[{phase.name}] already finished: {final}")
            weights = final
            continue
        train_blocks, eval_blocks, cached = data[phase.name]
        accelerator.print(
            f"[{phase.name}] {len(train_blocks)} training sequences of {phase.max_seq_length} tokens"
            f"{' (from cache)' if cached else ''}; global batch {phase.global_batch_size(accelerator.num_processes)} = "
            f"{phase.per_device_batch_size} per device x {accelerator.num_processes} processes x "
            f"{phase.gradient_accumulation_steps} accumulation; {phase.total_steps} updates"
        )
        set_seed(cfg.seed + index)
        model = SparseMLM(load_bert(weights) if weights else new_bert(cfg.model))
        model = train_phase(
            accelerator,
            cfg,
            phase,
            run_dir / phase.name,
            model,
            MaskedBatches(train_blocks, tokenizer, cfg.data.mlm_probability),
            MaskedBatches(eval_blocks, tokenizer, cfg.data.mlm_probability),
        )
        save_final(accelerator, model, tokenizer, final)
        accelerator.print(f"[{phase.name}] saved the model to {final}")
        accelerator.free_memory()
        weights = final
    accelerator.end_training()
    return weights
