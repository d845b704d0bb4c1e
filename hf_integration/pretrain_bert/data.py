"""Text files -> WordPiece ids -> packed blocks of ``max_seq_length``, cached on disk.

Each non-blank line is tokenized without special tokens and followed by ``[SEP]``; the stream
is cut into chunks of ``max_seq_length - 1`` ids and every chunk is prefixed with ``[CLS]``
(MLM-only packing, as RoBERTa's FULL-SENTENCES and ``run_mlm.py``'s ``group_texts``). The
result is stored with ``datasets.Dataset.save_to_disk`` under a key that covers the files
(path, size, mtime), the vocabulary and the sequence length, so a re-run does not re-tokenize.

>>> files = resolve_text_files(["corpus/"], "data.train_files")  # doctest: +SKIP
>>> blocks, cached = packed_blocks(files, tokenizer, 128, Path("cache"))  # doctest: +SKIP
>>> blocks[0]["input_ids"][:1] == [tokenizer.cls_token_id]  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
from transformers import BertTokenizer, PreTrainedTokenizerBase

from knee_nlp.atomic import atomic_directory
from knee_nlp.data.parallel import TextFileError, check_utf8, read_lines
from knee_nlp.errors import InputFileError, InvalidInputError

CACHE_FORMAT_VERSION = 1
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def resolve_text_files(entries: list[str], key: str) -> list[Path]:
    """Expand files and directories (recursively, sorted, hidden names skipped) into text files.

    Raises ``FileNotFoundError`` for a missing entry and ``ValueError`` for an empty file, a file
    that is not UTF-8 (naming its first bad line) or a directory without files, naming the config
    ``key`` (both :class:`knee_nlp.errors.UserError`).
    """
    files: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.parts[len(path.parts) :])
            )
            if not found:
                raise InvalidInputError(f"{key}: directory {path} contains no files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError(f"{key}: {path} does not exist")
    for path in files:
        if path.stat().st_size == 0:
            raise InvalidInputError(f"{key}: {path} is empty")
        try:
            check_utf8(path)
        except TextFileError as error:
            raise InvalidInputError(f"{key}: {error}") from None
    return files


def train_wordpiece(
    files: list[Path], vocab_size: int, lowercase: bool, min_frequency: int, out_dir: Path
) -> Path:
    """Train a BERT WordPiece vocabulary with ``tokenizers``; return the written ``vocab.txt``."""
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(lowercase=lowercase)
    tokenizer.train(
        [str(path) for path in files],
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    return Path(tokenizer.save_model(str(out_dir))[0])


def load_tokenizer(vocab_file: Path, lowercase: bool) -> BertTokenizer:
    """A fast BERT tokenizer over ``vocab_file`` that has every special token MLM needs."""
    if not vocab_file.is_file():
        raise InputFileError(f"tokenizer.vocab_file: {vocab_file} does not exist")
    words = {line.strip() for line in read_lines(vocab_file)}  # transformers would append missing ones
    missing = [token for token in SPECIAL_TOKENS if token not in words]
    if missing:
        raise InvalidInputError(f"tokenizer.vocab_file: {vocab_file} lacks the special token(s) {missing}")
    return BertTokenizer(str(vocab_file), do_lower_case=lowercase)


def check_vocab_matches(tokenizer: PreTrainedTokenizerBase, vocab_size: int, multiple_of: int) -> None:
    """``model.vocab_size`` must be the vocabulary size rounded up to ``multiple_of``."""
    expected = -(-len(tokenizer) // multiple_of) * multiple_of
    if vocab_size != expected:
        raise InvalidInputError(
            f"model.vocab_size ({vocab_size}) does not match the vocabulary: {len(tokenizer)} tokens"
            + (f" padded to a multiple of {multiple_of} = {expected}" if multiple_of > 1 else "")
            + f"; set model.vocab_size: {expected}"
        )


def file_key(files: list[Path], *settings: Any) -> str:
    """A short hash of the files (resolved path, size, mtime) and any JSON-able settings."""
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    payload = json.dumps([CACHE_FORMAT_VERSION, stats, settings], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _tokenize(batch: dict[str, list[str]], tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    lines = [line.strip() for line in batch["text"]]
    ids = tokenizer([line for line in lines if line], add_special_tokens=False)["input_ids"]
    return {"ids": ids}


def _pack(batch: dict[str, list[list[int]]], cls_id: int, sep_id: int, max_seq_length: int) -> dict[str, Any]:
    stream: list[int] = []
    for ids in batch["ids"]:
        stream.extend(ids)
        stream.append(sep_id)
    size = max_seq_length - 1
    blocks = [[cls_id, *stream[start : start + size]] for start in range(0, len(stream) - size + 1, size)]
    return {"input_ids": blocks}


def packed_blocks(
    files: list[Path],
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    cache_root: Path,
    num_proc: int = 1,
) -> tuple[datasets.Dataset, bool]:
    """Packed ``input_ids`` blocks for ``files``; returns ``(dataset, loaded_from_cache)``.

    Raises ``ValueError`` when the files hold fewer than ``max_seq_length`` tokens.
    """
    vocab = sorted(tokenizer.get_vocab().items())
    lowercase = bool(getattr(tokenizer, "do_lower_case", True))
    target = cache_root / f"blocks-{max_seq_length}-{file_key(files, vocab, lowercase, max_seq_length)}"
    if (target / "dataset_info.json").is_file():
        return datasets.load_from_disk(str(target)), True
    raw = datasets.load_dataset(
        "text", data_files=[str(p) for p in files], split="train", cache_dir=str(cache_root / "raw")
    )
    ids = raw.map(
        _tokenize,
        batched=True,
        remove_columns=["text"],
        num_proc=num_proc if num_proc > 1 else None,
        fn_kwargs={"tokenizer": tokenizer},
        desc="tokenize",
    )
    blocks = ids.map(
        _pack,
        batched=True,
        batch_size=10_000,
        remove_columns=["ids"],
        fn_kwargs={
            "cls_id": tokenizer.cls_token_id,
            "sep_id": tokenizer.sep_token_id,
            "max_seq_length": max_seq_length,
        },
        desc=f"pack to {max_seq_length}",
    )
    if len(blocks) == 0:
        names = ", ".join(str(p) for p in files)
        raise InvalidInputError(
            f"{names} hold fewer than max_seq_length={max_seq_length} tokens: no training sequence"
        )
    with atomic_directory(target) as work:
        blocks.save_to_disk(str(work))
    return datasets.load_from_disk(str(target)), False
