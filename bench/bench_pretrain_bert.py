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

Every run's numbers, the medians and the provenance (date, code revision, command, machine) go to
``--output`` (``results.json``, ``results.md``; default ``bench/results/bert-throughput/``, never
replaced without ``--overwrite``); the Markdown table is also printed.

Usage (about 4.5 minutes on an idle 2-core CPU)::

    python bench/bench_pretrain_bert.py --data ../shared/data/wikitext-2/tokens/test.txt \\
        --vocab-sizes 1024 30522 --steps 30 --repeats 3
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
from typing import Any

import torch

from evidence import (add_output_arguments, check_output, provenance, provenance_markdown,
                      run_settings, write_results)

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
                "cpu_seconds": cpu_seconds,
                "tokens_per_s": tokens / seconds,
                "tokens_per_cpu_s": tokens / cpu_seconds,
                "peak_mb": _peak_memory_mb(),
            }
        )
    )


def _child_command(args: argparse.Namespace, impl: str, vocab_size: int) -> list[str]:
    """The fresh subprocess that measures one run of ``impl``."""
    return [sys.executable, __file__, "--impl", impl, "--vocab-size", str(vocab_size),
            "--steps", str(args.steps), "--batch", str(args.batch), "--seq", str(args.seq),
            "--data", args.data, "--cache", args.cache]


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (vocab, implementation): median, min and max tokens/s, medians of the rest."""
    rows = []
    for vocab_size in dict.fromkeys(run["vocab_size"] for run in runs):
        for impl in IMPLEMENTATIONS:
            group = [r for r in runs if r["vocab_size"] == vocab_size and r["impl"] == impl]
            speeds = [r["tokens_per_s"] for r in group]
            rows.append({"vocab_size": vocab_size, "impl": impl, "runs": len(group),
                         "tokens_per_s_median": statistics.median(speeds),
                         "tokens_per_s_min": min(speeds), "tokens_per_s_max": max(speeds),
                         "tokens_per_cpu_s_median":
                             statistics.median(r["tokens_per_cpu_s"] for r in group),
                         "peak_mb_median": statistics.median(r["peak_mb"] for r in group)})
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The table of ``results`` (as quoted in BENCHMARKS.md)."""
    settings = results["settings"]
    lines = [f"tiny BERT (h128, 2 layers), seq {settings['seq']}, batch {settings['batch']}, "
             f"{settings['steps']} updates, median of {settings['repeats']}; torch threads "
             f"{results['torch_threads']}\n",
             "| vocab | implementation | tokens/s wall (median) | min - max | tokens per CPU-second "
             "| peak RSS (MiB) |", "|---|---|---|---|---|---|"]
    lines += [f"| {row['vocab_size']} | {row['impl']} | {row['tokens_per_s_median']:,.0f} | "
              f"{row['tokens_per_s_min']:,.0f} - {row['tokens_per_s_max']:,.0f} | "
              f"{row['tokens_per_cpu_s_median']:,.0f} | {row['peak_mb_median']:,.0f} |"
              for row in results["summary"]]
    return "\n".join(lines) + "\n"


def drive(args: argparse.Namespace) -> None:
    """Alternate the implementations, ``args.repeats`` times per vocabulary; record every run."""
    started, record = time.monotonic(), provenance()
    runs = []
    for vocab_size in args.vocab_sizes:
        for repeat in range(args.repeats):
            for impl in IMPLEMENTATIONS:
                out = subprocess.run(_child_command(args, impl, vocab_size), capture_output=True,
                                     text=True, check=True).stdout
                runs.append({"repeat": repeat, **json.loads(out.strip().splitlines()[-1])})
    results = {
        "provenance": record,
        "settings": {key: value for key, value in run_settings(args).items()
                     if key not in ("impl", "vocab_size")},
        "model": MODEL, "torch_threads": torch.get_num_threads(),
        "runs": runs,  # in the order they ran
        "summary": summarize(runs),
        "wall_s": round(time.monotonic() - started, 1),
    }
    table = markdown(results)
    print(table)
    write_results(args.output, results, "# BERT MLM pretraining: throughput and peak memory\n\n"
                  f"{provenance_markdown(record)}\n{table}", overwrite=args.overwrite)


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
    add_output_arguments(parser, "bert-throughput")
    args = parser.parse_args()
    if args.impl:
        measure(args)
    else:
        check_output(parser, args)
        drive(args)


if __name__ == "__main__":
    main()
