"""The IWSLT'14 test set and BPE against the files fairseq's prepare-iwslt14.sh produced.

The reference (``../shared/data/iwslt14-de-en``) holds the raw TED XML, the recipe's tokenized +
lowercased test sets (per set and concatenated), its BPE'd test/valid and its 10k ``code``.
Measured: 13,500 of 13,500 test lines (6,750 pairs, both languages) identical, every set at
100%, once the tokenizer splits the period off a line's last word as ``tokenizer.perl`` does
(sacremoses alone gets 13,469, 99.77%: it keeps ``U.S.`` or German ordinals like ``70.``
intact at the end of a line).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from knee_nlp.data.bpe import apply_bpe
from knee_nlp.data.extract import sgml_segments
from knee_nlp.data.iwslt14 import TEST_SETS
from knee_nlp.data.moses import lowercase, tokenize
from knee_nlp.data.parallel import read_lines

SET_PAIRS = {"IWSLT14.TED.dev2010": 887, "IWSLT14.TEDX.dev2012": 1165, "IWSLT14.TED.tst2010": 1565,
             "IWSLT14.TED.tst2011": 1433, "IWSLT14.TED.tst2012": 1700}


def _prepare_set(xml: Path, lang: str) -> list[str]:
    """What the recipe does to one test XML file: extract, tokenize, lowercase."""
    return [lowercase(tokenize(line, lang)) for line in sgml_segments(read_lines(xml))]


@pytest.fixture(scope="module")
def prepared_sets(iwslt_reference: Path) -> dict[tuple[str, str], tuple[list[str], list[str]]]:
    """``(set, lang) -> (ours, reference)`` for every test set."""
    result = {}
    for name in TEST_SETS:
        for lang in ("de", "en"):
            ours = _prepare_set(iwslt_reference / "orig-xml" / f"{name}.de-en.{lang}.xml", lang)
            reference = list(read_lines(iwslt_reference / "fairseq-tok" / "per-set" / f"{name}.de-en.{lang}"))
            result[name, lang] = (ours, reference)
    return result


@pytest.mark.parametrize("name", TEST_SETS)
@pytest.mark.parametrize("lang", ["de", "en"])
def test_each_test_set_matches_the_recipe_line_for_line(prepared_sets, name, lang):
    ours, reference = prepared_sets[name, lang]
    assert len(ours) == len(reference) == SET_PAIRS[name]
    identical = sum(a == b for a, b in zip(ours, reference))
    differing = [(i, a, b) for i, (a, b) in enumerate(zip(ours, reference)) if a != b]
    assert identical / len(reference) == 1.0, f"{name}.{lang}: first differences {differing[:3]}"


def test_concatenated_test_set_is_the_recipes_6750_pairs(prepared_sets, iwslt_reference):
    for lang in ("de", "en"):
        ours = [line for name in TEST_SETS for line in prepared_sets[name, lang][0]]
        reference = list(read_lines(iwslt_reference / "fairseq-tok" / f"test.{lang}"))
        assert len(ours) == len(reference) == 6750
        assert ours == reference


def test_plain_sacremoses_differs_only_in_the_last_word_rule(iwslt_reference):
    """Why the tokenizer subclass exists: without it these lines keep ``U.S.`` unsplit."""
    from sacremoses import MosesTokenizer

    xml = iwslt_reference / "orig-xml" / "IWSLT14.TED.dev2010.de-en.en.xml"
    reference = list(read_lines(iwslt_reference / "fairseq-tok" / "per-set" / "IWSLT14.TED.dev2010.de-en.en"))
    plain = MosesTokenizer(lang="en")
    ours = [lowercase(plain.tokenize(line, return_str=True, escape=True))
            for line in sgml_segments(read_lines(xml))]
    differing = [(a, b) for a, b in zip(ours, reference) if a != b]
    assert len(differing) == 4
    assert all(b == a[:-1] + " ." for a, b in differing)


@pytest.mark.parametrize("split", ["test", "valid"])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_shipped_code_gives_the_shipped_bpe_text(iwslt_reference, tmp_path, split, lang):
    output = apply_bpe(iwslt_reference / "fairseq-bpe" / "code",
                       iwslt_reference / "fairseq-tok" / f"{split}.{lang}", tmp_path / f"{split}.{lang}")
    expected = iwslt_reference / "fairseq-bpe" / f"{split}.{lang}"
    assert output.read_bytes() == expected.read_bytes()


def test_bpe_with_two_workers_is_identical(iwslt_reference, tmp_path):
    code, source = iwslt_reference / "fairseq-bpe" / "code", iwslt_reference / "fairseq-tok" / "test.de"
    parallel = apply_bpe(code, source, tmp_path / "test.de", workers=2)
    assert parallel.read_bytes() == (iwslt_reference / "fairseq-bpe" / "test.de").read_bytes()
