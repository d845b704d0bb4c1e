"""Baseline formulas against transformers (inverse_sqrt against fairseq: tests/fairseq_plugin), and the
import boundary of the core package."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

from knee_nlp.baselines import cosine_lr, linear_lr


def lambda_trace(factory, steps: int) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = factory(optimizer)
    trace = [optimizer.param_groups[0]["lr"]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        trace.append(optimizer.param_groups[0]["lr"])
    return trace


def test_linear_and_cosine_match_transformers() -> None:
    linear = lambda_trace(lambda o: get_linear_schedule_with_warmup(o, 5, 40), 40)
    cosine = lambda_trace(lambda o: get_cosine_schedule_with_warmup(o, 5, 40), 40)
    assert [linear_lr(s, peak_lr=1.0, total_steps=40, warmup_steps=5) for s in range(41)] == pytest.approx(linear)
    assert [cosine_lr(s, peak_lr=1.0, total_steps=40, warmup_steps=5) for s in range(41)] == pytest.approx(cosine)
    # Past the budget transformers' cosine rises again; ours holds 0 like Knee does.
    assert cosine_lr(45, peak_lr=1.0, total_steps=40, warmup_steps=5) == 0.0


def test_core_never_imports_fairseq_or_transformers() -> None:
    code = (
        "import sys, knee_nlp, knee_nlp.cli, knee_nlp.curves; from knee_nlp import KneeLR; "
        "print(sorted(m for m in ('fairseq', 'transformers', 'accelerate', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
