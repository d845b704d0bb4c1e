"""fairseq-train and fairseq-generate command lines for one run, built from its config.

Config keys become fairseq flags (``max_tokens: 4096`` -> ``--max-tokens 4096``; ``true`` -> bare
flag; ``false``/``null`` -> omitted). The runner adds what it owns: data, save dir, seed, the
budget in updates, devices, precision and JSON logging. The knee scheduler comes from the
project's fairseq plugin, passed as ``--user-dir`` (which also makes checkpoint loading work on
torch >= 2.6).

Example::

    to_flags({"max_tokens": 4096, "share_decoder_input_output_embed": True, "fp16": False})
    # ['--max-tokens', '4096', '--share-decoder-input-output-embed']
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knee_nlp.plugin_dir import fairseq_user_dir
from knee_nlp.reproduce.config import RunConfig

PRECISIONS = ("fp32", "fp16", "bf16")
#: fairseq schedulers whose horizon is ``--total-num-update`` (the others read ``--max-update``)
_HORIZON_FLAG = {"knee", "polynomial_decay"}


def to_flags(options: Mapping[str, Any]) -> list[str]:
    """fairseq command-line flags for ``options`` (snake_case keys)."""
    flags: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


@dataclass(frozen=True)
class Batching:
    """Per-GPU tokens and gradient accumulation that keep a recipe's global batch on ``gpus``."""

    gpus: int
    max_tokens: int
    update_freq: int

    @property
    def global_tokens(self) -> int:
        return self.gpus * self.max_tokens * self.update_freq


def scale_batching(run: RunConfig, gpus: int) -> Batching:
    """Keep ``max_tokens x update_freq x recipe_gpus`` when training on ``gpus`` devices.

    Fewer GPUs than the recipe raise ``update_freq``; more GPUs first lower ``update_freq``,
    then split ``max_tokens`` (rounded down) once ``update_freq`` is 1.

    >>> from types import SimpleNamespace as R
    >>> scale_batching(R(train={"max_tokens": 3584, "update_freq": 1}, recipe_gpus=8), 1)
    Batching(gpus=1, max_tokens=3584, update_freq=8)
    >>> scale_batching(R(train={"max_tokens": 4096, "update_freq": 1}, recipe_gpus=1), 8)
    Batching(gpus=8, max_tokens=512, update_freq=1)
    """
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"gpus must be an integer >= 1, got {gpus!r}")
    max_tokens, accumulation = int(run.train["max_tokens"]), int(run.train["update_freq"])
    steps = accumulation * run.recipe_gpus
    if steps % gpus == 0:
        return Batching(gpus, max_tokens, steps // gpus)
    return Batching(gpus, max_tokens * steps // gpus, 1)


def train_command(run: RunConfig, *, bin_dir: Path, save_dir: Path, seed: int, max_update: int,
                  batching: Batching, source_lang: str, target_lang: str, precision: str,
                  cpu: bool) -> list[str]:
    """The full ``fairseq-train`` argv (as ``python -m fairseq_cli.train``) for one run."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    train = {**run.train, "max_tokens": batching.max_tokens, "update_freq": batching.update_freq}
    scheduler = {key: value for key, value in run.lr_scheduler.items() if key != "name"}
    if run.lr_scheduler["name"] in _HORIZON_FLAG:
        scheduler["total_num_update"] = max_update
    return [
        sys.executable, "-m", "fairseq_cli.train", str(bin_dir),
        "--user-dir", str(fairseq_user_dir()), "--source-lang", source_lang, "--target-lang", target_lang,
        *to_flags(train),
        "--lr-scheduler", run.lr_scheduler["name"], *to_flags(scheduler),
        "--max-update", str(max_update), "--max-epoch", f"{run.epochs:g}",
        "--save-dir", str(save_dir), "--seed", str(seed),
        "--keep-last-epochs", str(run.average_last_epochs), "--log-format", "json",
        *to_flags({"cpu": cpu, "distributed_world_size": batching.gpus if batching.gpus > 1 else None,
                   "fp16": precision == "fp16", "bf16": precision == "bf16"}),
    ]


def dry_count_argv(run: RunConfig, *, bin_dir: Path, batching: Batching, source_lang: str,
                   target_lang: str) -> list[str]:
    """The subset of the training flags that decides the batches (for :mod:`.epochs`)."""
    train = {**run.train, "max_tokens": batching.max_tokens, "update_freq": batching.update_freq}
    return [str(bin_dir), "--source-lang", source_lang, "--target-lang", target_lang,
            "--cpu", *to_flags(train)]


def generate_command(run: RunConfig, *, bin_dir: Path, source_lang: str, target_lang: str,
                     precision: str, cpu: bool, subset: str = "test") -> list[str]:
    """The ``fairseq-generate`` argv for ``subset`` (the test set unless ``"valid"``, as the
    explore sweep scores); the caller appends ``--path CKPT``."""
    return [
        sys.executable, "-m", "fairseq_cli.generate", str(bin_dir),
        "--user-dir", str(fairseq_user_dir()), "--source-lang", source_lang, "--target-lang", target_lang,
        "--gen-subset", subset, *to_flags(run.generate),
        # with the default multiple of 8, fairseq-generate silently drops a leftover batch
        "--required-batch-size-multiple", "1",
        *to_flags({"cpu": cpu, "fp16": precision == "fp16", "bf16": precision == "bf16"}),
    ]
