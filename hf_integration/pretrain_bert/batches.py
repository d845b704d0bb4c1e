"""Which sequences each process trains on, in an order that a resumed run can reproduce.

Epoch ``e`` is the permutation ``torch.randperm(N, generator=seed + e)``. Global micro-batch ``j``
holds positions ``[j * B * P, (j + 1) * B * P)`` of it and process ``r`` takes the ``r``-th slice
of ``B`` (``B`` = per-device batch, ``P`` = processes). An epoch has
``floor(N / (B * P))`` micro-batches per process, rounded down to a multiple of the gradient
accumulation ``K``, so an optimizer update never straddles two epochs and one update always
consumes ``B * P * K`` sequences (the global batch). The data position of a run is therefore
one number, the micro-batches consumed so far, which the checkpoint stores.

>>> order = BatchOrder(num_examples=1000, batch_size=4, num_processes=2, rank=0, accumulation=3, seed=0)
>>> order.micro_batches_per_epoch, order.updates_in_data_epoch
(123, 41)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import datasets
import torch
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from knee_nlp.errors import InvalidInputError


@dataclass(frozen=True)
class BatchOrder:
    """Deterministic, resumable sharding of ``num_examples`` sequences into micro-batches."""

    num_examples: int
    batch_size: int
    num_processes: int
    rank: int
    accumulation: int
    seed: int

    def __post_init__(self) -> None:
        if self.micro_batches_per_epoch == 0:
            raise InvalidInputError(
                f"the training data has {self.num_examples} sequences, fewer than one global batch of "
                f"{self.batch_size * self.num_processes * self.accumulation} "
                f"(per_device_batch_size x processes x gradient_accumulation_steps)"
            )

    @property
    def micro_batches_per_epoch(self) -> int:
        per_process = self.num_examples // (self.batch_size * self.num_processes)
        return per_process // self.accumulation * self.accumulation

    @property
    def updates_in_data_epoch(self) -> int:
        return self.micro_batches_per_epoch // self.accumulation

    def indices(self, start: int = 0) -> Iterator[torch.Tensor]:
        """Index tensors of this process's micro-batches, from micro-batch ``start`` on, forever."""
        epoch, offset = divmod(start, self.micro_batches_per_epoch)
        width = self.batch_size * self.num_processes
        while True:
            generator = torch.Generator().manual_seed(self.seed + epoch)
            permutation = torch.randperm(self.num_examples, generator=generator)
            for batch in range(offset, self.micro_batches_per_epoch):
                first = batch * width + self.rank * self.batch_size
                yield permutation[first : first + self.batch_size]
            epoch, offset = epoch + 1, 0


class MaskedBatches:
    """Turn packed blocks into MLM batches with transformers' 80/10/10 masking.

    Masking draws from torch's global RNG, which ``Accelerator.save_state`` saves and
    ``load_state`` restores, so a resumed run masks exactly as the uninterrupted one.
    """

    def __init__(
        self, blocks: datasets.Dataset, tokenizer: PreTrainedTokenizerBase, mlm_probability: float
    ) -> None:
        self.blocks = blocks.with_format("torch", columns=["input_ids"])
        self.collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability)
        self.special_ids = torch.tensor(tokenizer.all_special_ids)

    def __len__(self) -> int:
        return len(self.blocks)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """``input_ids`` (masked) and ``labels`` (-100 where not masked) for the given rows."""
        input_ids = self.blocks[indices.tolist()]["input_ids"]
        special = torch.isin(input_ids, self.special_ids)
        input_ids, labels = self.collator.torch_mask_tokens(input_ids, special_tokens_mask=special)
        return {"input_ids": input_ids, "labels": labels}

    def fixed_eval_batches(
        self, batch_size: int, max_batches: int, num_processes: int, rank: int, seed: int
    ) -> list[dict[str, torch.Tensor]]:
        """This process's share of the first ``max_batches`` global batches, masked once with
        ``seed`` (the same masks at every evaluation; torch's global RNG is left untouched)."""
        width = batch_size * num_processes
        count = min(max_batches * width, len(self) // num_processes * num_processes)
        mine = torch.arange(rank, count, num_processes)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [self.batch(chunk) for chunk in mine.split(batch_size)]
