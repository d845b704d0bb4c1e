"""``knee-nlp sharpness hf`` on a tiny BERT ``save_pretrained`` directory with WikiText-2 text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import BertConfig, BertForMaskedLM, BertTokenizer

from knee_nlp.cli import main

from .conftest import SEQ


@pytest.fixture(scope="module")
def bert_dir(prepared: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-dim BertForMaskedLM and its WordPiece tokenizer, as the launcher saves them."""
    tokenizer = BertTokenizer(str(prepared["vocab"]), do_lower_case=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=SEQ)
    target = tmp_path_factory.mktemp("bert-final")
    BertForMaskedLM(config).save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))
    return target


def arguments(model_dir: Path, text: Path, output: Path, *flags: object) -> list[str]:
    return ["sharpness", "hf", str(model_dir), str(text), "--output", str(output), "--no-progress",
            "--device", "cpu", "--max-seq-length", str(SEQ), "--batch-size", "4", *map(str, flags)]


def test_measures_the_masked_lm_deterministically(
    bert_dir: Path, wikitext: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    flags = ("--steps", 4, "--max-batches", 2, "--eps", 1e-3, "--seed", 5)
    assert main(arguments(bert_dir, wikitext["valid"], first, *flags)) == 0
    printed = capsys.readouterr().out
    record = json.loads(first.read_text())
    assert record["source"]["kind"] == "hf-mlm" and record["source"]["max_seq_length"] == SEQ
    assert (record["batches"], record["steps"], record["seed"]) == (2, 4, 5)
    assert record["sample"] == f"a seeded sample of 2 of {record['batches_available']} batches"
    assert record["sample"] in printed and str(first) in printed
    # an untrained model on a 1,024-type vocabulary: MLM loss near ln(1024) = 6.9
    assert 6.0 < record["loss"] < 8.0 and record["max_loss"] > record["loss"]
    # fixed-seed masking: the same L(w) and sharpness on a re-run
    assert main(arguments(bert_dir, wikitext["valid"], second, *flags)) == 0
    again = json.loads(second.read_text())
    assert (again["loss"], again["value"]) == (record["loss"], record["value"])
    # a different seed draws other batches and masks
    other = tmp_path / "c.json"
    assert main(arguments(bert_dir, wikitext["valid"], other, "--steps", 1, "--max-batches", 2,
                          "--seed", 6)) == 0
    assert json.loads(other.read_text())["loss"] != record["loss"]


def test_subspace_option_and_overwrite(bert_dir: Path, wikitext: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "s.json"
    output.write_text("{}")
    flags = ("--steps", 2, "--max-batches", 1, "--subspace-dim", 8)
    with pytest.raises(SystemExit, match="already exists; pass --overwrite"):
        main(arguments(bert_dir, wikitext["valid"], output, *flags))
    assert main(arguments(bert_dir, wikitext["valid"], output, *flags, "--overwrite")) == 0
    assert json.loads(output.read_text())["subspace_dim"] == 8


def test_bad_inputs(bert_dir: Path, wikitext: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "x.json"
    with pytest.raises(SystemExit, match="has no config.json"):
        main(arguments(tmp_path, wikitext["valid"], output))
    with pytest.raises(SystemExit, match="text file .*missing.txt does not exist"):
        main(arguments(bert_dir, tmp_path / "missing.txt", output))
    short = tmp_path / "short.txt"
    short.write_text("just a few words\n")
    with pytest.raises(SystemExit, match="fewer than one batch of 4 x 64 tokens"):
        main(arguments(bert_dir, short, output))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(SystemExit, match="text files hold 0 tokens"):
        main(arguments(bert_dir, empty, output))
    with pytest.raises(SystemExit, match=r"--max-seq-length must be <= the model's max_position_embeddings"):
        main(arguments(bert_dir, wikitext["valid"], output, "--max-seq-length", 100_000))
    with pytest.raises(SystemExit, match="steps must be an integer >= 1, got 0"):
        main(arguments(bert_dir, wikitext["valid"], output, "--steps", 0, "--max-batches", 1))
    assert not output.exists()
