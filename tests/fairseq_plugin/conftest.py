"""Fixtures for the fairseq plugin tests: a tiny binarized IWSLT'14 set and a fairseq runner.

The data are real IWSLT'14 DE-EN sentences (the BPE'd valid split in ``shared_data``): 2,000
pairs for train, 200 for valid and 200 for test, binarized by ``fairseq-preprocess`` with a
joined dictionary cut to 1,000 types so that a 1-layer, 64-dim transformer trains at dozens of
updates per second on CPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_DIR = Path(sys.executable).parent
SPLITS = {"train": (0, 2000), "valid": (2000, 2200), "test": (2200, 2400)}

TINY_TRANSFORMER = [
    "--cpu", "--arch", "transformer_iwslt_de_en", "--share-all-embeddings",
    "--encoder-layers", "1", "--decoder-layers", "1",
    "--encoder-embed-dim", "64", "--decoder-embed-dim", "64",
    "--encoder-ffn-embed-dim", "128", "--decoder-ffn-embed-dim", "128",
    "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
    "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
    "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1",
    "--max-tokens", "1024", "--num-workers", "0", "--seed", "1",
    "--log-format", "json", "--log-interval", "1", "--no-progress-bar",
    "--disable-validation", "--no-epoch-checkpoints",
]

# fairseq-generate on the tiny test split (add DATA and --path CHECKPOINT).
GENERATE = ["--gen-subset", "test", "--beam", "2", "--max-len-b", "10", "--batch-size", "200", "--cpu"]


@dataclass
class FairseqRun:
    """A finished fairseq command: exit status, combined output and the logged updates."""

    returncode: int
    output: str

    @property
    def updates(self) -> list[dict]:
        """The ``train_inner`` JSON records, one per update with ``--log-interval 1``."""
        return parse_updates(self.output)

    def lrs(self) -> dict[int, str]:
        """Logged LR string per ``num_updates``."""
        return {int(record["num_updates"]): record["lr"] for record in self.updates}


def parse_updates(output: str) -> list[dict]:
    """``train_inner`` records from fairseq's ``--log-format json`` output."""
    records = []
    for line in output.splitlines():
        if "train_inner" in line and "{" in line:
            records.append(json.loads(line[line.index("{"):]))
    return records


def clean_env() -> dict[str, str]:
    """The test environment without any torch weights-only override: the plugin must cope."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def logged(schedule, updates) -> dict[int, str]:
    """The LR strings fairseq prints (``{:g}``) for ``updates`` under a ``KneeSchedule``."""
    return {n: f"{schedule(n):g}" for n in updates}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for ``--distributed-init-method``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def two_cpu_ranks() -> list[str]:
    """fairseq flags for two ``--distributed-no-spawn`` CPU processes (add ``--distributed-rank``)."""
    return [
        "--distributed-world-size", "2", "--distributed-backend", "gloo", "--ddp-backend",
        "legacy_ddp", "--distributed-no-spawn",
        "--distributed-init-method", f"tcp://127.0.0.1:{free_port()}",
    ]


# fairseq lowers the root logger to WARNING on ranks > 0; raising the progress-bar logger back to
# INFO makes rank 1 print its own per-update records too. Append the code that starts training.
RANK_LOGGING = (
    "import logging, sys; logging.getLogger('fairseq.logging.progress_bar').setLevel(logging.INFO); "
)


def tiny_hydra_overrides(data: Path, save_dir: Path, max_update: int) -> list[str]:
    """Overrides that run ``configs/fairseq/iwslt14_knee.yaml`` on the tiny data and model on CPU."""
    return [
        f"task.data={data}", "common.cpu=true", "common.log_interval=1",
        "common.no_progress_bar=true", f"checkpoint.save_dir={save_dir}",
        "task.eval_bleu=false", "dataset.disable_validation=true", "dataset.max_tokens=1024",
        "dataset.num_workers=0", f"optimization.max_update={max_update}",
        "lr_scheduler.warmup_updates=2",
        "+model.encoder_layers=1", "+model.decoder_layers=1", "+model.encoder_embed_dim=64",
        "+model.decoder_embed_dim=64", "+model.encoder_ffn_embed_dim=128",
        "+model.decoder_ffn_embed_dim=128",
    ]


def command(name: str) -> str:
    """Path of a console script of this venv (fairseq's or ours)."""
    return str(BIN_DIR / name)


@pytest.fixture(scope="session")
def tiny_iwslt(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fairseq-preprocess`` output for the tiny DE-EN set (session-wide, built once)."""
    source = shared_data / "iwslt14-de-en" / "fairseq-bpe"
    root = tmp_path_factory.mktemp("tiny_iwslt")
    for lang in ("de", "en"):
        lines = (source / f"valid.{lang}").read_text(encoding="utf-8").splitlines(keepends=True)
        for split, (start, stop) in SPLITS.items():
            (root / f"{split}.{lang}").write_text("".join(lines[start:stop]), encoding="utf-8")
    destdir = root / "bin"
    subprocess.run(
        [command("fairseq-preprocess"), "--source-lang", "de", "--target-lang", "en",
         "--trainpref", str(root / "train"), "--validpref", str(root / "valid"),
         "--testpref", str(root / "test"), "--destdir", str(destdir),
         "--joined-dictionary", "--nwordssrc", "1000", "--workers", "1"],
        check=True, capture_output=True, env=clean_env(),
    )
    return destdir


@dataclass(frozen=True)
class FairseqTools:
    """Runs fairseq and knee-fairseq console scripts of this venv on the tiny data."""

    data: Path

    @property
    def train_args(self) -> list[str]:
        """Data folder plus the tiny-transformer training flags (no scheduler flags)."""
        return [str(self.data), *TINY_TRANSFORMER]

    def argv(self, name: str, args: Sequence[object]) -> list[str]:
        return [command(name), *map(str, args)]

    def run(self, name: str, args: Sequence[object], cwd: Path | None = None,
            env: dict[str, str] | None = None) -> FairseqRun:
        """Run ``name`` to completion with stdout and stderr merged (``env``: extra variables)."""
        result = subprocess.run(
            self.argv(name, args), cwd=cwd, env=clean_env() | (env or {}), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=300,
        )
        return FairseqRun(result.returncode, result.stdout)

    def popen_python(self, code: str, args: Sequence[object]) -> subprocess.Popen:
        """Start ``python -c code args...`` in this venv with merged, text output."""
        return subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)], env=clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def run_ranks(self, code: str, args: Sequence[object], ranks: int = 2) -> list[FairseqRun]:
        """``python -c code args... --distributed-rank r`` for every rank at once; their results."""
        processes = [self.popen_python(code, [*args, "--distributed-rank", rank]) for rank in range(ranks)]
        outputs = [process.communicate(timeout=300)[0] for process in processes]
        return [FairseqRun(process.returncode, output) for process, output in zip(processes, outputs)]

    @staticmethod
    def parse_lrs(output: str) -> dict[int, str]:
        """Logged LR string per ``num_updates`` in a command's output."""
        return FairseqRun(0, output).lrs()


@pytest.fixture(scope="session")
def fairseq_tools(tiny_iwslt: Path) -> FairseqTools:
    """:class:`FairseqTools` bound to the tiny binarized IWSLT'14 set."""
    return FairseqTools(tiny_iwslt)
