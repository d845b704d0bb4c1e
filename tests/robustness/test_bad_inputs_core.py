"""Bad and edge inputs of the core API: ``KneeSchedule``, ``knee_nlp.validation``, the budget
helpers, ``KneeLR`` and ``get_knee_schedule_with_warmup``.

Each bad value raises at construction a ``ValueError`` (an ``ArgumentError``, a ``UserError``)
naming the argument, the value and the allowed range, or a ``TypeError`` for a non-optimizer.
numpy scalars and 0-d tensors are accepted wherever a number is (same schedule as plain numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from hf_integration.schedule import get_knee_schedule_with_warmup
from knee_nlp.budget import (batches_per_epoch, global_batch_size, updates_for_epochs,
                             updates_from_batches, warmup_steps_from, warmup_steps_from_ratio)
from knee_nlp.errors import UserError
from knee_nlp.schedule import KneeSchedule, knee_lr
from knee_nlp.torch_scheduler import KneeLR
from knee_nlp.validation import ArgumentError, check_number, check_ratio, check_step_count


def _optimizer(lr: Any = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _knee(**overrides: Any) -> KneeSchedule:
    return KneeSchedule(**{"peak_lr": 1e-3, "total_steps": 100, **overrides})


# (case, call, message fragments: the argument and the value as printed)
BAD_CORE: list[tuple[str, Callable[[], Any], tuple[str, ...]]] = [
    ("peak_lr 0", lambda: _knee(peak_lr=0), ("peak_lr", "> 0.0", "got 0")),
    ("peak_lr negative", lambda: _knee(peak_lr=-1e-3), ("peak_lr", "got -0.001")),
    ("peak_lr nan", lambda: _knee(peak_lr=math.nan), ("peak_lr", "got nan")),
    ("peak_lr inf", lambda: _knee(peak_lr=math.inf), ("peak_lr", "got inf")),
    ("peak_lr string", lambda: _knee(peak_lr="1e-3"), ("peak_lr", "got '1e-3'")),
    ("peak_lr None", lambda: _knee(peak_lr=None), ("peak_lr", "got None")),
    ("peak_lr bool", lambda: _knee(peak_lr=True), ("peak_lr", "got True")),
    ("peak_lr complex", lambda: _knee(peak_lr=1j), ("peak_lr", "got 1j")),
    ("peak_lr 2-element tensor", lambda: _knee(peak_lr=torch.tensor([1e-3, 2e-3])), ("peak_lr", "tensor(")),
    ("peak_lr numpy array", lambda: _knee(peak_lr=np.array([1e-3, 1e-3])), ("peak_lr", "array(")),
    ("peak_lr bool tensor", lambda: _knee(peak_lr=torch.tensor(True)), ("peak_lr", "tensor(True)")),
    ("total_steps 0", lambda: _knee(total_steps=0), ("total_steps", ">= 1", "got 0")),
    ("total_steps None", lambda: _knee(total_steps=None), ("total_steps", "required")),
    ("total_steps 10.5", lambda: _knee(total_steps=10.5), ("total_steps", "got 10.5")),
    ("total_steps inf", lambda: _knee(total_steps=math.inf), ("total_steps", "got inf")),
    ("total_steps string", lambda: _knee(total_steps="100"), ("total_steps", "got '100'")),
    ("total_steps float32 fraction", lambda: _knee(total_steps=np.float32(9.5)), ("total_steps", "9.5")),
    ("warmup_steps -1", lambda: _knee(warmup_steps=-1), ("warmup_steps", ">= 0", "got -1")),
    ("warmup_steps > total", lambda: _knee(warmup_steps=101, explore_steps=0), ("warmup_steps", "<= total_steps")),
    ("explore_ratio 1.5", lambda: _knee(explore_ratio=1.5), ("explore_ratio", "[0, 1]", "got 1.5")),
    ("explore_ratio -0.1", lambda: _knee(explore_ratio=-0.1), ("explore_ratio", "got -0.1")),
    ("explore_ratio nan", lambda: _knee(explore_ratio=math.nan), ("explore_ratio", "got nan")),
    ("explore_ratio tensor 2", lambda: _knee(explore_ratio=torch.tensor(2.0)), ("explore_ratio", "tensor(2.)")),
    ("explore_steps -5", lambda: _knee(explore_steps=-5), ("explore_steps", "got -5")),
    ("explore both", lambda: _knee(explore_steps=5, explore_ratio=0.5), ("explore_steps", "explore_ratio", "not both")),
    ("warmup + explore > total", lambda: _knee(warmup_steps=60, explore_ratio=0.5),
     ("warmup_steps + explore_steps", "60 + 50 = 110")),
    ("warmup_init_lr > peak", lambda: _knee(warmup_init_lr=1.0), ("warmup_init_lr", "peak_lr=0.001", "got 1.0")),
    ("warmup_init_lr negative", lambda: _knee(warmup_init_lr=-1e-4), ("warmup_init_lr", "got -0.0001")),
    ("end_lr > peak", lambda: _knee(end_lr=0.01), ("end_lr", "got 0.01")),
    ("end_lr nan", lambda: _knee(end_lr=math.nan), ("end_lr", "got nan")),
    ("step -1", lambda: _knee()(-1), ("step", ">= 0", "got -1")),
    ("step 2.5", lambda: _knee()(2.5), ("step", "got 2.5")),
    ("step string", lambda: _knee().phase("3"), ("step", "got '3'")),
    ("knee_lr peak 0", lambda: knee_lr(1, peak_lr=0.0, total_steps=10), ("peak_lr", "got 0.0")),
    ("check_step_count minimum", lambda: check_step_count("n", 0, minimum=1), ("n must be an integer >= 1", "got 0")),
    ("check_number exclusive", lambda: check_number("x", 0.0, inclusive=False), ("x must be a finite number > 0.0",)),
    ("check_ratio list", lambda: check_ratio("r", [0.5]), ("r must be a number in [0, 1]", "got [0.5]")),
    ("budget epochs 0", lambda: updates_for_epochs(0, 10), ("epochs", "got 0")),
    ("budget epochs nan", lambda: updates_for_epochs(math.nan, 10), ("epochs", "got nan")),
    ("budget batches 0", lambda: updates_from_batches(0), ("num_batches", "got 0")),
    ("budget update_freq 0", lambda: updates_from_batches(10, update_freq=0), ("update_freq", "got 0")),
    ("budget batch_size -1", lambda: batches_per_epoch(10, -1), ("batch_size", "got -1")),
    ("budget grad_accum 0", lambda: global_batch_size(8, grad_accum=0), ("grad_accum", "got 0")),
    ("warmup ratio 1.5", lambda: warmup_steps_from_ratio(1.5, 100), ("warmup_ratio", "[0, 1]", "got 1.5")),
    ("warmup_steps_from -1", lambda: warmup_steps_from(-1, 100), ("warmup_steps", "got -1")),
    ("KneeLR start factor 2", lambda: KneeLR(_optimizer(), total_steps=10, warmup_start_factor=2),
     ("warmup_start_factor", "got 2")),
    ("KneeLR end factor -1", lambda: KneeLR(_optimizer(), total_steps=10, end_factor=-1), ("end_factor", "got -1")),
    ("KneeLR total 0", lambda: KneeLR(_optimizer(), total_steps=0), ("total_steps", "got 0")),
    ("KneeLR resumed without initial_lr", lambda: KneeLR(_optimizer(), total_steps=10, last_epoch=5),
     ("last_epoch", "initial_lr", "got 5")),
    ("KneeLR load another state", lambda: KneeLR(_optimizer(), total_steps=10).load_state_dict(
        torch.optim.lr_scheduler.StepLR(_optimizer(), 1).state_dict()), ("not a KneeLR state", "schedule")),
    ("get_knee warmup -1", lambda: get_knee_schedule_with_warmup(_optimizer(), -1, 10), ("num_warmup_steps", "got -1")),
    ("get_knee training 0", lambda: get_knee_schedule_with_warmup(_optimizer(), 0, 0), ("num_training_steps", "got 0")),
    ("get_knee explore too long", lambda: get_knee_schedule_with_warmup(_optimizer(), 5, 10, num_explore_steps=6),
     ("num_warmup_steps + num_explore_steps", "5 + 6 = 11")),
    ("get_knee min_lr_ratio 1.5", lambda: get_knee_schedule_with_warmup(_optimizer(), 0, 10, min_lr_ratio=1.5),
     ("min_lr_ratio", "got 1.5")),
    ("get_knee min_lr_ratio tensor -1", lambda: get_knee_schedule_with_warmup(
        _optimizer(), 0, 10, min_lr_ratio=torch.tensor(-1.0)), ("min_lr_ratio", "tensor(-1.)")),
]


@pytest.mark.parametrize(("case", "call", "fragments"), BAD_CORE, ids=[case[0] for case in BAD_CORE])
def test_bad_core_input_is_a_named_value_error(case: str, call: Callable[[], Any], fragments: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    if "KneeLR state" not in message:  # a state_dict is the program's, not the user's
        assert isinstance(raised.value, (ArgumentError, UserError))


def test_a_non_optimizer_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer .*got str"):
        KneeLR("adam", total_steps=10)  # type: ignore[arg-type]


# (case, the keyword arguments of KneeSchedule with numpy or torch values)
ACCEPTED_SCALARS: list[tuple[str, dict[str, Any]]] = [
    ("numpy float32 peak", {"peak_lr": np.float32(0.5)}),
    ("numpy float64 peak", {"peak_lr": np.float64(0.5)}),
    ("0-d numpy array peak", {"peak_lr": np.array(0.5)}),
    ("torch tensor peak", {"peak_lr": torch.tensor(0.5)}),
    ("torch float64 tensor peak", {"peak_lr": torch.tensor(0.5, dtype=torch.float64)}),
    ("numpy int total", {"peak_lr": 0.5, "total_steps": np.int64(100)}),
    ("torch int total and warmup", {"peak_lr": 0.5, "total_steps": torch.tensor(100), "warmup_steps": torch.tensor(10)}),
    ("numpy integral float total", {"peak_lr": 0.5, "total_steps": np.float32(100.0)}),
    ("numpy explore ratio", {"peak_lr": 0.5, "explore_ratio": np.float32(0.25)}),
    ("torch explore steps", {"peak_lr": 0.5, "explore_steps": torch.tensor(25)}),
    ("numpy end lr", {"peak_lr": 0.5, "end_lr": np.float32(0.0)}),
]


@pytest.mark.parametrize(("case", "kwargs"), ACCEPTED_SCALARS, ids=[case[0] for case in ACCEPTED_SCALARS])
def test_numpy_and_tensor_values_are_accepted_as_plain_numbers(case: str, kwargs: dict[str, Any]) -> None:
    """Accepted, normalised to Python numbers, and the same curve as the plain-number schedule."""
    plain = {key: value.item() if hasattr(value, "item") else value for key, value in kwargs.items()}
    schedule, expected = _knee(**kwargs), _knee(**plain)
    assert schedule == expected
    assert all(type(getattr(schedule, key)) in (int, float) for key in kwargs)
    assert [schedule(step) for step in range(0, 101, 7)] == [expected(step) for step in range(0, 101, 7)]


def test_torch_scheduler_with_tensor_settings_saves_plain_numbers() -> None:
    """A KneeLR built from tensors keeps a state_dict that ``torch.load(weights_only=True)`` reads."""
    scheduler = get_knee_schedule_with_warmup(_optimizer(torch.tensor(0.1)), torch.tensor(2), np.int64(10),
                                              explore_ratio=np.float32(0.5), min_lr_ratio=torch.tensor(0.0))
    schedule = scheduler.state_dict()["schedule"]
    assert all(value is None or type(value) in (int, float) for value in schedule.values())
    assert schedule["total_steps"] == 10 and schedule["warmup_steps"] == 2
