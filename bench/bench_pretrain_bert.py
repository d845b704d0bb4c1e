"""Throughput and peak memory: ``hf_integration.pretrain_bert`` vs a ``run_mlm_no_trainer.py`` loop.

Both sides train the same randomly initialized ``BertForMaskedLM`` on the same packed WikiText-2
blocks with AdamW (the optimizer of ``run_mlm_no_trainer.py``), the same batch, sequence length,
masking rate, process count and hardware. Each measurement runs in a fresh subprocess (so peak
memory is per run); implementations alternate and repeat, and the median is reported. Throughput is
given per wall-clock second and per CPU-second of the process (less sensitive to other load
on a shared machine). Peak memory is the process's peak RSS on CPU, ``max_memory_allocated``
on a GPU.

- ``pretrain_bert``: this project's ``train_phase`` (the real loop: sharding, masking, clipping,
  scheduler, metric reduction, logging and one final held-out evaluation).
- ``run_mlm_no_trainer``: transformers' example loop: ``DataLoader(shuffle=True,
  collate_fn=DataCollatorForLanguageModeling)``, everything passed to ``accelerator.prepare``,
  ``with accelerator.accumulate(model)``, ``model(**batch).loss`` over the full vocabulary.

Usage (writes a Markdown table to stdout)::

    python bench/bench_pretrain_bert.py --data ../shared/data/wikitext-2/tokens/test.txt \\
        --vocab-sizes 1024 30522 --steps 40 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

IMPLEMENTATIONS = ("pretrain_bert", "run_mlm_no_trainer")
MODEL = {"hidden_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 512}


def _blocks(args: argparse.Namespace):
    from hf_integration.pretrain_bert.data import load_tokenizer, packed_blocks, train_wordpiece

    cache = Path(args.cache)
    vocab = cache / "bench-vocab" / "vocab.txt"
    if not vocab.is_file():
        train_wordpiece([Path(args.data)], 1024, lowercase=True, min_frequency=2, out_dir=vocab.parent)
    tokenizer = load_tokenizer(vocab, lowercase=True)
    blocks, _ = packed_blocks([Path(args.data)], tokenizer, args.seq, cache)
    return tokenizer, blocks


def _peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_pretrain_bert(args: argparse.Namespace) -> tuple[float, float]:
    """Wall and CPU seconds for ``args.steps`` updates of this project's training loop."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from hf_integration.pretrain_bert.batches import MaskedBatches
    from hf_integration.pretrain_bert.config import config_from_dict
    from hf_integration.pretrain_bert.model import SparseMLM, new_bert
    from hf_integration.pretrain_bert.train import train_phase

    tokenizer, blocks = _blocks(args)
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = config_from_dict(
            {
                "run_dir": run_dir,
                "schedule": "linear",
                "model": {**MODEL, "vocab_size": args.vocab_size},
                "data": {"train_files": [args.data], "validation_files": [args.data]},
                "optimizer": {"name": "adamw", "weight_decay": 0.0, "max_grad_norm": 1.0},
                "logging": {
                    "log_every": 10,
                    "eval_every": 10**9,
                    "eval_batches": 1,
                    "save_every": 10**9,
                    "trackers": [],
                },
                "phases": [
                    {
                        "name": "bench",
                        "max_seq_length": args.seq,
                        "per_device_batch_size": args.batch,
                        "total_steps": args.steps,
                        "peak_lr": 5e-4,
                        "warmup_steps": 0,
                    }
                ],
            }
        )
        accelerator = Accelerator(log_with=[])
        set_seed(0)
        data = MaskedBatches(blocks, tokenizer, 0.15)
        model = SparseMLM(new_bert(cfg.model))
        start, cpu = time.perf_counter(), time.process_time()
        train_phase(accelerator, cfg, cfg.phases[0], Path(run_dir), model, data, data)
        return time.perf_counter() - start, time.process_time() - cpu


