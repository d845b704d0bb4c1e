"""Silence fairseq/hydra INFO logs and deprecation warnings for in-process helper calls.

The runs themselves log to their own files; the dry batch count and dataset reads done inside
``knee-nlp`` should not flood the console.

Example::

    with quiet():
        count_batches(argv)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet() -> Iterator[None]:
    """Drop log records up to INFO and all warnings inside the block."""
    previous = logging.root.manager.disable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.INFO)
        try:
            yield
        finally:
            logging.disable(previous)
