"""Models, batches and loss callbacks for ``knee-nlp sharpness``: fairseq and Hugging Face.

Each loader returns a :class:`Target` that :func:`knee_nlp.sharpness.keskar_sharpness` measures.
fairseq and transformers are imported inside the loaders only.

- :func:`fairseq_target`: a fairseq checkpoint with its binarized data directory; the loss is the
  checkpoint's own criterion (e.g. label-smoothed cross-entropy) per target token, on a seeded
  random sample of training batches built with the checkpoint's ``--max-tokens``.
- :func:`hf_mlm_target`: a Hugging Face ``save_pretrained`` directory (model and tokenizer) with
  plain-text files; the loss is the masked-LM loss on packed blocks whose masking is drawn once
  from a seeded generator, so ``L(w)`` is a fixed, deterministic function of the weights.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from knee_nlp.data.parallel import read_lines


@dataclass
class Target:
    """A model on its device, the batches ``L`` averages over, and ``loss_fn(model, batch)``."""

    model: nn.Module
    batches: list[Any]
    loss_fn: Callable[[nn.Module, Any], torch.Tensor]
    batches_available: int
    description: dict[str, Any] = field(default_factory=dict)


#: what loading a damaged or foreign model file raises (truncated zip or pickle, missing keys)
_UNREADABLE = (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, ValueError)


def resolve_device(name: str) -> torch.device:
    """``auto`` is ``cuda`` when available, else ``cpu``; anything else goes to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r} ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name!r} requested but CUDA is not available")
    return device


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor inside dicts, lists and tuples moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: to_device(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(value, device) for value in obj)
    return obj


def _sample(count: int, max_batches: int, seed: int) -> list[int]:
    """Sorted indices of ``min(count, max_batches)`` of ``range(count)``, drawn with ``seed``."""
    if count <= max_batches:
        return list(range(count))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    return sorted(order[:max_batches].tolist())


def fairseq_target(
    checkpoint: Path, data: Path, *, split: str, max_batches: int, max_tokens: int | None,
    seed: int, device: torch.device,
) -> Target:
    """A fairseq checkpoint, ``split`` of its binarized ``data`` and the checkpoint's criterion."""
    import fairseq_plugin  # noqa: F401  registers ``knee`` and loads checkpoints under torch >= 2.6
    from fairseq import checkpoint_utils, utils

    if not checkpoint.is_file():
        raise ValueError(f"checkpoint {checkpoint} is not a file")
    if not data.is_dir():
        raise ValueError(f"data {data} is not a directory (fairseq-preprocess --destdir)")
    try:
        models, cfg, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(checkpoint)], arg_overrides={"data": str(data)}
        )
    except Exception as error:  # noqa: BLE001 - fairseq raises bare Exceptions for unusable data
        raise ValueError(f"checkpoint {checkpoint} cannot be loaded as a fairseq checkpoint with the data "
                         f"{data} ({type(error).__name__}: {error})") from None
    model = models[0].to(device)
    criterion = task.build_criterion(cfg.criterion).to(device)
    try:
        task.load_dataset(split, combine=False, epoch=1)
    except FileNotFoundError as error:
        raise ValueError(f"split {split!r} not found in {data}: {error}") from None
    tokens = max_tokens or cfg.dataset.max_tokens
    sentences = None if max_tokens else cfg.dataset.batch_size
    try:
        iterator = task.get_batch_iterator(
            dataset=task.dataset(split), max_tokens=tokens, max_sentences=sentences,
            max_positions=utils.resolve_max_positions(task.max_positions(), model.max_positions()),
            ignore_invalid_inputs=True, seed=seed, num_workers=0,
        ).next_epoch_itr(shuffle=False)
    except AssertionError as error:  # fairseq's check that a sentence fits in --max-tokens
        raise ValueError(f"--max-tokens {tokens} is too small for the {split} split: {error}") from None
    all_batches = list(iterator)
    chosen = [to_device(all_batches[i], device) for i in _sample(len(all_batches), max_batches, seed)]

    def loss_fn(model: nn.Module, sample: dict[str, Any]) -> torch.Tensor:
        loss, sample_size, _ = criterion(model, sample)
        return loss / sample_size

    return Target(
        model, chosen, loss_fn, len(all_batches),
        {"kind": "fairseq", "checkpoint": str(checkpoint), "data": str(data), "split": split,
         "criterion": type(criterion).__name__, "max_tokens": tokens,
         "loss": "criterion loss per target token (nats)"},
    )


