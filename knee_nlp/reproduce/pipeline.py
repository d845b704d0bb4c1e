"""``knee-nlp reproduce`` end to end: configs -> data -> plans -> runs -> report.

Everything that can be checked is checked before the first update: config names, devices and
precision, the data folder and language pair, every Knee schedule against its budget in
updates, and that the run directory belongs to the same experiment, preset and data.

Example::

    request = Request(experiment="iwslt14", preset="tiny", run_dir=Path("runs/tiny"))
    report_dir = reproduce(request)      # runs/tiny/results.md, results.json, *.png
"""

from __future__ import annotations

import json
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

from knee_nlp.atomic import write_text_atomic
from knee_nlp.budget import updates_for_epochs
from knee_nlp.errors import UserError
from knee_nlp.reproduce.fairseq_commands import (dry_count_argv, generate_command, scale_batching,
                                         train_command)
from knee_nlp.reproduce.config import (SCHEDULES, ConfigError, ExperimentSpec, RunConfig,
                                       knee_schedule, load_experiment, load_run_config)
from knee_nlp.reproduce.datasets import DataSource, data_origin, resolve_data
from knee_nlp.reproduce.epochs import count_epoch_updates
from knee_nlp.reproduce.explore import TUNED_SCHEDULE, ExploreChoice, with_explore
from knee_nlp.reproduce.layout import MANIFEST, read_state, run_directory
from knee_nlp.reproduce.report import write_report
from knee_nlp.reproduce.runner import RunPlan, execute, run_name
from knee_nlp.run_lock import holds_other_files, locked

class ReproduceError(UserError, ValueError):
    """A reproduce request that cannot run as asked (devices, run dir, budgets)."""


@dataclass(frozen=True)
class Request:
    """What the user asked for; ``None`` selections mean the preset's defaults."""

    experiment: str
    preset: str
    run_dir: Path
    schedules: tuple[str, ...] | None = None
    budgets: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    gpus: int = 1
    precision: str = "fp32"
    data_dir: Path | None = None
    config_dir: Path | None = None
    dry_run: bool = False
    raw_dir: Path | None = None
    explore: ExploreChoice | None = None


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def check_devices(gpus: int, precision: str) -> bool:
    """Refuse device/precision combinations fairseq cannot run; returns True for CPU."""
    import torch

    cuda = _has_cuda()
    if precision != "fp32" and not cuda:
        raise ReproduceError(
            f"--{precision} needs CUDA GPUs: fairseq's {precision} training does not work on "
            "CPU (fp16 calls torch.cuda in FP16Optimizer; bf16 switches fairseq to TPU mode). "
            "Drop the flag to train in fp32.")
    available = torch.cuda.device_count() if cuda else 0
    if gpus > 1 and available < gpus:
        raise ReproduceError(f"--gpus {gpus} needs {gpus} CUDA devices, found {available}")
    return not cuda


def select_runs(spec: ExperimentSpec, request: Request) -> list[RunConfig]:
    """The run configs of the requested schedules x budgets (defaults from experiment.yaml)."""
    if request.preset not in spec.presets or request.preset not in spec.defaults:
        raise ConfigError(f"{spec.name}: preset must be one of {list(spec.presets)}, "
                          f"got {request.preset!r}")
    defaults = spec.defaults[request.preset]
    schedules = request.schedules or defaults.schedules
    budgets = request.budgets or defaults.budgets
    unknown = sorted(set(schedules) - set(SCHEDULES))
    if unknown:
        raise ConfigError(f"unknown schedule(s) {unknown}; choose from {sorted(SCHEDULES)}")
    if request.explore is not None and TUNED_SCHEDULE not in schedules:
        raise ConfigError(f"{request.explore.flag} sets the explore fraction of the '{TUNED_SCHEDULE}' "
                          f"schedule, which is not among the schedules to run ({', '.join(schedules)}): "
                          f"add --schedules {TUNED_SCHEDULE} ...")
    runs = [with_explore(load_run_config(spec, request.preset, s, b), request.explore)
            for b in budgets for s in schedules]
    limits = {json.dumps(run.data, sort_keys=True) for run in runs}
    if len(limits) > 1:
        raise ConfigError(f"the selected configs disagree on their data subset ({sorted(limits)}); "
                          "runs compared in one report must train on the same data")
    return runs


