"""The real-data evidence: Multi30k translation and tiny BERT pretraining, several seeds.

Each grid runs through the product's own commands (``knee-nlp reproduce`` and the BERT
launcher), so a result here is what a user gets. Everything resumes: re-running the same command
skips finished runs and continues unfinished ones, and any subset can be run (``--seeds``,
``--stage``). After every finished run the run set's summary is rewritten under
``bench/results/<grid>/`` (``results.json`` with per-seed numbers, ``results.md``, plots), which is
what gets committed; checkpoints stay in the work directory (``bench/runs/``, not versioned).

Usage::

    # Multi30k, cpu preset: inverse_sqrt and knee-50% at 100% and 60% budgets, seeds 1-3 (required),
    # then linear, cosine and knee-tuned at 100% (extra)
    python bench/evidence.py multi30k --data-dir multi30k.de-en --stage required
    python bench/evidence.py multi30k --data-dir multi30k.de-en --stage extra --seeds 1
    # tiny BERT on WikiText-2: knee vs linear at the full budget and at 2/3 of it, seeds 1-3
    python bench/evidence.py bert --train-file wikitext-2/tokens/test.txt \\
        --validation-file wikitext-2/tokens/valid.txt
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: Multi30k stages: (schedules, budgets) of the cpu preset, in the order they are run
MULTI30K_STAGES = {
    "required": (("inverse_sqrt", "knee_explore50"), ("5ep", "3ep")),
    "extra": (("linear", "cosine", "knee"), ("5ep",)),
}
#: tiny BERT budgets: name -> (phase-1 updates, phase-2 updates); "short" is the paper's 2/3
BERT_BUDGETS = {"full": (300, 60), "short": (200, 40)}
BERT_SCHEDULES = ("knee", "linear")
REPORT_FILES = ("results.json", "results.md", "*.png")


def _run(argv: list[str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def provenance() -> dict[str, str]:
    """When, by which code and command, on what machine a result set was (last) written."""
    revision = subprocess.run(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    return {"date": datetime.date.today().isoformat(), "code_revision": revision or "unknown",
            "command": " ".join(["python", "bench/evidence.py", *sys.argv[1:]]),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
                       f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"}


def publish(run_dir: Path, results_dir: Path) -> None:
    """Copy the report of ``run_dir`` (results.json/md and plots) into ``results_dir``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    for pattern in REPORT_FILES:
        for path in run_dir.glob(pattern):
            shutil.copy2(path, results_dir / path.name)
    (results_dir / "provenance.json").write_text(json.dumps(provenance(), indent=1) + "\n")


def multi30k(args: argparse.Namespace) -> None:
    """One ``knee-nlp reproduce`` call per seed and stage, so each finished seed is published."""
    run_dir = args.work_dir / "multi30k-cpu"
    results_dir = args.results_dir / "multi30k-cpu"
    stages = list(MULTI30K_STAGES) if args.stage == "all" else [args.stage]
    for stage in stages:
        schedules, budgets = MULTI30K_STAGES[stage]
        for seed in args.seeds:
            _run(["knee-nlp", "reproduce", "multi30k", "--preset", "cpu", "--data-dir",
                  str(args.data_dir), "--run-dir", str(run_dir), "--schedules", *schedules,
                  "--budgets", *budgets, "--seeds", str(seed)])
            publish(run_dir, results_dir)


def _final_metrics(run_dir: Path) -> dict[str, float]:
    """The last held-out loss and MLM accuracy of each phase, from the run's metrics.jsonl."""
    final: dict[str, float] = {}
    for path in sorted(run_dir.rglob("metrics.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            final.update({key: value for key, value in record.items()
                          if key.endswith(("/eval_loss", "/eval_mlm_accuracy"))})
    return final


def _spread(values: list[float]) -> dict[str, float | int]:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def bert_summary(runs: list[dict]) -> dict[str, dict]:
    """Mean ± sd per (budget, schedule) over seeds, for every final metric."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(f"{run['budget']}/{run['schedule']}", []).append(run)
    return {key: {metric: _spread([r["metrics"][metric] for r in members])
                  for metric in members[0]["metrics"]} | {"seeds": [r["seed"] for r in members]}
            for key, members in sorted(groups.items())}


def _bert_markdown(summary: dict[str, dict]) -> str:
    lines = ["| budget / schedule | seeds | phase-1 held-out loss | phase-1 accuracy | "
             "final held-out loss | final accuracy |", "|---|---|---|---|---|---|"]
    for key, row in summary.items():
        cells = [f"{row[m]['mean']:.3f} ± {row[m]['std']:.3f}" if "loss" in m
                 else f"{100 * row[m]['mean']:.2f}% ± {100 * row[m]['std']:.2f}"
                 for m in ("phase1/eval_loss", "phase1/eval_mlm_accuracy",
                           "phase2/eval_loss", "phase2/eval_mlm_accuracy")]
        lines.append(f"| {key} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def bert(args: argparse.Namespace) -> None:
    """Each seed x budget x schedule in its own run dir; the summary is rewritten after each."""
    results_dir = args.results_dir / "bert-tiny"
    results_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        for budget, (phase1, phase2) in BERT_BUDGETS.items():
            for schedule in BERT_SCHEDULES:
                run_dir = args.work_dir / "bert-tiny" / f"{schedule}-{budget}-seed{seed}"
                if not (run_dir / "phase2" / "final" / "config.json").is_file():
                    _run([sys.executable, "-m", "hf_integration.pretrain_bert", "--config",
                          str(args.config), f"seed={seed}", f"schedule={schedule}",
                          f"run_dir={run_dir}", f"phases.0.total_steps={phase1}",
                          f"phases.1.total_steps={phase2}",
                          f"data.train_files=[{args.train_file}]",
                          f"data.validation_files=[{args.validation_file}]"])
                runs.append({"seed": seed, "budget": budget, "schedule": schedule,
                             "updates": [phase1, phase2], "metrics": _final_metrics(run_dir)})
                summary = bert_summary(runs)
                (results_dir / "results.json").write_text(json.dumps(
                    {**provenance(), "config": str(args.config), "train_file": str(args.train_file),
                     "validation_file": str(args.validation_file), "runs": runs,
                     "summary": summary}, indent=1) + "\n")
                (results_dir / "results.md").write_text(_bert_markdown(summary))


def main(argv: list[str] | None = None) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--work-dir", type=Path, default=BENCH / "runs",
                        help="run directories with checkpoints (default: bench/runs)")
    common.add_argument("--results-dir", type=Path, default=BENCH / "results",
                        help="where the committed summaries go (default: bench/results)")
    common.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    grids = parser.add_subparsers(dest="grid", required=True)
    m30k = grids.add_parser("multi30k", parents=[common],
                            help="Multi30k cpu preset via knee-nlp reproduce")
    m30k.add_argument("--data-dir", type=Path, required=True,
                      help="output of `knee-nlp data multi30k`")
    m30k.add_argument("--stage", choices=[*MULTI30K_STAGES, "all"], default="all")
    m30k.set_defaults(func=multi30k)
    tiny = grids.add_parser("bert", parents=[common],
                            help="tiny BERT on WikiText-2 via the BERT launcher")
    tiny.add_argument("--train-file", type=Path, required=True)
    tiny.add_argument("--validation-file", type=Path, required=True)
    tiny.add_argument("--config", default="tiny", help="BERT launcher preset or config file")
    tiny.set_defaults(func=bert)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
