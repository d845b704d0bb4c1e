"""Fixtures for the data-preparation tests: miniature raw corpora built from the real reference
text in ``../shared/data`` (the IWSLT'14 TED XML, newstest2014 and Multi30k), in each recipe's
release layout."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import pytest

from knee_nlp.data.extract import sgml_segments
from knee_nlp.data.iwslt14 import TEST_SETS
from knee_nlp.data.parallel import read_lines

_META = re.compile(r"<(url|description|keywords|talkid|title)>")
_SEG = re.compile(r"<seg id=\"\d+\">\s*(.*?)\s*</seg>")


@pytest.fixture(scope="session")
def iwslt_reference(shared_data: Path) -> Path:
    return shared_data / "iwslt14-de-en"


@pytest.fixture(scope="session")
def wmt_reference(shared_data: Path) -> Path:
    return shared_data / "wmt14-newstest2014-de-en"


def ted_talks_as_train_tags(xml: Path) -> list[str]:
    """A TED XML file rewritten in the ``train.tags`` layout: each talk's metadata lines as
    they appear in the XML, then one transcript line per segment."""
    lines = []
    for line in read_lines(xml):
        stripped = line.strip()
        if _META.match(stripped):
            lines.append(stripped)
        elif match := _SEG.search(stripped):
            lines.append(match.group(1))
    return lines


#: Pairs appended to the training talks to exercise every cleaning rule of the recipe.
#: ``(German, English, kept)``; the recipe cleans with ratio 1.5 and 1-175 tokens.
_CLEANING_CASES = [
    ("", "", False),                                          # empty: dropped
    ("Ja.", "Yes, I really do think so, my friend.", False),  # 2 vs 11 tokens: ratio > 1.5
    ("Danke schön.", "Thank you.", True),                     # 3 vs 3 tokens: kept
]


@pytest.fixture(scope="session")
def cleaning_cases() -> list[tuple[str, str, bool]]:
    """The extra training pairs in ``iwslt_raw``: ``(German, English, kept by the recipe)``."""
    return _CLEANING_CASES


@pytest.fixture(scope="session")
def iwslt_raw(tmp_path_factory: pytest.TempPathFactory, iwslt_reference: Path) -> Path:
    """``<tmp>/de-en/``: the ten real test XML files plus ``train.tags.de-en.{de,en}`` made of
    the TED tst2010 talks in the train.tags layout, the cleaning cases and one pair over 175
    tokens."""
    root = tmp_path_factory.mktemp("iwslt-raw")
    folder = root / "de-en"
    folder.mkdir()
    xml = iwslt_reference / "orig-xml"
    for name in TEST_SETS:
        for lang in ("de", "en"):
            shutil.copy(xml / f"{name}.de-en.{lang}.xml", folder)
    for index, lang in enumerate(("de", "en")):
        lines = ted_talks_as_train_tags(xml / f"IWSLT14.TED.tst2010.de-en.{lang}.xml")
        segments = list(sgml_segments(read_lines(xml / f"IWSLT14.TED.tst2011.de-en.{lang}.xml")))
        too_long = " ".join(segments[:20])  # over 175 tokens on both sides
        lines += [case[index] for case in _CLEANING_CASES] + [too_long]
        (folder / f"train.tags.de-en.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def iwslt_prepared(tmp_path_factory: pytest.TempPathFactory, iwslt_raw: Path):
    """The full IWSLT'14 recipe on ``iwslt_raw``, binarization included, with 2,000 BPE merges."""
    from knee_nlp.data.iwslt14 import prepare_iwslt14

    out = tmp_path_factory.mktemp("iwslt-prepared") / "iwslt14.tokenized.de-en"
    return prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=2000)


def _write_sgm(path: Path, lines: list[str], setid: str) -> None:
    body = [f'<srcset setid="{setid}" srclang="any">', '<doc docid="1" genre="news">']
    body += [f'<seg id="{number}">{line}</seg>' for number, line in enumerate(lines, 1)]
    path.write_text("\n".join(body + ["</doc>", "</srcset>"]) + "\n", encoding="utf-8")


@pytest.fixture(scope="session")
def wmt_raw(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, wmt_reference: Path) -> Path:
    """A miniature of prepare-wmt14en2de.sh's ``orig/`` from real text: the three training
    corpora are slices of newstest2014 (600 pairs each), dev/newstest2013 is Multi30k's
    validation set as sgm, test-full holds the real newstest2014 sgm files."""
    raw = tmp_path_factory.mktemp("wmt-raw")
    for folder in ("training", "dev", "test-full"):
        (raw / folder).mkdir()
    side = {"en": "src", "de": "ref"}
    for lang in ("en", "de"):
        sgm = wmt_reference / f"newstest2014-deen-{side[lang]}.{lang}.sgm"
        shutil.copy(sgm, raw / "test-full")
        text = list(sgml_segments(read_lines(sgm)))
        corpora = ["training/europarl-v7.de-en", "commoncrawl.de-en", "training/news-commentary-v9.de-en"]
        for number, prefix in enumerate(corpora):
            chunk = text[600 * number:600 * (number + 1)]
            (raw / f"{prefix}.{lang}").write_text("\n".join(chunk) + "\n", encoding="utf-8")
        with gzip.open(shared_data / "multi30k" / "raw" / f"val.{lang}.gz", "rt", encoding="utf-8") as f:
            dev = f.read().splitlines()[:300]
        _write_sgm(raw / "dev" / f"newstest2013-{side[lang]}.{lang}.sgm", dev, "newstest2013")
    return raw
