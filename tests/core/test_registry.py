"""The one table of schedule names: every host's way of building each entry."""

from __future__ import annotations

import importlib
import inspect

import pytest

from knee_nlp.curves import schedule_curves
from knee_nlp.registry import BASELINES, SCHEDULES, TORCH_SETTINGS, schedule_spec
from knee_nlp.schedule import KneeSchedule
from knee_nlp.validation import ArgumentError


def test_names_and_fairseq_schedulers() -> None:
    assert list(SCHEDULES) == ["knee", "inverse_sqrt", "linear", "cosine"]
    assert BASELINES == ("inverse_sqrt", "linear", "cosine")
    assert {name: spec.fairseq_scheduler for name, spec in SCHEDULES.items()} == {
        "knee": "knee", "inverse_sqrt": "inverse_sqrt", "linear": "polynomial_decay", "cosine": "cosine",
    }
    assert all(spec.name == name for name, spec in SCHEDULES.items())


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_torch_factory_takes_the_arguments_the_table_names(name: str) -> None:
    spec = SCHEDULES[name]
    assert set(spec.torch_arguments) <= set(TORCH_SETTINGS)
    module, _, attribute = spec.torch_factory.partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    parameters = inspect.signature(factory).parameters
    assert set(spec.torch_arguments.values()) <= set(parameters)
    required = {p.name for p in parameters.values() if p.default is inspect.Parameter.empty}
    assert required - {"optimizer", "self"} <= set(spec.torch_arguments.values())


def test_plot_curves_come_from_the_table() -> None:
    knee = KneeSchedule(peak_lr=1.0, total_steps=20, warmup_steps=4, explore_steps=6, warmup_init_lr=0.1)
    curves = schedule_curves(knee)
    assert list(curves) == list(SCHEDULES)
    for name, (steps, lrs) in curves.items():
        assert lrs == [SCHEDULES[name].curve(knee)(s) for s in steps]
        if name in ("knee", "inverse_sqrt"):  # same warmup (from warmup_init_lr) and peak as Knee
            assert lrs[:5] == [knee(s) for s in range(5)]
        else:  # transformers' linear/cosine and fairseq's polynomial_decay warm up from 0
            assert lrs[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_unknown_name_is_an_argument_error() -> None:
    with pytest.raises(ArgumentError) as error:
        schedule_spec("knee2", key="--schedule")
    assert str(error.value) == "--schedule must be one of knee, inverse_sqrt, linear, cosine, got 'knee2'"
    assert error.value.argument == "--schedule"
