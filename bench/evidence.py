"""The real-data evidence: Multi30k translation and tiny BERT pretraining, several seeds.

Each grid runs through the product's own commands (``knee-nlp reproduce`` and the BERT
launcher), so a result here is what a user gets. Everything resumes: re-running the same command
skips finished runs and continues unfinished ones, and any subset can be run (``--seeds``,
``--stage``). After every finished run the run set's summary is rewritten under
``bench/results/<grid>/`` (``results.json`` with per-seed numbers, ``results.md``, plots), which is
what gets committed; checkpoints stay in the work directory (``bench/runs/``, not versioned).
Seeds trained elsewhere (another machine, a run directory since deleted) join the table with
``knee-nlp report --combine``.

The other benchmark scripts (``bench_scheduler_cost.py``, ``kill_resume.py``,
``bench_pretrain_bert.py``) record their results with this module's :func:`provenance`,
:func:`add_output_arguments`, :func:`check_output` and :func:`write_results`.

Usage::

    # Multi30k, cpu preset: inverse_sqrt and knee-50% at 100% and 60% budgets, seeds 1-3 (required),
    # then linear, cosine and knee-tuned at 100% (extra)
    python bench/evidence.py multi30k --data-dir multi30k.de-en --stage required
    python bench/evidence.py multi30k --data-dir multi30k.de-en --stage extra --seeds 1
    knee-nlp report --combine bench/results/multi30k-cpu other/results.json --output combined
    # tiny BERT on WikiText-2: knee vs linear at the full budget and at 2/3 of it, seeds 1-3
    python bench/evidence.py bert --train-file wikitext-2/tokens/test.txt \\
        --validation-file wikitext-2/tokens/valid.txt
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

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
#: what a benchmark script writes into its ``--output``
RESULT_FILES = ("results.json", "results.md")


def _run(argv: list[str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(BENCH), *args], capture_output=True,
                          text=True).stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _load_average() -> list[float]:
    return [round(load, 2) for load in os.getloadavg()]


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict[str, Any]:
    """When, by which code and command, on what machine a result set was (last) written.

    ``code_changes`` lists the tracked files that differ from ``code_revision`` (``code_dirty``);
    ``load_average`` is the machine's 1/5/15-minute load when this is called.
    """
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(BENCH.parent) if script.is_relative_to(BENCH.parent) else script
    changes = _git("diff", "--name-only", "HEAD").splitlines()
    cpu_model = _cpu_model()
    return {"date": datetime.date.today().isoformat(), "time": _now(),
            "code_revision": _git("rev-parse", "--short", "HEAD") or "unknown",
            "code_dirty": bool(changes), "code_changes": changes,
            "command": shlex.join(["python", str(shown), *sys.argv[1:]]),
            "machine": f"{cpu_model}, {os.cpu_count()} CPUs, "
                       f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "cpu_model": cpu_model, "cpu_count": os.cpu_count(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "nice": os.nice(0),
            "load_average": _load_average(),
            "python": platform.python_version(), "torch": _torch_version(),
            "platform": platform.platform()}


def provenance_markdown(record: dict[str, Any]) -> str:
    """A few lines saying when, how and where a result set was measured (for results.md)."""
    revision = record["code_revision"] + (
        f" plus uncommitted changes to {', '.join(record['code_changes'])}"
        if record["code_dirty"] else "")
    return (f"Measured {record['time']} at code revision {revision}.\n\n"
            f"Command: `{record['command']}`\n\n"
            f"Machine: {record['machine']}, nice {record['nice']}, torch {record['torch']}, "
            f"Python {record['python']}; load average {record['load_average']} at the start.\n")


def add_output_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--output DIR`` (default ``bench/results/<name>``) and ``--overwrite``."""
    parser.add_argument("--output", type=Path, default=BENCH / "results" / name,
                        help=f"where results.json and results.md go (default: "
                             f"bench/results/{name})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace results already in --output (refused otherwise)")


def check_output(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop before measuring if ``args.output`` already holds results and ``--overwrite`` is off."""
    existing = [args.output / name for name in RESULT_FILES if (args.output / name).exists()]
    if existing and not args.overwrite:
        parser.error(f"{existing[0]} exists; pass --overwrite to replace it, or another --output")


def run_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed arguments of a benchmark, JSON-ready, without ``--output``/``--overwrite``."""
    return {key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items() if key not in ("output", "overwrite")}


def write_results(output: Path, results: dict[str, Any], markdown: str, *,
                  overwrite: bool) -> None:
    """Write ``results.json`` (plus when it finished and the load then) and ``results.md``.

    Without ``overwrite`` an existing file is never replaced (``FileExistsError``).
    """
    output.mkdir(parents=True, exist_ok=True)
    results = {**results, "finished": {"time": _now(), "load_average": _load_average()}}
    mode = "w" if overwrite else "x"
    with open(output / "results.json", mode) as sink:
        sink.write(json.dumps(results, indent=1) + "\n")
    with open(output / "results.md", mode) as sink:
        sink.write(markdown)
    print(f"wrote {output / 'results.json'} and results.md", file=sys.stderr)


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
