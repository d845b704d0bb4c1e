"""Each schedule name builds a scheduler whose trace is the core function's."""

from __future__ import annotations

import pytest
import torch

from hf_integration.pretrain_bert.config import OptimizerConfig, PhaseConfig
from hf_integration.pretrain_bert.optim import build_optimizer
from hf_integration.pretrain_bert.schedules import build_scheduler
from knee_nlp.baselines import inverse_sqrt_lr, linear_lr
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
CORE = {
    "knee": KneeSchedule(peak_lr=2e-3, total_steps=40, warmup_steps=6, explore_ratio=0.4),
    "linear": lambda s: linear_lr(s, peak_lr=2e-3, total_steps=40, warmup_steps=6),
    "inverse_sqrt": lambda s: inverse_sqrt_lr(s, peak_lr=2e-3, warmup_steps=6),
}


@pytest.mark.parametrize("name", sorted(CORE))
@pytest.mark.parametrize("optimizer_name", ["lamb", "adamw"])
def test_trace_equals_core_function_for_every_group(name: str, optimizer_name: str) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    optimizer = build_optimizer(model, OptimizerConfig(name=optimizer_name), lr=PHASE.peak_lr)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]  # no decay on biases/norms
    scheduler = build_scheduler(name, optimizer, PHASE)
    trace = []
    for _ in range(45):
        optimizer.step()
        scheduler.step()
        trace.append([group["lr"] for group in optimizer.param_groups])
    expected = [CORE[name](step) for step in range(1, 46)]
    assert [lrs[0] for lrs in trace] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert all(lrs[0] == lrs[1] for lrs in trace)
