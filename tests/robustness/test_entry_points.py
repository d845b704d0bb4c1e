"""The installed entry points print ``error: ...`` and no traceback for a user's mistake.

The in-process sweep (the other files here) calls each ``main(argv)``; these cases run the real
console scripts and ``python -m`` modules in a subprocess, so that nothing between the shell and
``main`` (imports, logging set-up, argument parsing) can add a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


# (case, command (``{tmp}``: the test's folder, holding run/reproduce.json cut short), fragment)
ENTRY_POINTS: list[tuple[str, list[str], str]] = [
    ("knee-nlp plot with a zero peak", ["knee-nlp", "plot", "--peak-lr", "0", "--total-steps", "10", "-o", "{tmp}/x.png"],
     "peak_lr must be a finite number > 0.0, got 0.0"),
    ("knee-nlp reproduce with --gpus 0", ["knee-nlp", "reproduce", "iwslt14", "--gpus", "0"], "--gpus: must be an integer >= 1"),
    ("knee-nlp reproduce on a damaged reproduce.json",
     ["knee-nlp", "reproduce", "iwslt14", "--preset", "tiny", "--dry-run", "--run-dir", "{tmp}/run"], "reproduce.json is damaged"),
    ("knee-nlp data on a file", ["knee-nlp", "data", "iwslt14", "--raw-dir", "{tmp}/run/reproduce.json", "--output-dir",
                                 "{tmp}/out"], "is not a directory"),
    ("python -m hf_integration.pretrain_bert with a misspelt key",
     [sys.executable, "-m", "hf_integration.pretrain_bert", "--config", "tiny", "--check", "model.hiden_size=64",
      "data.train_files=[a.txt]", "data.validation_files=[b.txt]"], "unknown key(s) ['hiden_size'] in model"),
    ("knee-fairseq-train with --explore-ratio 2",
     ["knee-fairseq-train", "{tmp}", "--arch", "transformer_iwslt_de_en", "--optimizer", "adam", "--max-tokens", "64",
      "--lr", "1e-3", "--lr-scheduler", "knee", "--max-update", "100", "--explore-ratio", "2"],
     "--explore-ratio must be a number in [0, 1], got 2.0"),
]


@pytest.mark.parametrize(("case", "command", "fragment"), ENTRY_POINTS, ids=[case[0] for case in ENTRY_POINTS])
def test_entry_point_prints_one_error_line_and_no_traceback(case: str, command: list[str], fragment: str,
                                                            tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "reproduce.json").write_text('{"experiment": "iwsl')
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    if not Path(argv[0]).is_absolute():
        argv[0] = str(BIN / argv[0])
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode in (1, 2), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors and fragment in errors[-1], result.stderr
