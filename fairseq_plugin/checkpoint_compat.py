"""Let fairseq load its own checkpoints under torch >= 2.6.

torch 2.6 changed ``torch.load``'s default to ``weights_only=True``. fairseq checkpoints are
full pickles (they hold the training ``argparse.Namespace``, optimizer history and meter
states), so ``fairseq-train`` resume, ``--restore-file`` and ``fairseq-generate`` all stop with
``UnpicklingError: Weights only load failed ... Unsupported global: GLOBAL argparse.Namespace``.

:func:`install` wraps the two places where fairseq unpickles a checkpoint:
:func:`fairseq.checkpoint_utils.load_checkpoint_to_cpu` (the loader behind resume, generate and
``from_pretrained``) and ``fairseq.distributed.utils._broadcast_object_slow`` (how ranks > 0 receive
the checkpoint state rank 0 loaded, on a multi-process resume), so that, during those calls only,
``torch.load`` defaults to ``weights_only=False`` as it did before torch 2.6. Every other
``torch.load`` keeps torch's default, and no environment variable is set. Importing
:mod:`fairseq_plugin` (``--user-dir``, or the ``knee-fairseq-*`` commands) installs it. As with any
pickle, load only checkpoints you trust.

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
    """Whether ``loader`` (a fairseq function) is already wrapped by :func:`install`."""
    return getattr(loader, _MARKER, False)


def install() -> None:
    """Wrap fairseq's checkpoint loader and rank-to-rank object broadcast once (idempotent)."""
    from fairseq import checkpoint_utils
    from fairseq.distributed import utils as distributed_utils

    _wrap(checkpoint_utils, "load_checkpoint_to_cpu")
    _wrap(distributed_utils, "_broadcast_object_slow")


def _wrap(module: Any, name: str) -> None:
    original = getattr(module, name)
    if is_installed(original):
        return

    @functools.wraps(original)
    def full_pickle(*args: Any, **kwargs: Any) -> Any:
        with _full_pickle_load():
            return original(*args, **kwargs)

    setattr(full_pickle, _MARKER, True)
    setattr(module, name, full_pickle)