def _check_manifest(run_dir: Path, record: dict, *, write: bool = True) -> None:
    """Refuse a run dir made for another setup; record this one in ``reproduce.json`` (if ``write``)."""
    path = run_dir / MANIFEST
    if not path.is_file() and holds_other_files(run_dir):
        raise ReproduceError(f"--run-dir {run_dir} exists, is not empty and has no {MANIFEST}: not a "
                             "knee-nlp reproduce run directory (its files would be overwritten); "
                             "choose another --run-dir")
    previous = read_state(path) if path.is_file() else {}
    changed = sorted(k for k in record if k in previous and previous[k] != record[k])
    if changed:
        raise ReproduceError(
            f"{run_dir} holds runs of another setup ({', '.join(changed)} differ: it has "
            f"{ {k: previous[k] for k in changed} }, this command { {k: record[k] for k in changed} }); "
            "choose another --run-dir")
    if write:
        write_text_atomic(path, json.dumps({**previous, **record}, indent=2) + "\n")


def _check_tuned_explore(run_dir: Path, runs: list[RunConfig], choice: ExploreChoice | None) -> dict | None:
    """Refuse tuned-knee runs whose explore setting differs from the run dir's earlier ones (they
    would be averaged into one row); return what ``reproduce.json`` should record (``None``: nothing
    new), written only once the runs are planned and about to train."""
    knee = next((run for run in runs if run.schedule == TUNED_SCHEDULE), None)
    if knee is None:
        return None
    setting = {key: knee.lr_scheduler[key] for key in ("explore_ratio", "explore_updates")
               if knee.lr_scheduler.get(key) is not None}
    chosen_by = choice.chosen_by if choice else "the experiment's config"
    path = run_dir / MANIFEST
    previous = (read_state(path) if path.is_file() else {}).get("tuned_explore")
    if previous is None:
        return {"tuned_explore": {**setting, "chosen_by": chosen_by}}
    earlier = {key: value for key, value in previous.items() if key != "chosen_by"}
    if earlier != setting:
        flag = (f"--explore-ratio {earlier['explore_ratio']}" if "explore_ratio" in earlier
                else "the same explore setting")
        raise ReproduceError(
            f"{run_dir} holds '{TUNED_SCHEDULE}' runs with {earlier} (chosen by {previous.get('chosen_by')}); "
            f"this command would train {setting} (chosen by {chosen_by}), and the report would average "
            f"both: pass {flag}, or choose another --run-dir")
    return None


def plan_runs(spec: ExperimentSpec, runs: list[RunConfig], seeds: tuple[int, ...], run_dir: Path,
              data: DataSource, gpus: int, precision: str, cpu: bool) -> list[RunPlan]:
    """One :class:`RunPlan` per run x seed, with the budget counted in fairseq updates."""
    src, tgt = spec.source_lang, spec.target_lang
    per_epoch_cache: dict[tuple[str, ...], int] = {}
    plans = []
    for run in runs:
        batching = scale_batching(run, gpus)
        count_argv = dry_count_argv(run, bin_dir=data.bin_dir, batching=batching,
                                    source_lang=src, target_lang=tgt)
        key = tuple(count_argv)
        if key not in per_epoch_cache:
            per_epoch_cache[key] = count_epoch_updates(count_argv, update_freq=batching.update_freq,
                                                     num_processes=gpus)
        per_epoch = per_epoch_cache[key]
        max_update = updates_for_epochs(run.epochs, per_epoch)
        warmup = int(run.lr_scheduler.get("warmup_updates", 0))
        if warmup >= max_update:
            raise ReproduceError(f"{run.path}: lr_scheduler.warmup_updates {warmup} must be < the "
                                 f"budget of {max_update} updates ({run.epochs:g} epochs x {per_epoch})")
        if SCHEDULES[run.schedule] == "knee":
            try:
                knee_schedule(run.lr_scheduler, run.peak_lr, max_update)
            except ValueError as error:
                fits = ("" if run.lr_scheduler.get("explore_ratio") is None else
                        f"; explore_ratio {(max_update - warmup) / max_update:.3f} at most fits this budget")
                raise ReproduceError(f"{run.source}: {error} (budget {max_update} updates = "
                                     f"{run.epochs:g} epochs x {per_epoch}{fits})") from None
        generate = generate_command(run, bin_dir=data.bin_dir, source_lang=src, target_lang=tgt,
                                    precision=precision, cpu=cpu)
        for seed in seeds:
            directory = run_directory(run_dir, run_name(run, seed))
            train = train_command(run, bin_dir=data.bin_dir, save_dir=directory / "checkpoints",
                                  seed=seed, max_update=max_update, batching=batching,
                                  source_lang=src, target_lang=tgt, precision=precision, cpu=cpu)
            plans.append(RunPlan(run, seed, directory, per_epoch, max_update, batching, train,
                                 generate))
    return plans


