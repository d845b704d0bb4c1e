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

from accelerate import Accelerator
from tqdm.auto import tqdm

from hf_integration.pretrain_bert.batches import BatchOrder, MaskedBatches
from hf_integration.pretrain_bert.checkpoint import resume_progress, save_periodic_checkpoint
from hf_integration.pretrain_bert.config import PhaseConfig, PretrainConfig
from hf_integration.pretrain_bert.evaluation import log_evaluation, to_device
from hf_integration.pretrain_bert.model import SparseMLM
from hf_integration.pretrain_bert.optim import build_optimizer
from hf_integration.pretrain_bert.schedules import build_scheduler
from hf_integration.pretrain_bert.tracking import start_phase
from hf_integration.pretrain_bert.train_metrics import TrainWindow

EVAL_MASK_SEED = 1234


def train_phase(
    accelerator: Accelerator,
    cfg: PretrainConfig,
    phase: PhaseConfig,
    phase_dir: Path,
    model: SparseMLM,
    train_data: MaskedBatches,
    eval_data: MaskedBatches,
) -> SparseMLM:
    """Train ``model`` for ``phase.total_steps`` updates (resuming from the latest checkpoint).

    Logging (:mod:`~hf_integration.pretrain_bert.train_metrics`), evaluation
    (:mod:`~hf_integration.pretrain_bert.evaluation`) and checkpoints
    (:mod:`~hf_integration.pretrain_bert.checkpoint`) run after the update that reaches their interval.
    """
    optimizer = build_optimizer(model, cfg.optimizer, phase.peak_lr)
    scheduler = build_scheduler(cfg.schedule, optimizer, phase)
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = resume_progress(accelerator, phase_dir, scheduler, phase.name)
    start_phase(accelerator, phase.name, progress.updates)  # forget what is about to be redone
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
    window = TrainWindow(accelerator.device)
    bar = tqdm(
        total=phase.total_steps,
        initial=progress.updates,
        desc=phase.name,
        disable=not accelerator.is_local_main_process,
    )
    model.train()
    while progress.updates < phase.total_steps:
        for micro in range(accumulation):
            batch = to_device(train_data.batch(next(indices)), accelerator.device)
            progress.micro_batches += 1
            with accelerator.no_sync(model) if micro < accumulation - 1 else nullcontext():
                loss, correct, count = model(**batch)
                accelerator.backward(loss / accumulation)
            window.add(loss, correct, count)
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
        step, last = progress.updates, progress.updates == phase.total_steps
        if step % log.log_every == 0 or last:
            window.log(accelerator, phase.name, step, scheduler.get_last_lr()[0], progress, bar)
        if step % log.eval_every == 0 or last:
            log_evaluation(accelerator, model, eval_batches, phase.name, step)
        if step % log.save_every == 0 and not last:
            save_periodic_checkpoint(accelerator, phase_dir, progress, scheduler, log.keep_checkpoints, phase.name)
    bar.close()
    return model
