"""Budget arithmetic: epochs, batches and processes to optimizer updates.

Every schedule in this project counts *optimizer updates*. These helpers turn the numbers a
user knows (examples, batch size, epochs, processes, gradient accumulation) into updates, with
the same rounding the frameworks use.

>>> updates_from_batches(num_batches=1100, update_freq=2)
550
>>> updates_for_epochs(50, epoch_updates=550)
27500
>>> warmup_steps_from(0.1, total_steps=1000)
100
"""

from __future__ import annotations

import math

from knee_nlp.validation import check_number, check_ratio, check_step_count


def updates_from_batches(num_batches: int, update_freq: int = 1, num_processes: int = 1) -> int:
    """Optimizer updates in one epoch of ``num_batches`` batches (summed over all processes).

    Each process sees ``ceil(num_batches / num_processes)`` batches and steps once every
    ``update_freq`` of them (a last partial accumulation still steps, as in fairseq and HF).
    """
    batches = check_step_count("num_batches", num_batches, minimum=1)
    freq = check_step_count("update_freq", update_freq, minimum=1)
    processes = check_step_count("num_processes", num_processes, minimum=1)
    return math.ceil(math.ceil(batches / processes) / freq)


def batches_per_epoch(num_examples: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches of ``batch_size`` in ``num_examples`` examples."""
    examples = check_step_count("num_examples", num_examples, minimum=1)
    size = check_step_count("batch_size", batch_size, minimum=1)
    return examples // size if drop_last else math.ceil(examples / size)


def updates_for_epochs(epochs: float, epoch_updates: int) -> int:
    """Total updates for ``epochs`` (may be fractional) at ``epoch_updates`` per epoch; rounds up."""
    count = check_number("epochs", epochs, inclusive=False)
    per_epoch = check_step_count("epoch_updates", epoch_updates, minimum=1)
    return math.ceil(count * per_epoch)


def global_batch_size(per_device_batch_size: int, num_processes: int = 1, grad_accum: int = 1) -> int:
    """Examples per optimizer update: per-device batch x processes x gradient accumulation."""
    return (
        check_step_count("per_device_batch_size", per_device_batch_size, minimum=1)
        * check_step_count("num_processes", num_processes, minimum=1)
        * check_step_count("grad_accum", grad_accum, minimum=1)
    )


def warmup_steps_from_ratio(ratio: float, total_steps: int) -> int:
    """Warmup updates for ``ratio`` (a fraction in [0, 1]) of ``total_steps``, rounded **up**.

    The one rounding rule for a fractional warmup, transformers' ``TrainingArguments.get_warmup_steps``
    (``math.ceil(total_steps * ratio)``, float product included: ``0.07 x 100`` is
    ``7.000000000000001`` in floating point, so 8 updates), used by the ``Trainer`` integration and
    the BERT launcher.

    >>> warmup_steps_from_ratio(0.125, 20), warmup_steps_from_ratio(0.128, 1563), warmup_steps_from_ratio(1.0, 7)
    (3, 201, 7)
    """
    fraction = check_ratio("warmup_ratio", ratio)
    return math.ceil(check_step_count("total_steps", total_steps) * fraction)


def warmup_steps_from(ratio_or_steps: float, total_steps: int) -> int:
    """Warmup updates from transformers' ``warmup_steps`` value: a number >= 1 is a count (``int()``),
    one in [0, 1) is a fraction of ``total_steps`` rounded up (:func:`warmup_steps_from_ratio`).

    >>> warmup_steps_from(0.1, 1000), warmup_steps_from(0.05, 30), warmup_steps_from(40, 1000), warmup_steps_from(0, 9)
    (100, 2, 40, 0)
    """
    value = check_number("warmup_steps", ratio_or_steps)
    return int(value) if value >= 1 else warmup_steps_from_ratio(value, total_steps)
