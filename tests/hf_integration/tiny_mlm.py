"""A tiny masked-LM training run on real WikiText-2 text with ``KneeTrainer``.

Imported by the tests (``build_trainer``, ``logged_lrs``) and run as a script under
``accelerate launch`` for the multi-process test::

    python tiny_mlm.py --data /path/to/shared/data --result lrs.json --output_dir out \\
        --lr_scheduler_type knee --explore_ratio 0.5 --warmup_steps 0.1 --use_cpu

The script writes the world size and the logged per-step learning rates to ``--result`` (JSON).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import (
    BertConfig,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    HfArgumentParser,
    PreTrainedTokenizerFast,
)

from hf_integration import KneeTrainer, KneeTrainingArguments

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def wikitext_lines(shared_data: Path, count: int) -> list[str]:
    """The first ``count`` paragraphs (no headings, no blank lines) of the WikiText-2 validation text."""
    lines = []
    with open(shared_data / "wikitext-2" / "tokens" / "valid.txt", encoding="utf-8") as text:
        for line in text:
            line = line.strip()
            if line and not line.startswith("="):
                lines.append(line)
                if len(lines) == count:
                    break
    return lines


def build_tokenizer(lines: list[str], vocab_size: int = 300) -> PreTrainedTokenizerFast:
    """A word-level tokenizer trained on ``lines`` (no downloads)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        lines, trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS)
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def build_trainer(
    shared_data: Path,
    args: KneeTrainingArguments,
    num_examples: int = 48,
    optimizers: Callable[[torch.nn.Module], tuple[Any, Any]] | None = None,
) -> KneeTrainer:
    """A ``KneeTrainer`` for a randomly initialised 1-layer BERT on ``num_examples`` WikiText-2 paragraphs
    (``optimizers(model)``, if given, makes the Trainer's ``optimizers=(optimizer, scheduler)``)."""
    lines = wikitext_lines(shared_data, num_examples)
    tokenizer = build_tokenizer(lines)
    dataset = [{"input_ids": ids} for ids in tokenizer(lines, truncation=True, max_length=32)["input_ids"]]
    torch.manual_seed(args.seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    model = BertForMaskedLM(config)
    return KneeTrainer(
        model=model,
        args=args,
        optimizers=optimizers(model) if optimizers else (None, None),
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15),
    )


def logged_lrs(trainer: KneeTrainer) -> dict[int, float]:
    """``{global step: learning_rate}`` from the Trainer's log history (the LR that step used)."""
    return {entry["step"]: entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry}


def training_args(output_dir: Path | str, **overrides: Any) -> KneeTrainingArguments:
    """Quiet CPU arguments that log the LR of every optimizer step."""
    settings: dict[str, Any] = dict(
        output_dir=str(output_dir),
        use_cpu=True,
        learning_rate=1e-3,
        lr_scheduler_type="knee",
        per_device_train_batch_size=4,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=7,
    )
    return KneeTrainingArguments(**(settings | overrides))


@dataclass
class ScriptArguments:
    data: str = field(metadata={"help": "the shared reference data folder"})
    result: str = field(metadata={"help": "JSON file for the world size and the logged LRs"})
    num_examples: int = field(default=48, metadata={"help": "WikiText-2 paragraphs to train on"})


def main(argv: list[str]) -> None:
    script, args = HfArgumentParser((ScriptArguments, KneeTrainingArguments)).parse_args_into_dataclasses(argv)
    trainer = build_trainer(Path(script.data), args, script.num_examples)
    trainer.train()
    if trainer.is_world_process_zero():
        world_size = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        Path(script.result).write_text(
            json.dumps(
                {
                    "world_size": world_size,
                    "max_steps": trainer.state.max_steps,
                    "lrs": logged_lrs(trainer),
                    "final_lr": trainer.lr_scheduler.get_last_lr()[0],
                }
            )
        )


if __name__ == "__main__":
    main(sys.argv[1:])
