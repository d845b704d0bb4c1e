"""``prepare_iwslt14`` end to end on a miniature release: real TED text in the recipe's layout."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.data.iwslt14 import TEST_SETS, prepare_iwslt14
from knee_nlp.data.moses import lowercase, tokenize
from knee_nlp.data.parallel import read_lines
from knee_nlp.data.recipe import load_prepared


@pytest.fixture
def prepared(iwslt_prepared):
    return iwslt_prepared


def _unbpe(path: Path) -> list[str]:
    return [line.replace("@@ ", "") for line in read_lines(path)]


def test_test_set_is_the_recipes(prepared, iwslt_reference):
    tmp = prepared.text_dir / "tmp"
    for lang in ("de", "en"):
        assert (tmp / f"test.{lang}").read_bytes() == \
            (iwslt_reference / "fairseq-tok" / f"test.{lang}").read_bytes()
        for name in TEST_SETS:
            assert (tmp / f"{name}.de-en.{lang}").read_bytes() == \
                (iwslt_reference / "fairseq-tok" / "per-set" / f"{name}.de-en.{lang}").read_bytes()
    assert prepared.pairs["test"] == 6750


def test_valid_is_every_23rd_cleaned_pair(prepared):
    tmp = prepared.text_dir / "tmp"
    for lang in ("de", "en"):
        cleaned = list(read_lines(tmp / f"train.tags.de-en.{lang}"))
        assert list(read_lines(tmp / f"valid.{lang}")) == cleaned[22::23]
        assert list(read_lines(tmp / f"train.{lang}")) == [
            line for number, line in enumerate(cleaned, 1) if number % 23]
    assert prepared.pairs["valid"] == len(cleaned) // 23
    assert prepared.pairs["train"] + prepared.pairs["valid"] == len(cleaned)


def test_metadata_and_cleaning_rules(prepared, iwslt_raw, cleaning_cases):
    tmp = prepared.text_dir / "tmp"
    train = {lang: list(read_lines(tmp / f"train.tags.de-en.{lang}")) for lang in ("de", "en")}
    raw_en = list(read_lines(iwslt_raw / "de-en" / "train.tags.de-en.en"))
    # url / keywords / talkid lines dropped; title and description text kept, tags removed
    assert not any("http" in line or "talkid" in line for line in train["en"])
    title = next(line for line in raw_en if line.startswith("<title>"))
    title_text = title.removeprefix("<title>").removesuffix("</title>")
    assert lowercase(tokenize(title_text, "en")) in train["en"]
    # every kept pair obeys clean-corpus-n -ratio 1.5 ... 1 175, and the text is lowercased
    for de, en in zip(train["de"], train["en"]):
        n_de, n_en = len(de.split(" ")), len(en.split(" "))
        assert 1 <= n_de <= 175 and 1 <= n_en <= 175
        assert max(n_de, n_en) / min(n_de, n_en) <= 1.5
        assert de == lowercase(de) and en == lowercase(en)
    pairs = set(zip(train["de"], train["en"]))
    for de, en, kept in cleaning_cases:
        case = (lowercase(tokenize(de, "de")), lowercase(tokenize(en, "en")))
        assert (case in pairs) == kept, case
    too_long = raw_en[-1]
    assert len(tokenize(too_long, "en").split()) > 175
    assert lowercase(tokenize(too_long, "en")) not in train["en"]


def test_bpe_text_and_codes(prepared):
    codes = prepared.codes.read_text(encoding="utf-8").splitlines()
    assert codes[0] == "#version: 0.2" and 1 < len(codes) <= 2001
    tmp = prepared.text_dir / "tmp"
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            assert _unbpe(prepared.text_file(split, lang)) == list(read_lines(tmp / f"{split}.{lang}"))
    assert any("@@ " in line for line in read_lines(prepared.text_file("test", "en")))


def test_binarized_with_a_joined_dictionary(prepared):
    from fairseq.data import data_utils
    from fairseq.data.dictionary import Dictionary

    bin_dir = prepared.bin_dir
    assert (bin_dir / "dict.de.txt").read_bytes() == (bin_dir / "dict.en.txt").read_bytes()
    dictionary = Dictionary.load(str(bin_dir / "dict.de.txt"))
    for split, pairs in prepared.pairs.items():
        for lang in ("de", "en"):
            dataset = data_utils.load_indexed_dataset(str(bin_dir / f"{split}.de-en.{lang}"), dictionary)
            assert len(dataset) == pairs
    first = dictionary.string(data_utils.load_indexed_dataset(str(bin_dir / "test.de-en.en"), dictionary)[0])
    assert first == next(read_lines(prepared.text_file("test", "en")))


def test_rerun_is_a_no_op(prepared, iwslt_raw, capsys):
    before = {p: p.stat().st_mtime_ns for p in prepared.text_dir.rglob("*") if p.is_file()}
    again = prepare_iwslt14(prepared.text_dir, raw_dir=iwslt_raw, bpe_tokens=2000)
    assert again == prepared == load_prepared(prepared.text_dir)
    log = capsys.readouterr().err
    assert "[binarize] up to date" in log and "running" not in log
    after = {p: p.stat().st_mtime_ns for p in prepared.text_dir.rglob("*") if p.is_file()}
    changed = [p.name for p in before if after[p] != before[p]]
    assert set(changed) - {".lock"} == {"prep.json"}  # .lock records each run's process


def test_cli_from_the_archive_matches_the_raw_dir_run(tmp_path, iwslt_raw, prepared, capsys):
    archive = tmp_path / "de-en.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(iwslt_raw / "de-en", arcname="de-en")
    out = tmp_path / "prep"
    assert main(["data", "iwslt14", "--archive", str(archive), "--output-dir", str(out),
                 "--bpe-tokens", "2000", "--no-binarize"]) == 0
    printed = capsys.readouterr().out
    assert "test 6,750" in printed and str(out) in printed
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            assert (out / f"{split}.{lang}").read_bytes() == prepared.text_file(split, lang).read_bytes()
    manifest = json.loads((out / "prep.json").read_text())
    assert manifest["complete"] and manifest["bin_dir"] is None
    assert (out / "orig" / "de-en" / "IWSLT14.TED.tst2012.de-en.en.xml").is_file()
    # binarizing afterwards reuses every text step
    assert main(["data", "iwslt14", "--archive", str(archive), "--output-dir", str(out),
                 "--bpe-tokens", "2000"]) == 0
    log = capsys.readouterr().err
    assert "[apply-bpe-test.en] up to date" in log and "[binarize] running" in log
    assert load_prepared(out).bin_dir == out / "data-bin"
