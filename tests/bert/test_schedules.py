"""Each schedule name builds a scheduler whose trace is the registry's curve, with the host's code."""

from __future__ import annotations

import pytest
import torch

from hf_integration.pretrain_bert.config import OptimizerConfig, PhaseConfig
from hf_integration.pretrain_bert.optim import build_optimizer
from hf_integration.pretrain_bert.schedules import build_scheduler
from knee_nlp import KneeLR
from knee_nlp.registry import SCHEDULES
from knee_nlp.schedule import KneeSchedule

PHASE = PhaseConfig(
    name="p",
    max_seq_length=8,
    per_device_batch_size=1,
    total_steps=40,
    peak_lr=2e-3,
    warmup_steps=6,
    explore_ratio=0.4,
)
KNEE = KneeSchedule(peak_lr=2e-3, total_steps=40, warmup_steps=6, explore_ratio=0.4)
#: updates traced: past the budget for every schedule whose host holds the final LR there;
#: transformers' cosine rises again after ``num_training_steps`` (the loop never gets there).
TRACED = {"knee": 45, "inverse_sqrt": 45, "linear": 45, "cosine": 40}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("optimizer_name", ["lamb", "adamw"])
def test_trace_equals_core_function_for_every_group(name: str, optimizer_name: str) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    optimizer = build_optimizer(model, OptimizerConfig(name=optimizer_name), lr=PHASE.peak_lr)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]  # no decay on biases/norms
    scheduler = build_scheduler(name, optimizer, PHASE)
    trace = []
    for _ in range(TRACED[name]):
        optimizer.step()
        scheduler.step()
        trace.append([group["lr"] for group in optimizer.param_groups])
    curve = SCHEDULES[name].curve(KNEE)
    expected = [curve(step) for step in range(1, TRACED[name] + 1)]
    assert [lrs[0] for lrs in trace] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert all(lrs[0] == lrs[1] for lrs in trace)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_each_schedule_is_built_by_its_host(name: str) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(name, optimizer, PHASE)
    if name == "knee":
        assert isinstance(scheduler, KneeLR)
    else:
        assert scheduler.lr_lambdas[0].func.__module__ == "transformers.optimization"


def test_unknown_schedule_names_the_choices() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="schedule must be one of knee, inverse_sqrt, linear, cosine, got 'step'"):
        build_scheduler("step", optimizer, PHASE)
