"""kill -9 a ``knee-nlp reproduce`` at random moments, re-run it each time, compare the result.

1. **Reference.** ``knee-nlp reproduce iwslt14 --preset tiny`` (inverse-sqrt and Knee, 300 updates
   each, on the built-in synthetic corpus) runs once, uninterrupted; its wall time ``T`` is noted.
2. **Interrupted.** The same command in another run directory is killed with SIGKILL ``--kills``
   times, each time after a random delay drawn uniformly from ``[--min-delay, T / 3]`` seconds
   after its start, and started again; the last start runs to the end. After every kill the
   script checks that no ``fairseq-train``/``fairseq-generate`` child of the killed command is
   left running, and notes where the run was (its last output line).
3. **Compare.** Every run's test scores, LR curve and validation-loss curve must equal the
   reference's; the script prints a Markdown summary (one row per kill) and exits 1 if any kill
   orphaned a child, any start failed, or any number differs.

Every kill, both runs' results and the provenance (date, code revision, command, machine) go to
``--output`` (``results.json``, ``results.md``; default ``bench/results/kill-resume/``, never
replaced without ``--overwrite``), also when a kill or the comparison failed.

Usage::

    python bench/kill_resume.py --kills 10 --seed 1 --work /tmp/kill-resume
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from evidence import (add_output_arguments, check_output, provenance, provenance_markdown,
                      run_settings, write_results)
from knee_nlp.child_process import is_running, running_children

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "knee_nlp", "reproduce", "iwslt14", "--preset", "tiny",
            "--run-dir", str(run_dir)]


def last_line(path: Path) -> str:
    """The last progress or status line of a run's output (tqdm redraws with carriage returns)."""
    text = path.read_text(errors="replace").replace("\r", "\n")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(no output yet)"
    bar = re.match(r"(\S+):\s+\d+%\|.*\| (\d+/\d+) ", lines[-1])
    return f"{bar[1]} training, update {bar[2]}" if bar else lines[-1][:90].replace("|", "/")


def kill_once(run_dir: Path, delay: float, log: Path) -> dict:
    """Start the command, SIGKILL it after ``delay`` seconds (unless it ended first)."""
    with open(log, "w") as sink:
        process = subprocess.Popen(command(run_dir), stdout=sink, stderr=subprocess.STDOUT,
                                   env=ENV)
    started = time.monotonic()
    try:
        process.wait(timeout=delay)
        return {"delay_s": round(delay, 1), "killed": False, "returncode": process.returncode,
                "where": last_line(log), "orphans": []}
    except subprocess.TimeoutExpired:
        pass
    kids = running_children(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(map(is_running, kids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"delay_s": round(time.monotonic() - started, 1), "killed": True,
            "returncode": process.returncode, "where": last_line(log),
            "children": len(kids), "orphans": [pid for pid in kids if is_running(pid)]}


def finish(run_dir: Path, log: Path) -> tuple[int, float]:
    started = time.monotonic()
    with open(log, "w") as sink:
        returncode = subprocess.run(command(run_dir), stdout=sink, stderr=subprocess.STDOUT,
                                    env=ENV).returncode
    return returncode, time.monotonic() - started


def results(run_dir: Path) -> dict[str, dict]:
    return {path.parent.name: json.loads(path.read_text())
            for path in sorted((run_dir / "runs").glob("*/result.json"))}


def compare(reference: dict[str, dict], resumed: dict[str, dict]) -> list[str]:
    """What differs between the two runs' results (empty: nothing)."""
    problems = [f"runs differ: {sorted(reference)} vs {sorted(resumed)}"] if reference.keys() != resumed.keys() else []
    for name in reference.keys() & resumed.keys():
        for key in ("test",):
            if reference[name][key] != resumed[name][key]:
                problems.append(f"{name}: {key} {reference[name][key]} != {resumed[name][key]}")
        for curve in ("lr", "valid_loss"):
            if reference[name]["curves"][curve] != resumed[name]["curves"][curve]:
                problems.append(f"{name}: {curve} curve differs")
    return problems


def markdown(results: dict[str, Any]) -> str:
    """The summary of ``results``: one row per kill, then each run's score and resumes."""
    settings = results["settings"]
    lines = [f"reference run: {results['reference_s']:.0f} s; kills after "
             f"U[{settings['min_delay']:g}, {results['max_delay_s']:.0f}] s (seed "
             f"{settings['seed']}); final start: {results['final_s']:.0f} s\n",
             "| kill | after (s) | killed | fairseq children | left running | where the run was |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {index} | {row['delay_s']:.1f} | {'yes' if row['killed'] else 'ended first'} "
              f"| {row.get('children', 0)} | {len(row['orphans'])} | {row['where']} |"
              for index, row in enumerate(results["kills"], 1)]
    lines.append("")
    reference = results["reference"]
    for name, result in results["resumed"].items():
        starts = ", ".join(f"{entry['checkpoint']}@{entry['updates']}"
                           for entry in result.get("resumes", [])) or "none"
        expected = reference.get(name, {}).get("test", {}).get("bleu_tokenized")
        lines.append(f"- {name}: test BLEU {result['test']['bleu_tokenized']} (reference "
                     f"{expected}), resumed from: {starts}")
    problems = results["problems"]
    lines.append("\n" + ("all kills resumed to the reference result" if not problems
                          else "PROBLEMS:\n" + "\n".join(problems)))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-delay", type=float, default=3.0)
    parser.add_argument("--work", type=Path, required=True, help="an empty or new folder")
    add_output_arguments(parser, "kill-resume")
    args = parser.parse_args()
    check_output(parser, args)
    record = provenance()
    rng = random.Random(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)

    code, reference_s = finish(args.work / "reference", args.work / "reference.out")
    if code != 0:
        print(f"the reference run failed ({code}); see {args.work / 'reference.out'}")
        return 1
    rows = []
    for index in range(args.kills):
        delay = rng.uniform(args.min_delay, reference_s / 3)
        rows.append(kill_once(args.work / "interrupted", delay, args.work / f"kill{index}.out"))
    code, final_s = finish(args.work / "interrupted", args.work / "final.out")
    reference, resumed = results(args.work / "reference"), results(args.work / "interrupted")
    problems = compare(reference, resumed) if code == 0 else [f"the final start failed ({code})"]
    problems += [f"kill {i}: orphaned {row['orphans']}" for i, row in enumerate(rows) if row["orphans"]]

    report = {
        "provenance": record, "settings": run_settings(args),
        "reference_s": round(reference_s, 1), "max_delay_s": round(reference_s / 3, 1),
        "kills": rows, "final_s": round(final_s, 1), "final_returncode": code,
        "reference": reference, "resumed": resumed,  # each run's result.json
        "problems": problems, "all_resumed_to_reference": not problems,
    }
    summary = markdown(report)
    print(summary)
    write_results(args.output, report,
                  f"# Kill -9 and resume\n\n{provenance_markdown(record)}\n{summary}",
                  overwrite=args.overwrite)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
