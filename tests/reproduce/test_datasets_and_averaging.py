"""Data checks (layout, language pair, alignment), the synthetic corpus, checkpoint averaging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from knee_nlp.reproduce.averaging import average_checkpoints, last_epoch_checkpoints
from knee_nlp.reproduce.datasets import DataError, _text_subset, detect_layout
from knee_nlp.reproduce.synthetic import synthetic_pairs, write_synthetic_corpus


def _text_corpus(root: Path, langs=("de", "en"), lines: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        for lang in langs:
            (root / f"{split}.{lang}").write_text("".join(f"w{i}\n" for i in range(lines)))
    return root


def test_text_corpus_is_recognised(tmp_path: Path) -> None:
    assert detect_layout(_text_corpus(tmp_path / "text"), "de", "en") == "text"


def test_missing_dir_and_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        detect_layout(tmp_path / "nowhere", "de", "en")
    corpus = _text_corpus(tmp_path / "text")
    (corpus / "test.en").unlink()
    with pytest.raises(DataError, match=r"missing \['test.en'\]"):
        detect_layout(corpus, "de", "en")


def test_other_language_pair_is_rejected(tmp_path: Path) -> None:
    corpus = _text_corpus(tmp_path / "fr-en", langs=("fr", "en"))
    with pytest.raises(DataError, match=r"holds languages \['en', 'fr'\].*de->en"):
        detect_layout(corpus, "de", "en")


def test_incomplete_data_bin_is_rejected(tmp_path: Path) -> None:
    directory = tmp_path / "bin"
    directory.mkdir()
    for lang in ("de", "en"):
        (directory / f"dict.{lang}.txt").write_text("a 1\n")
    with pytest.raises(DataError, match="looks like a fairseq data-bin but lacks"):
        detect_layout(directory, "de", "en")


def test_subset_takes_the_first_pairs_and_checks_alignment(tmp_path: Path) -> None:
    corpus = _text_corpus(tmp_path / "text", lines=5)
    pairs = _text_subset(corpus, tmp_path / "subset", "de", "en",
                         {"max_train_pairs": 2, "max_valid_pairs": None, "max_test_pairs": 1})
    assert pairs == {"train": 2, "valid": 5, "test": 1}
    assert (tmp_path / "subset/train.en").read_text() == "w0\nw1\n"
    (corpus / "valid.en").write_text("only one line\n")
    with pytest.raises(DataError, match=r"valid\.de has 5 lines, .*valid\.en has 1"):
        _text_subset(corpus, tmp_path / "subset2", "de", "en", {})


def test_synthetic_corpus_is_deterministic_and_labelled(tmp_path: Path) -> None:
    assert synthetic_pairs(50, seed=3) == synthetic_pairs(50, seed=3)
    assert synthetic_pairs(50, seed=3) != synthetic_pairs(50, seed=4)
    source, target = synthetic_pairs(1, seed=0)[0]
    assert len(source.split()) == len(target.split())
    out = write_synthetic_corpus(tmp_path / "syn", "en", "de", {"train": 7, "valid": 2, "test": 2})
    assert len((out / "train.de").read_text().splitlines()) == 7
    assert "SYNTHETIC" in (out / "SYNTHETIC.txt").read_text()
    assert detect_layout(out, "en", "de") == "text"


def _checkpoint(path: Path, weight: float, steps: int) -> Path:
    torch.save({"model": {"w": torch.full((2, 2), weight), "steps": torch.tensor(steps)},
                "cfg": {"note": path.name}}, path)
    return path


def test_average_of_the_last_epoch_checkpoints(tmp_path: Path) -> None:
    for epoch, weight in ((1, 100.0), (2, 1.0), (3, 2.0), (4, 6.0)):
        _checkpoint(tmp_path / f"checkpoint{epoch}.pt", weight, steps=epoch)
    inputs = last_epoch_checkpoints(tmp_path, last_epoch=4, count=3)
    assert [p.name for p in inputs] == ["checkpoint2.pt", "checkpoint3.pt", "checkpoint4.pt"]
    state = torch.load(average_checkpoints(inputs, tmp_path / "avg.pt"), weights_only=False)
    assert torch.equal(state["model"]["w"], torch.full((2, 2), 3.0))
    assert int(state["model"]["steps"]) == 3  # integer buffers: floor of the mean
    assert state["cfg"] == {"note": "checkpoint4.pt"}  # config of the newest checkpoint


def test_missing_epoch_checkpoint_is_named(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "checkpoint3.pt", 1.0, 3)
    with pytest.raises(FileNotFoundError, match=r"missing \['checkpoint2.pt'\]"):
        last_epoch_checkpoints(tmp_path, last_epoch=3, count=2)
