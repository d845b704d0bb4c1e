"""The sweep directory: ``sweep.json`` manifest, one directory per run, resumption.

A sweep directory is created with its settings written to ``sweep.json`` (backend, everything
that changes a run's results, sharpness settings). A later call with the same settings adds or
resumes runs; with other settings it is refused, nothing is overwritten. Explore ratios and
seeds are not part of the settings: any subset can be run, in any number of calls, and the
report covers every finished run. A run is finished when its ``result.json`` exists; before
that, each step (train, score, sharpness) is resumed or skipped by its own output file.

Several processes may work on one sweep directory at once, for example one per CPU core, each
with its own ``--seeds`` (or the same ones): a process locks the run it computes and skips runs
locked by another one, and takes the sweep directory's lock in turn for the manifest, the shared
data and the report (:mod:`knee_nlp.run_lock`).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from knee_nlp.atomic import write_text_atomic
from knee_nlp.errors import RunFailedError
from knee_nlp.run_lock import DirectoryLockError, holds_other_files, locked
from knee_nlp.state_files import read_json
from knee_nlp.sweep.backend import Backend, SharpnessSettings
from knee_nlp.sweep.report import RECOMMENDATION, ratio_label, write_report

MANIFEST = "sweep.json"
#: a run's last attempt failed (the error); retried by every later call, removed once it finishes
FAILED = "failed.json"
FORMAT = 1
#: the way out of a damaged state file (knee_nlp.state_files)
DAMAGED_MANIFEST = "it records the sweep's settings: restore it, or start a new --sweep-dir"
DAMAGED_STEP = "delete it and run the same knee-nlp sweep-explore command again to redo that step"


class SweepRunsFailed(RunFailedError, RuntimeError):
    """Some runs of this call failed (the others finished and are reported): exit status 1."""


def run_name(explore_ratio: float, seed: int) -> str:
    """``explore0.25-seed3``: the ratio's :func:`~knee_nlp.sweep.report.ratio_label` (two ratios
    never share a run).

    >>> run_name(0.25, 3), run_name(0.1234561, 1)
    ('explore0.25-seed3', 'explore0.1234561-seed1')
    """
    return f"explore{ratio_label(explore_ratio)}-seed{seed}"


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [line for key in sorted(set(old) | set(new))
                for line in _differences(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def open_sweep(sweep_dir: Path, backend: Backend, sharpness: SharpnessSettings) -> dict[str, Any]:
    """Create ``sweep_dir`` with its manifest, or check that an existing one has the same settings."""
    settings = _plain({"format": FORMAT, "backend": backend.name, "backend_settings": backend.settings(),
                       "sharpness": asdict(sharpness)})
    path = sweep_dir / MANIFEST
    if path.is_file():
        manifest = read_json(path, DAMAGED_MANIFEST)
        changes = _differences(manifest["settings"], settings)
        if changes:
            raise ValueError(
                f"--sweep-dir {sweep_dir} was started with other settings; refusing to mix runs "
                f"(use a new --sweep-dir, or the original settings):\n  " + "\n  ".join(changes)
            )
        return manifest
    if holds_other_files(sweep_dir):
        raise ValueError(f"--sweep-dir {sweep_dir} exists, is not empty and has no {MANIFEST}: not a sweep directory")
    manifest = {
        "settings": settings,
        "backend": {"name": backend.name, "score_name": backend.score_name, "score_format": backend.score_format},
        "paths": backend.paths() if hasattr(backend, "paths") else {},
        "data": backend.describe_data(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(path, json.dumps(manifest, indent=1) + "\n")
    return manifest


def load_manifest(sweep_dir: Path) -> dict[str, Any]:
    path = sweep_dir / MANIFEST
    if not path.is_file():
        raise ValueError(f"--sweep-dir {sweep_dir} has no {MANIFEST}: not a sweep directory")
    return read_json(path, DAMAGED_MANIFEST)


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """SHA-256 of a sweep's settings: each ``result.json`` carries the one it was computed with."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def load_results(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every finished run's ``result.json`` under ``sweep_dir/runs``: each in the folder its
    explore ratio and seed name, computed with this sweep's settings (runs copied in from another
    sweep directory of the same settings count; a copy under another name, or from other settings,
    is refused), with finite scores."""
    fingerprint = settings_fingerprint(load_manifest(sweep_dir)["settings"])
    results = []
    for path in sorted((sweep_dir / "runs").glob("*/result.json")):
        result = read_json(path, DAMAGED_STEP)
        if result.get("settings_sha256", fingerprint) != fingerprint:  # runs of format 1 predate it
            raise ValueError(f"{path} was computed by a sweep with other settings than {sweep_dir / MANIFEST}: "
                             "it cannot be compared with these runs; remove it")
        expected = run_name(result["explore_ratio"], result["seed"])
        if path.parent.name != expected:
            raise ValueError(f"{path} is the result of {expected} but lies in {path.parent.name}/: a "
                             f"copied or renamed run would be counted twice; move it to runs/{expected}/")
        bad = [metric for metric in ("validation", "test", "sharpness")
               if not isinstance(result[metric], (int, float)) or not math.isfinite(result[metric])]
        if bad:
            raise ValueError(f"{path}: {', '.join(bad)} is not a finite number "
                             f"({', '.join(repr(result[m]) for m in bad)}); {DAMAGED_STEP}")
        results.append(result)
    return results


def load_failures(sweep_dir: Path) -> list[dict[str, Any]]:
    """The ``failed.json`` of every run that failed in its last attempt and has not finished since."""
    return [read_json(path, DAMAGED_STEP) for path in sorted((sweep_dir / "runs").glob(f"*/{FAILED}"))
            if not (path.parent / "result.json").is_file()]


def report(sweep_dir: Path, backend: str) -> dict[str, Any] | None:
    """Rewrite the report of a ``backend`` sweep from its finished (and failed) runs; return the
    recommendation."""
    manifest = load_manifest(sweep_dir)
    if manifest["settings"]["backend"] != backend:
        raise ValueError(f"--sweep-dir {sweep_dir} holds a {manifest['settings']['backend']} sweep, not a "
                         f"{backend} one: run knee-nlp sweep-explore {manifest['settings']['backend']} --report-only")
    return write_report(sweep_dir, manifest, load_results(sweep_dir), load_failures(sweep_dir))


def _json(path: Path) -> dict[str, Any] | None:
    return read_json(path, DAMAGED_STEP) if path.is_file() else None


def run_one(sweep_dir: Path, backend: Backend, sharpness: SharpnessSettings, explore_ratio: float,
            seed: int, log: Callable[[str], None], fingerprint: str) -> tuple[dict[str, Any], bool]:
    """Train, score and measure one run (each step skipped if done); return its result and whether
    anything was computed."""
    run_dir = sweep_dir / "runs" / run_name(explore_ratio, seed)
    done = _json(run_dir / "result.json")
    if done is not None:
        return done, False
    with locked(run_dir):  # another worker computing this run: DirectoryLockError
        done = _json(run_dir / "result.json")  # finished while this worker waited for the lock
        if done is not None:
            return done, False
        return _compute(run_dir, backend, sharpness, explore_ratio, seed, log, fingerprint), True


def _compute(run_dir: Path, backend: Backend, sharpness: SharpnessSettings, explore_ratio: float,
             seed: int, log: Callable[[str], None], fingerprint: str) -> dict[str, Any]:
    started = time.perf_counter()
    if not backend.is_trained(run_dir):
        log(f"{run_dir.name}: training")
        backend.train(run_dir, explore_ratio, seed)
    scores = _json(run_dir / "scores.json")
    if scores is None:
        log(f"{run_dir.name}: validation and test scores")
        result = backend.score(run_dir)
        scores = {"validation": result.validation, "test": result.test, **result.extra}
        write_text_atomic(run_dir / "scores.json", json.dumps(scores, indent=1) + "\n")
    measured = _json(run_dir / "sharpness.json")
    if measured is None:
        log(f"{run_dir.name}: sharpness ({sharpness.steps} steps x {sharpness.batches} batches)")
        measured = backend.sharpness(run_dir, sharpness)
        write_text_atomic(run_dir / "sharpness.json", json.dumps(measured, indent=1) + "\n")
    record = {"run": run_dir.name, "explore_ratio": explore_ratio, "seed": seed,
              "validation": scores["validation"], "test": scores["test"], "sharpness": measured["value"],
              "scores": scores, "sharpness_detail": measured, "settings_sha256": fingerprint,
              "seconds_this_call": round(time.perf_counter() - started, 1)}
    write_text_atomic(run_dir / "result.json", json.dumps(record, indent=1) + "\n")
    return record


def run_sweep(sweep_dir: Path, backend: Backend, explore_ratios: Sequence[float], seeds: Sequence[int],
              sharpness: SharpnessSettings, log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Run every (ratio, seed) not yet finished, seed by seed (so partial results stay balanced),
    rewriting the report after each; return the final recommendation. Every ratio is checked
    against the backend's schedule before the first run (after :meth:`Backend.prepare`, since a
    budget in updates may depend on the prepared data). A run that another process is computing
    is skipped (see the module docstring)."""
    with locked(sweep_dir, wait=True):
        manifest = open_sweep(sweep_dir, backend, sharpness)
        backend.prepare(sweep_dir)
    for ratio in explore_ratios:
        backend.check_ratio(ratio)
    jobs = [(ratio, seed) for seed in seeds for ratio in explore_ratios]
    fingerprint = settings_fingerprint(manifest["settings"])
    recommendation, elsewhere, failed = None, [], []
    for index, (ratio, seed) in enumerate(jobs, 1):
        name = run_name(ratio, seed)
        try:
            record, computed = run_one(sweep_dir, backend, sharpness, ratio, seed, log, fingerprint)
        except DirectoryLockError as busy:
            if busy.holder is None:
                raise
            elsewhere.append(name)
            log(f"[{index}/{len(jobs)}] {name} skipped: being computed by {busy.holder}")
            continue
        except RunFailedError as error:  # e.g. a diverged training: the other runs go on
            failed.append(name)
            log(f"[{index}/{len(jobs)}] {name} FAILED: {error}")
            write_text_atomic(sweep_dir / "runs" / name / FAILED, json.dumps(
                {"run": name, "explore_ratio": ratio, "seed": seed, "error": str(error),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1) + "\n")
            computed = True
        else:
            (sweep_dir / "runs" / name / FAILED).unlink(missing_ok=True)
            state = "finished" if computed else "already done"
            log(f"[{index}/{len(jobs)}] {name} {state}: validation {record['validation']:.4f}, "
                f"test {record['test']:.4f}, sharpness {record['sharpness']:.4g}")
        if computed or not (sweep_dir / "results.json").is_file():
            with locked(sweep_dir, wait=True):
                recommendation = write_report(sweep_dir, manifest, load_results(sweep_dir),
                                              load_failures(sweep_dir))
    if elsewhere:
        log(f"left to the process(es) computing them: {' '.join(elsewhere)}; each rewrites the report "
            "when it finishes")
    if failed:
        raise SweepRunsFailed(f"{len(failed)} run(s) failed: {' '.join(failed)} (each run's {FAILED} "
                              "holds the error; the report lists them and covers the finished runs); "
                              "run the same command again to retry them")
    return recommendation if recommendation is not None else _json(sweep_dir / RECOMMENDATION)
