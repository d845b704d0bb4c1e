"""The optimizer-update loop of one pretraining phase.

One update = ``gradient_accumulation_steps`` micro-batches on every process (gradients are
all-reduced only on the last one, via ``accelerator.no_sync``), then clipping, one optimizer
step and, unless fp16 loss scaling skipped that step, one ``scheduler.step()``. The scheduler
is deliberately *not* prepared by accelerate (a prepared scheduler steps ``num_processes``
times per call), so after ``s`` successful updates the LR is exactly ``schedule(s)`` for any
number of processes and any accumulation. A skipped update does not count towards the budget.

>>> train_phase(accelerator, cfg, phase, phase_dir, SparseMLM(new_bert(cfg.model)),
...             train_data, eval_data)  # doctest: +SKIP
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from hf_integration.pretrain_bert.batches import BatchOrder, MaskedBatches
from hf_integration.pretrain_bert.checkpoint import (
    Progress,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from hf_integration.pretrain_bert.config import PhaseConfig, PretrainConfig
from hf_integration.pretrain_bert.model import SparseMLM
from hf_integration.pretrain_bert.optim import build_optimizer
from hf_integration.pretrain_bert.schedules import build_scheduler

EVAL_MASK_SEED = 1234


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
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
            loss, correct, count = inner(**_to(batch, accelerator.device))
            sums += torch.stack([loss.double() * count, correct.double(), count.double()])
    inner.train()
    loss_sum, correct, count = accelerator.reduce(sums, reduction="sum").tolist()
    return loss_sum / count, correct / count


def train_phase(
    accelerator: Accelerator,
    cfg: PretrainConfig,
    phase: PhaseConfig,
    phase_dir: Path,
    model: SparseMLM,
    train_data: MaskedBatches,
    eval_data: MaskedBatches,
) -> SparseMLM:
    """Train ``model`` for ``phase.total_steps`` updates (resuming from the latest checkpoint)."""
    optimizer = build_optimizer(model, cfg.optimizer, phase.peak_lr)
    scheduler = build_scheduler(cfg.schedule, optimizer, phase)
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = Progress()
    checkpoint = latest_checkpoint(phase_dir)
    if checkpoint is not None:
        progress = load_checkpoint(accelerator, checkpoint, scheduler)
        accelerator.print(
            f"[{phase.name}] resumed from {checkpoint} at update {progress.updates}", flush=True
        )

    processes, accumulation, log = accelerator.num_processes, phase.gradient_accumulation_steps, cfg.logging
    order = BatchOrder(
        len(train_data),
        phase.per_device_batch_size,
        processes,
        accelerator.process_index,
        accumulation,
        cfg.seed,
    )
    indices = order.indices(progress.micro_batches)
    eval_batches = eval_data.fixed_eval_batches(
        phase.per_device_batch_size, log.eval_batches, processes, accelerator.process_index, EVAL_MASK_SEED
    )
    window = torch.zeros(
        4, device=accelerator.device, dtype=torch.float64
    )  # loss, micro-batches, correct, masked
    bar = tqdm(
        total=phase.total_steps,
        initial=progress.updates,
        desc=phase.name,
        disable=not accelerator.is_local_main_process,
    )
    model.train()
    while progress.updates < phase.total_steps:
        for micro in range(accumulation):
            batch = _to(train_data.batch(next(indices)), accelerator.device)
            progress.micro_batches += 1
            with accelerator.no_sync(model) if micro < accumulation - 1 else nullcontext():
                loss, correct, count = model(**batch)
                accelerator.backward(loss / accumulation)
            window += torch.stack(
                [loss.detach().double(), window.new_tensor(1.0), correct.double(), count.double()]
            )
            progress.examples_seen += len(batch["input_ids"])
        if cfg.optimizer.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), cfg.optimizer.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if accelerator.optimizer_step_was_skipped:
            progress.skipped_updates += 1
            continue
        scheduler.step()
        progress.updates += 1
        bar.update(1)
        step = progress.updates
        if step % log.log_every == 0 or step == phase.total_steps:
            loss_sum, micro_count, correct_sum, masked = accelerator.reduce(window, reduction="sum").tolist()
            examples = accelerator.reduce(
                torch.tensor(progress.examples_seen, device=accelerator.device), reduction="sum"
            )
            lr = scheduler.get_last_lr()[0]
            metrics = {
                f"{phase.name}/train_loss": loss_sum / micro_count,
                f"{phase.name}/train_mlm_accuracy": correct_sum / masked,
                f"{phase.name}/lr": lr,
                f"{phase.name}/examples_seen": int(examples),
                f"{phase.name}/skipped_updates": progress.skipped_updates,
            }
            accelerator.log(metrics, step=step)
            bar.set_postfix(loss=f"{loss_sum / micro_count:.3f}", lr=f"{lr:.2e}")
            window.zero_()
        if step % log.eval_every == 0 or step == phase.total_steps:
            eval_loss, eval_accuracy = evaluate(accelerator, model, eval_batches)
            accelerator.log(
                {f"{phase.name}/eval_loss": eval_loss, f"{phase.name}/eval_mlm_accuracy": eval_accuracy},
                step=step,
            )
            accelerator.print(
                f"[{phase.name}] update {step}: eval loss {eval_loss:.4f} accuracy {eval_accuracy:.4f}",
                flush=True,
            )
        if step % log.save_every == 0 and step < phase.total_steps:
            path = save_checkpoint(accelerator, phase_dir, progress, scheduler, log.keep_checkpoints)
            accelerator.print(f"[{phase.name}] saved checkpoint {path}", flush=True)
    bar.close()
    return model
