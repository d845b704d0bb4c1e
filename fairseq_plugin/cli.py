"""``knee-fairseq-train``, ``knee-fairseq-hydra-train``, ``knee-fairseq-generate``.

Zero-configuration wrappers around fairseq's own commands: they take exactly the same
arguments, and before handing over they register ``--lr-scheduler knee``, make checkpoint loading
work under torch >= 2.6 (:mod:`fairseq_plugin.checkpoint_compat`) and pass this plugin as
``--user-dir`` (``common.user_dir`` for Hydra) unless one is given, so processes that fairseq
spawns for multi-GPU training load it too. ``knee-fairseq-train`` and ``knee-fairseq-hydra-train``
also check the ``knee`` settings before loading any data and exit with ``error: ...`` (status 2)
when they are invalid.

Example::

    knee-fairseq-train data-bin/iwslt14.tokenized.de-en --arch transformer_iwslt_de_en \\
        --optimizer adam --lr 5e-4 --max-update 50000 \\
        --lr-scheduler knee --warmup-updates 4000 --explore-ratio 0.5
"""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from fairseq_plugin.knee_scheduler import KneeConfigError, schedule_from_config
from knee_nlp.fairseq_options import FAIRSEQ_FLAGS
from knee_nlp.plugin_dir import fairseq_user_dir

PLUGIN_DIR = str(fairseq_user_dir())


def with_user_dir(argv: Sequence[str]) -> list[str]:
    """``argv`` plus ``--user-dir PLUGIN_DIR`` unless it already names a user dir.

    >>> with_user_dir(["data", "--user-dir", "mine"])
    ['data', '--user-dir', 'mine']
    """
    if any(arg == "--user-dir" or arg.startswith("--user-dir=") for arg in argv):
        return list(argv)
    return [*argv, "--user-dir", PLUGIN_DIR]


def with_hydra_user_dir(overrides: Sequence[str]) -> list[str]:
    """Hydra ``overrides`` plus ``common.user_dir=PLUGIN_DIR`` unless one is given."""
    if any(arg.lstrip("+").startswith("common.user_dir=") for arg in overrides):
        return list(overrides)
    return [*overrides, f"common.user_dir={PLUGIN_DIR}"]


def check_knee_arguments(argv: Sequence[str]) -> None:
    """Parse ``argv`` as fairseq-train does; raise :class:`KneeConfigError` for a bad ``knee`` setup."""
    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    args = options.parse_args_and_arch(options.get_training_parser(), input_args=list(argv))
    if getattr(args, "lr_scheduler", None) == "knee":
        schedule_from_config(convert_namespace_to_omegaconf(args).lr_scheduler)


def _hydra_key(flag: str) -> str:
    """A ``knee`` flag's Hydra key: ``--explore-ratio`` -> ``lr_scheduler.explore_ratio``."""
    key = flag.removeprefix("--").replace("-", "_")
    return f"optimization.{key}" if key in ("lr", "max_update") else f"lr_scheduler.{key}"


def check_knee_config(cfg: Any) -> None:
    """Raise :class:`KneeConfigError`, in Hydra keys, for a bad ``knee`` section of a config as
    Hydra composed it (``cfg`` is not changed)."""
    from fairseq.dataclass.initialize import add_defaults

    if (cfg.get("lr_scheduler") or {}).get("_name") != "knee":
        return
    full = copy.deepcopy(cfg)
    add_defaults(full)  # the dataclass defaults, as fairseq adds them before training
    try:
        schedule_from_config(full.lr_scheduler)
    except KneeConfigError as error:
        flags = [*FAIRSEQ_FLAGS.values(), "--max-update"]
        raise error.renamed({flag: _hydra_key(flag) for flag in flags}) from None


def _exit_for_bad_knee(prog: str, error: KneeConfigError) -> NoReturn:
    print(f"{prog}: error: {error}", file=sys.stderr)
    raise SystemExit(2) from None


def _release_root_logger() -> None:
    """Drop the root handlers that importing fairseq installs as a side effect (entry points only).

    fairseq's commands set their log format with ``logging.basicConfig``, which does nothing
    once the root logger has a handler; importing this package (and so fairseq) before them
    would otherwise change their output format.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)


def _command_line(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


def _run(prog: str, argv: list[str], main: Callable[[], None]) -> None:
    sys.argv = [prog, *argv]
    main()


def train(argv: Sequence[str] | None = None) -> None:
    """``fairseq-train`` with the plugin loaded; same arguments."""
    _release_root_logger()
    from fairseq_cli.train import cli_main

    argv = with_user_dir(_command_line(argv))
    try:
        check_knee_arguments(argv)
    except KneeConfigError as error:
        _exit_for_bad_knee("knee-fairseq-train", error)
    _run("knee-fairseq-train", argv, cli_main)


def hydra_train(argv: Sequence[str] | None = None) -> None:
    """``fairseq-hydra-train`` with the plugin loaded; same arguments (``--config-dir``, ...).

    The composed config's ``knee`` section is checked before any data or model is loaded.
    """
    _release_root_logger()
    from fairseq_cli import hydra_train as fairseq_hydra_train

    train_from_config = fairseq_hydra_train._hydra_main

    def checked(cfg: Any, **kwargs: Any) -> float:
        try:
            check_knee_config(cfg)
        except KneeConfigError as error:
            _exit_for_bad_knee("knee-fairseq-hydra-train", error)
        return train_from_config(cfg, **kwargs)

    fairseq_hydra_train._hydra_main = checked
    _run("knee-fairseq-hydra-train", with_hydra_user_dir(_command_line(argv)), fairseq_hydra_train.cli_main)


def generate(argv: Sequence[str] | None = None) -> None:
    """``fairseq-generate`` with the plugin loaded; same arguments."""
    _release_root_logger()
    from fairseq_cli.generate import cli_main

    _run("knee-fairseq-generate", with_user_dir(_command_line(argv)), cli_main)
