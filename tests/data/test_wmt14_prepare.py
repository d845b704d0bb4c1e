"""``prepare_wmt14`` end to end on a miniature ``orig/`` made of real news text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knee_nlp.data.extract import sgml_segments
from knee_nlp.data.moses import normalize_punctuation, remove_non_printing, tokenize
from knee_nlp.data.parallel import read_lines
from knee_nlp.data.wmt14 import prepare_wmt14


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, wmt_raw):
    out = tmp_path_factory.mktemp("wmt-prepared") / "wmt14_en_de"
    return prepare_wmt14(out, raw_dir=wmt_raw, bpe_tokens=1000)


def _unbpe(path: Path) -> list[str]:
    return [line.replace("@@ ", "") for line in read_lines(path)]


def test_full_newstest2014_test_set(prepared, wmt_reference):
    assert prepared.pairs["test"] == 3003
    assert (prepared.source_lang, prepared.target_lang) == ("en", "de")
    for lang, side in (("en", "src"), ("de", "ref")):
        segments = list(sgml_segments(read_lines(wmt_reference / f"newstest2014-deen-{side}.{lang}.sgm")))
        expected = [tokenize(s, lang, aggressive_dash_splits=True) for s in segments]
        assert _unbpe(prepared.text_file("test", lang)) == expected


def test_training_text_is_normalized_and_aggressively_tokenized_not_lowercased(prepared, wmt_raw):
    tmp = prepared.text_dir / "tmp"
    raw_de = list(read_lines(wmt_raw / "training" / "europarl-v7.de-en.de"))
    tok_de = list(read_lines(tmp / "train.tags.en-de.tok.de"))
    assert len(tok_de) == 1800  # the three corpora, concatenated in the recipe's order
    index = next(i for i, line in enumerate(raw_de) if "„" in line and re.search(r"\w-\w", line))
    assert "„" not in tok_de[index] and "&quot;" in tok_de[index] and " @-@ " in tok_de[index]
    assert any(c.isupper() for c in tok_de[index])
    news = list(read_lines(wmt_raw / "training" / "news-commentary-v9.de-en.de"))
    normalized = remove_non_printing(normalize_punctuation(news[0], "de"))
    assert tok_de[1200] == tokenize(normalized, "de", aggressive_dash_splits=True)


def test_train_and_valid_cleaned_after_bpe_test_untouched(prepared):
    for split in ("train", "valid"):
        pairs = list(zip(read_lines(prepared.text_file(split, "en")), read_lines(prepared.text_file(split, "de"))))
        assert len(pairs) == prepared.pairs[split] > 0
        for en, de in pairs:
            n_en, n_de = len(en.split(" ")), len(de.split(" "))
            assert 1 <= n_en <= 250 and 1 <= n_de <= 250
            assert max(n_en, n_de) / min(n_en, n_de) <= 1.5
    assert prepared.pairs["train"] < 1800  # the ratio rule drops some real pairs
    assert prepared.pairs["valid"] <= 300  # newstest2013 (here: 300 Multi30k pairs)
    assert prepared.pairs["test"] == 3003  # kept whole


def test_binarized(prepared):
    assert (prepared.bin_dir / "dict.en.txt").read_bytes() == (prepared.bin_dir / "dict.de.txt").read_bytes()
    for split in ("train", "valid", "test"):
        assert (prepared.bin_dir / f"{split}.en-de.de.bin").stat().st_size > 0


def test_train_split_valid_is_every_100th_pair(tmp_path, wmt_raw):
    data = prepare_wmt14(tmp_path / "split", raw_dir=wmt_raw, bpe_tokens=500, valid="train-split",
                         binarize=False)
    tmp = data.text_dir / "tmp"
    tokenized = list(read_lines(tmp / "train.tags.en-de.tok.en"))
    assert list(read_lines(tmp / "valid.en")) == tokenized[99::100]
    assert len(list(read_lines(tmp / "train.en"))) == 1800 - 18
    assert data.bin_dir is None and data.pairs["valid"] <= 18
