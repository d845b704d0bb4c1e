"""get_knee_schedule_with_warmup (an alias of KneeLR, whose behaviour tests/core/test_torch_scheduler.py
covers) and get_scheduler: transformers' names, the authors' trace and argument errors."""

from __future__ import annotations

import doctest

import pytest
import torch
import transformers

import hf_integration.schedule
from hf_integration import get_knee_schedule_with_warmup, get_scheduler
from knee_nlp import KneeLR
from knee_nlp.schedule import KneeSchedule


def make_optimizer(*group_lrs: float) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in group_lrs]
    return torch.optim.AdamW([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)])


def lr_trace(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> list:
    """The first group's LR used by each of ``steps`` optimizer steps (read before ``scheduler.step()``)."""
    trace = []
    for _ in range(steps):
        trace.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return trace


def test_authors_trace() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = get_knee_schedule_with_warmup(optimizer, 2, 10, num_explore_steps=3)
    assert lr_trace(optimizer, scheduler, 12)[1:] == pytest.approx(
        [0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]
    )


def test_docstring_example() -> None:
    assert doctest.testmod(hf_integration.schedule).failed == 0


@pytest.mark.parametrize(
    ("budget", "peak", "min_lr_ratio"), [((0, 0, 1), 1.0, 0.0), ((3, 4, 20), 1e-3, 0.1), ((10, 45, 100), 5e-4, 1.0)]
)
def test_alias_maps_transformers_names_onto_the_core(
    budget: tuple[int, int, int], peak: float, min_lr_ratio: float
) -> None:
    warmup, explore, total = budget
    optimizer = make_optimizer(peak)
    scheduler = get_knee_schedule_with_warmup(
        optimizer, warmup, total, num_explore_steps=explore, min_lr_ratio=min_lr_ratio
    )
    assert isinstance(scheduler, KneeLR) and isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR)
    core = KneeSchedule(
        peak_lr=peak, total_steps=total, warmup_steps=warmup, explore_steps=explore, end_lr=min_lr_ratio * peak
    )
    expected = [core(step) for step in range(total + 3)]
    assert lr_trace(optimizer, scheduler, total + 3) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (dict(num_warmup_steps=-1), r"num_warmup_steps must be an integer >= 0, got -1"),
        (dict(num_training_steps=0), r"num_training_steps must be an integer >= 1, got 0"),
        (dict(num_explore_steps=2.5), r"num_explore_steps must be an integer >= 0, got 2.5"),
        (dict(explore_ratio=1.2), r"explore_ratio must be a number in \[0, 1\], got 1.2"),
        (dict(min_lr_ratio=-0.1), r"min_lr_ratio must be a finite number >= 0.0, got -0.1"),
        (dict(num_explore_steps=5, explore_ratio=0.5), r"not both"),
        (dict(num_warmup_steps=6, num_explore_steps=5), r"num_warmup_steps \+ num_explore_steps must be <= num_training_steps \(10\)"),
    ],
)
def test_bad_arguments_are_named(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_knee_schedule_with_warmup(
            make_optimizer(1.0), **(dict(num_warmup_steps=1, num_training_steps=10) | arguments)
        )


def test_get_scheduler_builds_knee_from_its_name() -> None:
    knee_optimizer, direct_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    by_name = get_scheduler(
        "knee",
        knee_optimizer,
        num_warmup_steps=2,
        num_training_steps=20,
        scheduler_specific_kwargs={"explore_ratio": 0.25, "min_lr_ratio": 0.1},
    )
    direct = get_knee_schedule_with_warmup(direct_optimizer, 2, 20, explore_ratio=0.25, min_lr_ratio=0.1)
    assert lr_trace(knee_optimizer, by_name, 22) == lr_trace(direct_optimizer, direct, 22)


@pytest.mark.parametrize(("name", "kwargs"), [("cosine", {}), ("warmup_stable_decay", {"num_decay_steps": 5})])
def test_get_scheduler_delegates_other_names_to_transformers(name: str, kwargs: dict) -> None:
    ours_optimizer, theirs_optimizer = make_optimizer(1e-3), make_optimizer(1e-3)
    ours = get_scheduler(name, ours_optimizer, 3, 20, scheduler_specific_kwargs=kwargs)
    theirs = transformers.get_scheduler(name, theirs_optimizer, 3, 20, scheduler_specific_kwargs=kwargs)
    assert type(ours) is type(theirs)
    assert lr_trace(ours_optimizer, ours, 22) == lr_trace(theirs_optimizer, theirs, 22)


def test_get_scheduler_errors() -> None:
    with pytest.raises(ValueError, match="knee requires `num_training_steps`"):
        get_scheduler("knee", make_optimizer(1.0), num_warmup_steps=0)
    with pytest.raises(TypeError, match="num_decay_steps"):
        get_scheduler("knee", make_optimizer(1.0), 0, 10, scheduler_specific_kwargs={"num_decay_steps": 3})
    with pytest.raises(ValueError, match="not a valid SchedulerType"):
        get_scheduler("kneee", make_optimizer(1.0), 0, 10)
