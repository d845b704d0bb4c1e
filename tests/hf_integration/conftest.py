"""Fixtures for the Hugging Face integration tests: the tiny WikiText-2 masked-LM helpers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TINY_MLM_PATH = Path(__file__).with_name("tiny_mlm.py")


@pytest.fixture(scope="session")
def tiny_mlm() -> ModuleType:
    """``tiny_mlm.py`` as a module (it is also run as a script under ``accelerate launch``)."""
    spec = importlib.util.spec_from_file_location("knee_tiny_mlm", TINY_MLM_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
