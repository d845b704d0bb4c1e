"""What the Knee schedule costs: per LR update, and end to end in ``fairseq-train``.

1. **Per update, in one process, one run.** The scheduler objects the hosts build themselves:
   fairseq's ``--lr-scheduler knee`` vs its ``inverse_sqrt`` (``build_lr_scheduler`` on the parsed
   ``fairseq-train`` flags, a real Adam, ``step_update(k)``), and
   ``get_knee_schedule_with_warmup`` vs transformers' ``get_linear_schedule_with_warmup``
   (``scheduler.step()`` on a real AdamW). The two sides alternate in rounds; the median
   nanoseconds per update is reported.
2. **End to end.** ``fairseq-train`` on the same binarized data with only the scheduler flags
   changed, knee and inverse_sqrt runs interleaved; words/s is read from fairseq's own log
   (``wps`` of the epoch line) and reported as the knee / inverse_sqrt ratio (target >= 0.99),
   as is the ratio of words per CPU-second of the whole ``fairseq-train`` process (start-up
   included), which other jobs on a shared machine disturb less than wall-clock words/s.

Every measurement (each round, each run), the summary and the provenance (date, code revision,
command, machine) go to ``--output`` (``results.json``, ``results.md``; default
``bench/results/scheduler-cost/``, never replaced without ``--overwrite``); the Markdown is also
printed.

Usage::

    OMP_NUM_THREADS=1 python bench/bench_scheduler_cost.py --data-bin multi30k.de-en/data-bin \\
        --updates 40 --repeats 3
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evidence import (add_output_arguments, check_output, provenance, provenance_markdown,
                      run_settings, write_results)

TOTAL = 100_000
#: the flags every fairseq scheduler shares here; only --lr-scheduler and its own flags differ
FAIRSEQ_SCHEDULES = {
    "knee": ["--lr-scheduler", "knee", "--explore-ratio", "0.5"],
    "inverse_sqrt": ["--lr-scheduler", "inverse_sqrt"],
}


def _fairseq_steppers() -> dict[str, Callable[[int], object]]:
    import fairseq_plugin  # noqa: F401  registers knee
    from fairseq import optim, options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.optim.lr_scheduler import build_lr_scheduler

    steppers = {}
    for name, flags in FAIRSEQ_SCHEDULES.items():
        argv = ["data-bin", "--arch", "transformer", "--optimizer", "adam", "--lr", "5e-4",
                "--warmup-updates", "4000", "--max-update", str(TOTAL), *flags]
        cfg = convert_namespace_to_omegaconf(
            options.parse_args_and_arch(options.get_training_parser(), input_args=argv))
        optimizer = optim.build_optimizer(cfg.optimizer, [torch.nn.Parameter(torch.zeros(2))])
        steppers[f"fairseq {name}"] = build_lr_scheduler(cfg.lr_scheduler, optimizer).step_update
    return steppers


def _hf_steppers() -> dict[str, Callable[[int], object]]:
    from transformers import get_linear_schedule_with_warmup

    from hf_integration import get_knee_schedule_with_warmup

    def stepper(factory: Callable[..., torch.optim.lr_scheduler.LRScheduler]) -> Callable[[int], None]:
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=5e-4)
        scheduler = factory(optimizer, 4000, TOTAL)
        return lambda _step: scheduler.step()

    return {"transformers linear": stepper(get_linear_schedule_with_warmup),
            "hf_integration knee": stepper(get_knee_schedule_with_warmup)}


def per_update_ns(steppers: dict[str, Callable[[int], object]], updates: int,
                  rounds: int) -> dict[str, list[float]]:
    """Nanoseconds per call of each stepper, ``rounds`` alternating rounds of ``updates`` calls."""
    timings: dict[str, list[float]] = {name: [] for name in steppers}
    step = 0
    for _ in range(rounds):
        for name, stepper in steppers.items():
            start = time.perf_counter_ns()
            for k in range(step, step + updates):
                stepper(k)
            timings[name].append((time.perf_counter_ns() - start) / updates)
        step += updates
    return timings


def _epoch_stats(log: str) -> dict[str, float]:
    """fairseq's last ``train`` (epoch) JSON line."""
    for line in reversed(log.splitlines()):
        start = line.find("{")
        if start >= 0 and '"train_wps"' in line:
            return json.loads(line[start:])
    raise RuntimeError("no train_wps line in the fairseq-train log:\n" + log[-2000:])


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train_run(data_bin: Path, schedule: str, updates: int) -> dict[str, float]:
    """One short ``fairseq-train`` run (the Multi30k cpu model): fairseq's words/s, and words per
    CPU-second of the whole process (start-up included; less sensitive to other load)."""
    with tempfile.TemporaryDirectory() as save_dir:
        argv = [sys.executable, "-m", "fairseq_cli.train", str(data_bin), "--cpu",
                "--user-dir", str(Path(__file__).resolve().parents[1] / "fairseq_plugin"),
                "--arch", "transformer", "--encoder-layers", "3", "--decoder-layers", "3",
                "--encoder-embed-dim", "256", "--decoder-embed-dim", "256",
                "--encoder-ffn-embed-dim", "512", "--decoder-ffn-embed-dim", "512",
                "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
                "--share-all-embeddings", "--optimizer", "adam", "--lr", "1e-3",
                "--warmup-updates", str(max(1, updates // 5)), "--max-update", str(updates), "--max-tokens", "4096",
                "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
                "--seed", "1", "--no-save", "--disable-validation", "--num-workers", "0",
                "--log-format", "json", "--save-dir", save_dir, *FAIRSEQ_SCHEDULES[schedule]]
        wall, cpu = time.monotonic(), _children_cpu_s()
        done = subprocess.run(argv, capture_output=True, text=True)
        wall, cpu = time.monotonic() - wall, _children_cpu_s() - cpu
        if done.returncode:
            raise RuntimeError(f"fairseq-train failed ({schedule}):\n{done.stderr[-3000:]}")
        stats = _epoch_stats(done.stdout + done.stderr)
        words = float(stats["train_wpb"]) * float(stats["train_num_updates"])
        return {"words_per_s": float(stats["train_wps"]), "words": words, "wall_s": wall,
                "cpu_s": cpu, "words_per_cpu_s": words / cpu}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def markdown(results: dict[str, Any]) -> str:
    """The tables of ``results`` (as quoted in BENCHMARKS.md)."""
    settings, summary = results["settings"], results["summary"]
    lines = [f"torch {results['provenance']['torch']}, torch threads {results['torch_threads']}; "
             f"{settings['rounds']} rounds x {settings['calls']} calls, alternating\n",
             "| scheduler | ns per update (median) | min - max |", "|---|---|---|"]
    lines += [f"| {name} | {row['median']:,.0f} | {row['min']:,.0f} - {row['max']:,.0f} |"
              for name, row in summary["ns_per_update"].items()]
    lines += [f"\nfairseq-train, {settings['updates']} updates per run, {settings['repeats']} "
              "interleaved runs per schedule\n",
              "| schedule | words/s (median) | runs | words per CPU-second (median) | runs |",
              "|---|---|---|---|---|"]
    for name, runs in results["fairseq_train_runs"].items():
        cells = [f"{summary[key][name]['median']:,.0f} | "
                 + ", ".join(f"{run[key]:,.0f}" for run in runs)
                 for key in ("words_per_s", "words_per_cpu_s")]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines.append(f"\nknee / inverse_sqrt: words/s {summary['wps_ratio_knee_to_inverse_sqrt']:.3f}, "
                 f"words per CPU-second {summary['cpu_ratio_knee_to_inverse_sqrt']:.3f} "
                 "(target >= 0.99)")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-bin", type=Path, required=True,
                        help="a fairseq data-bin (e.g. the output of `knee-nlp data multi30k`)")
    parser.add_argument("--calls", type=int, default=20_000, help="scheduler calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--updates", type=int, default=60, help="updates per fairseq-train run")
    parser.add_argument("--repeats", type=int, default=3, help="fairseq-train runs per schedule")
    add_output_arguments(parser, "scheduler-cost")
    args = parser.parse_args(argv)
    check_output(parser, args)
    started, record = time.monotonic(), provenance()

    timings = per_update_ns({**_fairseq_steppers(), **_hf_steppers()}, args.calls, args.rounds)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in FAIRSEQ_SCHEDULES}
    for _ in range(args.repeats):
        for name in FAIRSEQ_SCHEDULES:
            runs[name].append(train_run(args.data_bin, name, args.updates))
    spread = {key: {name: _spread([run[key] for run in group]) for name, group in runs.items()}
              for key in ("words_per_s", "words_per_cpu_s")}
    results = {
        "provenance": record,
        "settings": {**run_settings(args), "schedule_total_updates": TOTAL},
        "torch_threads": torch.get_num_threads(),
        "ns_per_update": timings,  # scheduler -> one value per round
        "fairseq_train_runs": runs,  # schedule -> one record per fairseq-train run, in run order
        "summary": {
            "ns_per_update": {name: _spread(values) for name, values in timings.items()},
            **spread,
            "wps_ratio_knee_to_inverse_sqrt": spread["words_per_s"]["knee"]["median"]
            / spread["words_per_s"]["inverse_sqrt"]["median"],
            "cpu_ratio_knee_to_inverse_sqrt": spread["words_per_cpu_s"]["knee"]["median"]
            / spread["words_per_cpu_s"]["inverse_sqrt"]["median"],
        },
        "wall_s": round(time.monotonic() - started, 1),
    }
    table = markdown(results)
    print(table)
    write_results(args.output, results,
                  f"# What the Knee schedule costs\n\n{provenance_markdown(record)}\n{table}",
                  overwrite=args.overwrite)


if __name__ == "__main__":
    main()
