"""Held-out evaluation of one phase: MLM loss and accuracy over fixed masked batches, logged.

>>> log_evaluation(accelerator, model, eval_batches, "phase1", step=100)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
from accelerate import Accelerator


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """``batch`` on ``device`` (non-blocking copies)."""
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


@torch.no_grad()
def evaluate(
    accelerator: Accelerator, model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]
) -> tuple[float, float]:
    """Held-out MLM loss and accuracy over every process's share of the fixed eval batches."""
    inner = accelerator.unwrap_model(model)
    inner.eval()
    sums = torch.zeros(3, device=accelerator.device, dtype=torch.float64)
    with accelerator.autocast():
        for batch in batches:
            loss, correct, count = inner(**to_device(batch, accelerator.device))
            sums += torch.stack([loss.double() * count, correct.double(), count.double()])
    inner.train()
    loss_sum, correct, count = accelerator.reduce(sums, reduction="sum").tolist()
    return loss_sum / count, correct / count


def log_evaluation(
    accelerator: Accelerator, model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], phase: str, step: int
) -> None:
    """Evaluate, log ``<phase>/eval_loss`` and ``<phase>/eval_mlm_accuracy`` at ``step`` and print them."""
    eval_loss, eval_accuracy = evaluate(accelerator, model, batches)
    accelerator.log({f"{phase}/eval_loss": eval_loss, f"{phase}/eval_mlm_accuracy": eval_accuracy}, step=step)
    accelerator.print(f"[{phase}] update {step}: eval loss {eval_loss:.4f} accuracy {eval_accuracy:.4f}", flush=True)