def run_mlm_no_trainer(args: argparse.Namespace) -> tuple[float, float]:
    """Wall and CPU seconds for ``args.steps`` updates of transformers' ``run_mlm_no_trainer.py`` loop."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, get_scheduler

    tokenizer, blocks = _blocks(args)
    special = set(tokenizer.all_special_ids)
    blocks = blocks.map(lambda row: {"special_tokens_mask": [int(i in special) for i in row["input_ids"]]})
    accelerator = Accelerator()
    set_seed(0)
    model = BertForMaskedLM(BertConfig(**MODEL, vocab_size=args.vocab_size))
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    loader = DataLoader(blocks, shuffle=True, collate_fn=collator, batch_size=args.batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    scheduler = get_scheduler(
        "linear", optimizer, num_warmup_steps=0, num_training_steps=args.steps * accelerator.num_processes
    )
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    model.train()
    start, cpu = time.perf_counter(), time.process_time()
    completed = 0
    while completed < args.steps:
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if accelerator.sync_gradients:
                completed += 1
            if completed >= args.steps:
                break
    return time.perf_counter() - start, time.process_time() - cpu


def measure(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    run = {"pretrain_bert": run_pretrain_bert, "run_mlm_no_trainer": run_mlm_no_trainer}[args.impl]
    seconds, cpu_seconds = run(args)
    tokens = args.steps * args.batch * args.seq
    print(
        json.dumps(
            {
                "impl": args.impl,
                "vocab_size": args.vocab_size,
                "seconds": seconds,
                "tokens_per_s": tokens / seconds,
                "tokens_per_cpu_s": tokens / cpu_seconds,
                "peak_mb": _peak_memory_mb(),
            }
        )
    )


def drive(args: argparse.Namespace) -> None:
    rows = []
    for vocab_size in args.vocab_sizes:
        results: dict[str, list[dict]] = {impl: [] for impl in IMPLEMENTATIONS}
        for _ in range(args.repeats):
            for impl in IMPLEMENTATIONS:
                command = [
                    sys.executable,
                    __file__,
                    "--impl",
                    impl,
                    "--vocab-size",
                    str(vocab_size),
                    "--steps",
                    str(args.steps),
                    "--batch",
                    str(args.batch),
                    "--seq",
                    str(args.seq),
                    "--data",
                    args.data,
                    "--cache",
                    args.cache,
                ]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                results[impl].append(json.loads(out.strip().splitlines()[-1]))
        for impl in IMPLEMENTATIONS:
            runs = results[impl]
            rows.append(
                (
                    vocab_size,
                    impl,
                    statistics.median(r["tokens_per_s"] for r in runs),
                    min(r["tokens_per_s"] for r in runs),
                    max(r["tokens_per_s"] for r in runs),
                    statistics.median(r["tokens_per_cpu_s"] for r in runs),
                    statistics.median(r["peak_mb"] for r in runs),
                )
            )
    print(
        f"tiny BERT (h128, 2 layers), seq {args.seq}, batch {args.batch}, {args.steps} updates, "
        f"median of {args.repeats}; torch threads {torch.get_num_threads()}\n"
    )
    print(
        "| vocab | implementation | tokens/s wall (median) | min - max | tokens per CPU-second | peak RSS (MiB) |"
    )
    print("|---|---|---|---|---|---|")
    for vocab_size, impl, median, low, high, per_cpu, peak in rows:
        print(
            f"| {vocab_size} | {impl} | {median:,.0f} | {low:,.0f} - {high:,.0f} | {per_cpu:,.0f} | {peak:,.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a plain-text training file")
    parser.add_argument(
        "--cache", default=str(Path(tempfile.gettempdir()) / "knee-nlp-bench"), help="tokenized-data cache"
    )
    parser.add_argument(
        "--impl", choices=IMPLEMENTATIONS, help="measure one implementation (used by the driver)"
    )
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[1024, 30522])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.impl:
        measure(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()
