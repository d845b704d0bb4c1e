"""Fixtures for the fairseq plugin tests: a tiny binarized IWSLT'14 set and a fairseq runner.

The data are real IWSLT'14 DE-EN sentences (the BPE'd valid split in ``shared_data``): 2,000
pairs for train, 200 for valid and 200 for test, binarized by ``fairseq-preprocess`` with a
joined dictionary cut to 1,000 types so that a 1-layer, 64-dim transformer trains at dozens of
updates per second on CPU.
"""

from __future__ import annotations

import json
import os
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

    def run(self, name: str, args: Sequence[object], cwd: Path | None = None) -> FairseqRun:
        """Run ``name`` to completion with stdout and stderr merged."""
        result = subprocess.run(
            self.argv(name, args), cwd=cwd, env=clean_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=300,
        )
        return FairseqRun(result.returncode, result.stdout)

    def popen_python(self, code: str, args: Sequence[object]) -> subprocess.Popen:
        """Start ``python -c code args...`` in this venv with merged, text output."""
        return subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)], env=clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    @staticmethod
    def parse_lrs(output: str) -> dict[int, str]:
        """Logged LR string per ``num_updates`` in a command's output."""
        return FairseqRun(0, output).lrs()


@pytest.fixture(scope="session")
def fairseq_tools(tiny_iwslt: Path) -> FairseqTools:
    """:class:`FairseqTools` bound to the tiny binarized IWSLT'14 set."""
    return FairseqTools(tiny_iwslt)
