"""Let fairseq load its own checkpoints under torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``. fairseq checkpoints are
full pickles (they hold the training ``argparse.Namespace``, optimizer history and meter
states), so ``fairseq-train`` resume, ``--restore-file`` and ``fairseq-generate`` all stop with
``UnpicklingError: Weights only load failed ... Unsupported global: GLOBAL argparse.Namespace``.

:func:`install` wraps :func:`fairseq.checkpoint_utils.load_checkpoint_to_cpu` (the loader behind
resume, generate and ``from_pretrained``) so that, during that call only, ``torch.load`` defaults
to ``weights_only=False`` as it did before torch 2.6. Every other ``torch.load`` keeps torch's
default, and no environment variable is set. Importing :mod:`fairseq_plugin` (``--user-dir``, or
the ``knee-fairseq-*`` commands) installs it. As with any pickle, load only checkpoints you trust.

>>> from fairseq import checkpoint_utils
>>> install()
>>> is_installed(checkpoint_utils.load_checkpoint_to_cpu)
True
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch

_MARKER = "__knee_nlp_full_pickle__"


@contextlib.contextmanager
def _full_pickle_load() -> Iterator[None]:
    """Within the block, ``torch.load`` defaults to ``weights_only=False``."""
    original = torch.load

    @functools.wraps(original)
    def load(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return original(*args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original


def is_installed(loader: Callable[..., Any]) -> bool:
    """Whether ``loader`` is fairseq's checkpoint loader already wrapped by :func:`install`."""
    return getattr(loader, _MARKER, False)


def install() -> None:
    """Wrap fairseq's checkpoint loader once (idempotent)."""
    from fairseq import checkpoint_utils

    original = checkpoint_utils.load_checkpoint_to_cpu
    if is_installed(original):
        return

    @functools.wraps(original)
    def load_checkpoint_to_cpu(*args: Any, **kwargs: Any) -> Any:
        with _full_pickle_load():
            return original(*args, **kwargs)

    setattr(load_checkpoint_to_cpu, _MARKER, True)
    checkpoint_utils.load_checkpoint_to_cpu = load_checkpoint_to_cpu
