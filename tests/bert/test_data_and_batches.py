"""Packing, the tokenized-data cache, resumable sharding and the global-batch arithmetic."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hf_integration.pretrain_bert.batches import BatchOrder, MaskedBatches
from hf_integration.pretrain_bert.config import PhaseConfig
from hf_integration.pretrain_bert.data import load_tokenizer, packed_blocks
from hf_integration.pretrain_bert.run import phase_data
from knee_nlp.errors import InvalidInputError

SEQ = 64


@pytest.fixture(scope="module")
def tokenizer(prepared: dict[str, Path]):
    return load_tokenizer(prepared["vocab"], lowercase=True)


def test_blocks_are_packed_and_cached(
    tokenizer, prepared: dict[str, Path], wikitext: dict[str, Path]
) -> None:
    blocks, cached = packed_blocks([wikitext["train"]], tokenizer, SEQ, prepared["cache"])
    assert cached, "the session fixture already tokenized this file: a re-run must load the cache"
    ids = torch.tensor(blocks[:50]["input_ids"])
    assert ids.shape == (50, SEQ)
    assert (ids[:, 0] == tokenizer.cls_token_id).all()
    assert (ids[:, 1:] != tokenizer.cls_token_id).all()
    assert (ids == tokenizer.sep_token_id).sum() > 10  # line ends (long WikiText paragraphs) survive packing
    assert (ids != tokenizer.pad_token_id).all()  # packed, never padded


def test_changed_file_is_tokenized_again(tmp_path: Path, tokenizer) -> None:
    text = tmp_path / "corpus.txt"
    text.write_text("the quick brown fox jumps over the lazy dog .\n" * 40)
    first, cached = packed_blocks([text], tokenizer, 16, tmp_path / "cache")
    assert not cached
    assert packed_blocks([text], tokenizer, 16, tmp_path / "cache")[1]
    text.write_text("a different corpus of words for the cache key .\n" * 60)
    second, cached = packed_blocks([text], tokenizer, 16, tmp_path / "cache")
    assert not cached and len(second) != len(first)


def test_too_little_text_for_one_sequence(tmp_path: Path, tokenizer) -> None:
    text = tmp_path / "short.txt"
    text.write_text("only a few words\n")
    with pytest.raises(ValueError, match="fewer than max_seq_length=128 tokens"):
        packed_blocks([text], tokenizer, 128, tmp_path / "cache")


@pytest.mark.parametrize(("processes", "accumulation"), [(1, 1), (2, 1), (2, 3), (4, 2)])
def test_one_update_consumes_one_global_batch_of_distinct_sequences(
    processes: int, accumulation: int
) -> None:
    phase = PhaseConfig(
        name="p",
        max_seq_length=8,
        per_device_batch_size=5,
        total_steps=10,
        peak_lr=1.0,
        gradient_accumulation_steps=accumulation,
    )
    orders = [BatchOrder(997, 5, processes, rank, accumulation, seed=3) for rank in range(processes)]
    per_update = [list(itertools.islice(order.indices(), accumulation)) for order in orders]
    rows = torch.cat([batch for batches in per_update for batch in batches])
    assert len(rows) == phase.global_batch_size(processes) == 5 * processes * accumulation
    assert len(set(rows.tolist())) == len(rows)
    epoch = torch.cat(
        [torch.cat(list(itertools.islice(o.indices(), o.micro_batches_per_epoch))) for o in orders]
    )
    assert len(set(epoch.tolist())) == len(epoch) == orders[0].updates_in_data_epoch * len(rows)


def test_resuming_at_a_position_continues_the_same_order() -> None:
    order = BatchOrder(300, 8, 2, 1, 2, seed=7)
    straight = [b.tolist() for b in itertools.islice(order.indices(), 80)]
    resumed = [b.tolist() for b in itertools.islice(order.indices(start=33), 47)]
    assert resumed == straight[33:]
    assert order.micro_batches_per_epoch == 18 and straight[18] != straight[0]  # new epoch, new order


def test_dataset_smaller_than_a_global_batch() -> None:
    with pytest.raises(ValueError, match="fewer than one global batch of 64"):
        BatchOrder(50, 8, 2, 0, 4, seed=0)


def test_validation_text_with_fewer_sequences_than_processes_is_refused(
    tokenizer, prepared: dict[str, Path], wikitext: dict[str, Path], tmp_path: Path
) -> None:
    one_block = tmp_path / "one-block.txt"
    one_block.write_text(" ".join(["the cat sat on the mat ."] * 12) + "\n")
    cfg = SimpleNamespace(data=SimpleNamespace(cache_dir=str(prepared["cache"]), num_proc=1))
    two_processes = SimpleNamespace(num_processes=2, main_process_first=contextlib.nullcontext)
    phase = PhaseConfig(name="phase2", max_seq_length=SEQ, per_device_batch_size=2, total_steps=2, peak_lr=1e-3)
    with pytest.raises(InvalidInputError, match=r"\[phase2\] \(max_seq_length 64\): data.validation_files "
                       r"hold 1 sequences, fewer than the 2 processes"):
        phase_data(cfg, two_processes, tokenizer, phase, [wikitext["valid"]], [one_block])


def test_masking_follows_bert_and_eval_masks_are_fixed(
    tokenizer, prepared: dict[str, Path], wikitext: dict[str, Path]
) -> None:
    blocks, _ = packed_blocks([wikitext["valid"]], tokenizer, SEQ, prepared["cache"])
    data = MaskedBatches(blocks, tokenizer, mlm_probability=0.15)
    torch.manual_seed(0)
    batch = data.batch(torch.arange(64))
    selected = batch["labels"] != -100
    assert 0.12 < selected.float().mean() < 0.18
    assert not selected[:, 0].any()  # [CLS] is never a target
    assert (batch["input_ids"][selected] == tokenizer.mask_token_id).float().mean() > 0.7
    state = torch.get_rng_state()
    first = data.fixed_eval_batches(8, 3, 2, 1, seed=5)
    assert torch.equal(torch.get_rng_state(), state), "eval masking must not consume the training RNG"
    again = data.fixed_eval_batches(8, 3, 2, 1, seed=5)
    assert len(first) == 3 and all(torch.equal(a["labels"], b["labels"]) for a, b in zip(first, again, strict=True))
