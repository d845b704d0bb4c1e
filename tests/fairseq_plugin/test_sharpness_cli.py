"""``knee-nlp sharpness fairseq`` on a tiny transformer trained for a few updates on real IWSLT'14."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knee_nlp.cli import main


@pytest.fixture(scope="module")
def tiny_checkpoint(fairseq_tools, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """checkpoint_last.pt of a 6-update run (label-smoothed CE, Adam, fixed LR)."""
    save_dir = tmp_path_factory.mktemp("sharpness-ckpt")
    run = fairseq_tools.run("fairseq-train", [
        *fairseq_tools.train_args, "--lr", 1e-3, "--max-update", 6, "--save-dir", save_dir,
        "--no-save-optimizer-state",
    ])
    assert run.returncode == 0, run.output[-3000:]
    return save_dir / "checkpoint_last.pt"


def sharpness(checkpoint: Path, data: Path, output: Path, *flags: object) -> list[str]:
    return ["sharpness", "fairseq", str(checkpoint), str(data), "--output", str(output),
            "--no-progress", "--device", "cpu", *map(str, flags)]


def test_measures_the_checkpoint_and_writes_json(
    tiny_checkpoint: Path, fairseq_tools, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "sharpness.json"
    assert main(sharpness(tiny_checkpoint, fairseq_tools.data, output,
                          "--steps", 4, "--max-batches", 2, "--eps", 1e-3)) == 0
    printed = capsys.readouterr().out
    record = json.loads(output.read_text())
    assert record["source"]["kind"] == "fairseq"
    assert record["source"]["criterion"] == "LabelSmoothedCrossEntropyCriterion"
    assert record["source"]["split"] == "train" and record["source"]["max_tokens"] == 1024
    assert (record["eps"], record["steps"], record["batches"]) == (1e-3, 4, 2)
    assert record["batches_available"] > 2
    assert record["sample"] == f"a seeded sample of 2 of {record['batches_available']} batches"
    assert record["sample"] in printed and f"sharpness {record['value']:.4g}" in printed
    # label-smoothed CE of a barely trained model on a 1,000-type vocabulary: about ln(1000)
    assert 4.0 < record["loss"] < 8.0
    assert record["max_loss"] > record["loss"] and record["value"] > 0
    # deterministic: a second run (a fresh load of the checkpoint) gives the same number
    again = tmp_path / "again.json"
    assert main(sharpness(tiny_checkpoint, fairseq_tools.data, again,
                          "--steps", 4, "--max-batches", 2, "--eps", 1e-3)) == 0
    assert json.loads(again.read_text())["value"] == record["value"]


def test_refuses_to_overwrite_and_reports_bad_input(
    tiny_checkpoint: Path, fairseq_tools, tmp_path: Path
) -> None:
    output = tmp_path / "mine.json"
    output.write_text("mine")
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        main(sharpness(tiny_checkpoint, fairseq_tools.data, output, "--steps", 1))
    assert output.read_text() == "mine"
    fresh = tmp_path / "x.json"
    with pytest.raises(SystemExit, match="split 'nosuch' not found"):
        main(sharpness(tiny_checkpoint, fairseq_tools.data, fresh, "--split", "nosuch", "--steps", 1))
    with pytest.raises(SystemExit, match="eps must be a finite number > 0.0, got 0.0"):
        main(sharpness(tiny_checkpoint, fairseq_tools.data, fresh, "--eps", 0, "--steps", 1,
                       "--max-batches", 1))
    with pytest.raises(SystemExit, match="--max-batches must be an integer >= 1, got 0"):
        main(sharpness(tiny_checkpoint, fairseq_tools.data, fresh, "--max-batches", 0))
    with pytest.raises(SystemExit, match="--max-tokens 5 is too small for the train split"):
        main(sharpness(tiny_checkpoint, fairseq_tools.data, fresh, "--max-tokens", 5, "--steps", 1))
    (tmp_path / "not-data").mkdir()
    with pytest.raises(SystemExit, match="cannot be loaded as a fairseq checkpoint with the data .*not-data"):
        main(sharpness(tiny_checkpoint, tmp_path / "not-data", fresh, "--steps", 1))
    assert not fresh.exists()
