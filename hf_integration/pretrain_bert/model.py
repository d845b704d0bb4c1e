"""BERT for masked-language-model pretraining, randomly initialized from a ``BertConfig``.

:class:`SparseMLM` wraps a ``transformers.BertForMaskedLM`` and runs its MLM head only at the
masked positions (about 15% of tokens), as NVIDIA's BERT pretraining does: the vocabulary
projection is the most expensive layer of a small BERT. The loss equals
``BertForMaskedLM(input_ids, labels=labels).loss``; the wrapped model is what gets saved with
``save_pretrained``, so it loads with ``BertForMaskedLM.from_pretrained`` anywhere.

>>> mlm = SparseMLM(new_bert({"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 1,
...                          "num_attention_heads": 2, "intermediate_size": 64}))
>>> ids = torch.randint(5, 100, (2, 16)); labels = torch.full_like(ids, -100); labels[:, 3] = ids[:, 3]
>>> loss, correct, count = mlm(ids, labels)
>>> int(count)
2
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertForMaskedLM


def new_bert(model_kwargs: dict[str, Any]) -> BertForMaskedLM:
    """A randomly initialized ``BertForMaskedLM``; ``model_kwargs`` are ``BertConfig`` arguments."""
    try:
        config = BertConfig(**model_kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model: not valid transformers.BertConfig arguments: {error}") from None
    return BertForMaskedLM(config)


def load_bert(path: Path) -> BertForMaskedLM:
    """Weights saved by a previous phase (``save_pretrained`` directory)."""
    return BertForMaskedLM.from_pretrained(str(path))


class SparseMLM(nn.Module):
    """``forward(input_ids, labels) -> (mean loss, correct predictions, masked tokens)``."""

    def __init__(self, mlm: BertForMaskedLM) -> None:
        super().__init__()
        self.mlm = mlm

    def forward(
        self, input_ids: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.mlm.bert(input_ids=input_ids).last_hidden_state
        selected = labels != -100
        logits = self.mlm.cls(hidden[selected]).float()
        target = labels[selected]
        loss = nn.functional.cross_entropy(logits, target)
        correct = (logits.argmax(dim=-1) == target).sum()
        return loss, correct, selected.sum()