def reproduce(request: Request) -> Path:
    """Run (or resume) every requested run and write the report; returns the run directory.

    The run directory is locked (:mod:`knee_nlp.run_lock`) before its first write, ``--dry-run``
    included: it writes ``reproduce.json`` and the binarized data under ``data/``.
    """
    spec = load_experiment(request.experiment, request.config_dir)
    runs = select_runs(spec, request)
    seeds = request.seeds or spec.defaults[request.preset].seeds
    if request.dry_run:  # e.g. on a login node: print the commands for the GPUs asked for
        cpu = request.gpus == 1 and request.precision == "fp32" and not _has_cuda()
    else:
        cpu = check_devices(request.gpus, request.precision)
    run_dir = Path(request.run_dir).resolve()
    with locked(run_dir):
        _reproduce_in(run_dir, spec, runs, seeds, cpu, request)
    return run_dir


def _reproduce_in(run_dir: Path, spec: ExperimentSpec, runs: list[RunConfig],
                  seeds: tuple[int, ...], cpu: bool, request: Request) -> None:
    _check_manifest(run_dir, {"experiment": spec.name, "preset": request.preset})
    tuned_explore = _check_tuned_explore(run_dir, runs, request.explore)
    origin = {"data_origin": data_origin(spec, request.data_dir)}
    _check_manifest(run_dir, origin, write=False)  # other data is refused before data/ is rewritten
    data = resolve_data(spec, run_dir / "data", request.data_dir, runs[0].data, request.preset,
                        raw_dir=request.raw_dir)
    _check_manifest(run_dir, {
        "experiment": spec.name, "preset": request.preset, "title": spec.title,
        **origin, "data": data.to_json(),
        "paper": {"source": spec.paper_source, "note": spec.paper_note, "bleu": spec.paper_bleu},
    })
    if data.synthetic:
        print(f"No {spec.name} data found: using the SYNTHETIC corpus built into knee-nlp (a "
              "smoke test of the pipeline, not the paper's data). For the real experiment run: "
              f"{spec.prepare_hint}", flush=True)
    plans = plan_runs(spec, runs, seeds, run_dir, data, request.gpus, request.precision, cpu)
    if request.dry_run:  # the full resolved config of each run, as a stand-alone run file
        for run in runs:
            print(f"config {run.schedule}-{run.budget} (from {run.source}):", flush=True)
            print(textwrap.indent(run.to_yaml(), "  "), end="", flush=True)
    for plan in plans:
        print(f"plan {plan.name}: {plan.max_update} updates ({plan.config.epochs:g} epochs x "
              f"{plan.epoch_updates}), global batch {plan.batching.global_tokens} tokens",
              flush=True)
        if request.dry_run:
            print("  " + shlex.join(plan.train_argv), flush=True)
    if request.dry_run:
        return
    if tuned_explore:  # recorded once it is known to fit every budget and before the first run
        _check_manifest(run_dir, tuned_explore)
    for plan in plans:
        execute(plan, target_lang=spec.target_lang, test_pairs=data.pairs["test"])
    write_report(run_dir)
