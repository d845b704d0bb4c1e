"""Training metrics of one phase: a window of sums between logs, reduced over processes and logged.

>>> window = TrainWindow(accelerator.device)  # doctest: +SKIP
>>> window.add(loss, correct, count)  # doctest: +SKIP
>>> window.log(accelerator, "phase1", step, lr, progress, bar)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate import Accelerator

from hf_integration.pretrain_bert.checkpoint import Progress


class TrainWindow:
    """Sums of loss, micro-batches, correct and masked tokens since the last log, on ``device``."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(4, device=device, dtype=torch.float64)

    def add(self, loss: torch.Tensor, correct: torch.Tensor, count: torch.Tensor) -> None:
        """One micro-batch's mean loss, correct predictions and masked-token count."""
        self.sums += torch.stack(
            [loss.detach().double(), self.sums.new_tensor(1.0), correct.double(), count.double()]
        )

    def log(self, accelerator: Accelerator, phase: str, step: int, lr: float, progress: Progress, bar: Any) -> None:
        """Log the window's means (over every process) with the LR and counters, then reset it."""
        loss_sum, micro_count, correct_sum, masked = accelerator.reduce(self.sums, reduction="sum").tolist()
        examples = accelerator.reduce(torch.tensor(progress.examples_seen, device=accelerator.device), reduction="sum")
        metrics = {
            f"{phase}/train_loss": loss_sum / micro_count,
            f"{phase}/train_mlm_accuracy": correct_sum / masked,
            f"{phase}/lr": lr,
            f"{phase}/examples_seen": int(examples),
            f"{phase}/skipped_updates": progress.skipped_updates,
        }
        accelerator.log(metrics, step=step)
        bar.set_postfix(loss=f"{loss_sum / micro_count:.3f}", lr=f"{lr:.2e}")
        self.sums.zero_()
