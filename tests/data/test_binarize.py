"""``fairseq_preprocess``: atomic, idempotent, refuses to replace what it did not make."""

from __future__ import annotations

from pathlib import Path

import pytest

from knee_nlp.data.binarize import MANIFEST_NAME, fairseq_preprocess


@pytest.fixture
def text(tmp_path: Path, iwslt_reference: Path) -> Path:
    """Real BPE'd IWSLT'14 text: 300 valid pairs as train, 100 test pairs as valid and test."""
    folder = tmp_path / "text"
    folder.mkdir()
    for lang in ("de", "en"):
        valid = (iwslt_reference / "fairseq-bpe" / f"valid.{lang}").read_text(encoding="utf-8").splitlines()
        test = (iwslt_reference / "fairseq-bpe" / f"test.{lang}").read_text(encoding="utf-8").splitlines()
        (folder / f"train.{lang}").write_text("\n".join(valid[:300]) + "\n", encoding="utf-8")
        for split in ("valid", "test"):
            (folder / f"{split}.{lang}").write_text("\n".join(test[:100]) + "\n", encoding="utf-8")
    return folder


def _run(text: Path, destdir: Path, **kwargs) -> Path:
    return fairseq_preprocess("de", "en", destdir, trainpref=text / "train", validpref=text / "valid",
                              testpref=text / "test", **kwargs)


def test_binarizes_once_then_returns_the_result(text, tmp_path):
    destdir = _run(text, tmp_path / "bin")
    names = {p.name for p in destdir.iterdir()}
    assert {"dict.de.txt", "dict.en.txt", MANIFEST_NAME} <= names
    assert {f"{s}.de-en.{l}.{e}" for s in ("train", "valid", "test") for l in ("de", "en")
            for e in ("bin", "idx")} <= names
    assert (destdir / "dict.de.txt").read_bytes() == (destdir / "dict.en.txt").read_bytes()
    stamp = {p.name: p.stat().st_mtime_ns for p in destdir.iterdir()}
    assert _run(text, tmp_path / "bin") == destdir
    assert {p.name: p.stat().st_mtime_ns for p in destdir.iterdir()} == stamp
    assert not list(tmp_path.glob(".bin.partial"))

    (text / "test.en").write_text("changed\n" * 100)
    with pytest.raises(FileExistsError, match="built from other inputs"):
        _run(text, tmp_path / "bin")


def test_missing_input_named(text, tmp_path):
    (text / "valid.en").unlink()
    with pytest.raises(FileNotFoundError, match=r"valid\.en"):
        _run(text, tmp_path / "bin")
    assert not (tmp_path / "bin").exists()


def test_foreign_destdir_refused(text, tmp_path):
    (tmp_path / "bin").mkdir()
    with pytest.raises(FileExistsError, match="has no knee_nlp_preprocess.json"):
        _run(text, tmp_path / "bin")


def test_failure_leaves_nothing(text, tmp_path):
    bad_dict = tmp_path / "dict.txt"
    bad_dict.write_text("no-count-here\n")
    with pytest.raises(RuntimeError, match="fairseq-preprocess failed"):
        _run(text, tmp_path / "bin", srcdict=bad_dict)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dict.txt", "text"]


def test_bad_arguments(text, tmp_path):
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        _run(text, tmp_path / "bin", workers=0)
    with pytest.raises(ValueError, match="must differ"):
        fairseq_preprocess("de", "de", tmp_path / "bin", trainpref=text / "train", validpref=text / "valid")