def _mask(
    blocks: torch.Tensor, tokenizer: Any, probability: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """BERT masking (80% [MASK], 10% random, 10% kept) drawn from ``generator``."""
    special = torch.tensor(
        [tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in blocks.tolist()],
        dtype=torch.bool,
    )
    chosen = (torch.rand(blocks.shape, generator=generator) < probability) & ~special
    for row in range(blocks.shape[0]):  # at least one target per row keeps the loss defined
        if not chosen[row].any():
            candidates = (~special[row]).nonzero().flatten()
            chosen[row, candidates[torch.randint(len(candidates), (1,), generator=generator)]] = True
    labels = torch.where(chosen, blocks, torch.full_like(blocks, -100))
    inputs = blocks.clone()
    draw = torch.rand(blocks.shape, generator=generator)
    inputs[chosen & (draw < 0.8)] = tokenizer.mask_token_id
    random_tokens = torch.randint(len(tokenizer), blocks.shape, generator=generator)
    replace = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[replace] = random_tokens[replace]
    return {"input_ids": inputs, "attention_mask": torch.ones_like(blocks), "labels": labels}


def hf_mlm_target(
    model_dir: Path, text_files: Sequence[Path], *, max_batches: int, batch_size: int,
    max_seq_length: int, mlm_probability: float, seed: int, device: torch.device,
) -> Target:
    """A ``save_pretrained`` masked LM with its tokenizer on packed blocks of ``text_files``."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    if not (model_dir / "config.json").is_file():
        raise ValueError(f"model_dir {model_dir} has no config.json (a save_pretrained directory?)")
    for path in text_files:
        if not path.is_file():
            raise ValueError(f"text file {path} does not exist")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        if tokenizer.mask_token_id is None:
            raise ValueError(f"the tokenizer in {model_dir} has no mask token: not a masked LM")
        # float32 whatever the saved dtype: a half-precision loss cannot resolve the sharpness
        model = AutoModelForMaskedLM.from_pretrained(str(model_dir), dtype=torch.float32).to(device)
    except (OSError, *_UNREADABLE) as error:
        raise ValueError(f"model_dir {model_dir} cannot be loaded as a masked LM with its tokenizer "
                         f"({type(error).__name__}: {error})") from None
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and max_seq_length > positions:
        raise ValueError(f"--max-seq-length must be <= the model's max_position_embeddings ({positions}), "
                         f"got {max_seq_length}")
    body = max_seq_length - 2
    ids: list[int] = []
    for path in text_files:
        lines = [line for line in (raw.strip() for raw in read_lines(path)) if line]
        if lines:
            for encoded in tokenizer(lines, add_special_tokens=False)["input_ids"]:
                ids.extend(encoded)
    count = len(ids) // body
    if count < batch_size:
        raise ValueError(
            f"text files hold {len(ids)} tokens: fewer than one batch of {batch_size} x "
            f"{max_seq_length} tokens; pass more text or a smaller --batch-size/--max-seq-length"
        )
    blocks = torch.tensor(ids[: count * body]).view(count, body)
    cls = torch.full((count, 1), tokenizer.cls_token_id)
    sep = torch.full((count, 1), tokenizer.sep_token_id)
    blocks = torch.cat([cls, blocks, sep], dim=1)
    available = count // batch_size
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(count, generator=generator)
    chosen = []
    for index in _sample(available, max_batches, seed):
        rows = blocks[order[index * batch_size:(index + 1) * batch_size]]
        chosen.append(to_device(_mask(rows, tokenizer, mlm_probability, generator), device))

    def loss_fn(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**batch).loss

    return Target(
        model, chosen, loss_fn, available,
        {"kind": "hf-mlm", "model_dir": str(model_dir), "text_files": [str(p) for p in text_files],
         "batch_size": batch_size, "max_seq_length": max_seq_length,
         "mlm_probability": mlm_probability, "loss": "masked-LM cross-entropy per masked token (nats)"},
    )
