"""``prepare_multi30k`` end to end on the real release files in ``../shared/data/multi30k``.

The full recipe (29,000 training pairs, 10,000 merges, binarization) runs once per module,
about a minute on two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knee_nlp.data.multi30k import BPE_TOKENS, prepare_multi30k, tokenize_line
from knee_nlp.data.parallel import read_lines
from knee_nlp.data.recipe import load_prepared

SETS = ("train", "val", "test_2016_flickr", "test_2017_flickr", "test_2017_mscoco", "test_2018_flickr")
SPLIT_OF = {"train": "train", "val": "valid", "test_2016_flickr": "test",
            "test_2017_flickr": "test1", "test_2017_mscoco": "test2", "test_2018_flickr": "test3"}
PAIRS = {"train": 29000, "valid": 1014, "test": 1000, "test1": 1000, "test2": 461, "test3": 1071}
#: Lines (0-based) where the release's test_2018_flickr tokenization is not task1-tokenize.sh's:
#: the German file was normalized with English quote rules (``mundo“.`` -> ``mundo . "``), the
#: English one got a second normalize-punctuation pass after tokenizing (``sign :`` -> ``sign:``,
#: ``( photo ... )`` -> ``(photo ...) ``, ``6 : 51`` -> ``6: 51``).
RELEASE_2018_QUIRKS = {"de": [32, 1033], "en": [32, 203, 806]}


@pytest.fixture(scope="module")
def m30k_raw(shared_data: Path) -> Path:
    return shared_data / "multi30k" / "raw"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory, m30k_raw: Path):
    out = tmp_path_factory.mktemp("multi30k") / "multi30k.tokenized.de-en"
    return prepare_multi30k(out, raw_dir=m30k_raw, workers=2)


def _words(lines) -> list[list[str]]:
    """Tokens per line (BPE does not keep runs of spaces, which a few release lines have)."""
    return [line.replace("@@ ", "").split() for line in lines]


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("name", SETS)
def test_tokenization_matches_the_release(prepared, shared_data, name, lang):
    ours = list(read_lines(prepared.text_dir / "tmp" / f"{name}.lc.norm.tok.{lang}"))
    release = list(read_lines(shared_data / "multi30k" / "tok" / f"{name}.lc.norm.tok.{lang}"))
    assert len(ours) == len(release) == PAIRS[SPLIT_OF[name]]
    differ = [i for i, (a, b) in enumerate(zip(ours, release)) if a != b]
    assert differ == (RELEASE_2018_QUIRKS[lang] if name == "test_2018_flickr" else [])


def test_the_two_perl_details():
    # normalize-punctuation.perl -l de sees the newline: the period goes behind the closing quote
    assert (tokenize_line("Ein Schild: „Come on now ... what's gayer than tea.“", "de")
            == "ein schild : &quot; come on now ... what &apos; s gayer than tea &quot; .")
    # the 2017 tokenizer.perl keeps a last-word non-breaking prefix whole
    assert tokenize_line("Ein Bus der Linie A.", "de") == "ein bus der linie a."
    assert tokenize_line("Trikot mit der Nummer\u00a028.", "de") == "trikot mit der nummer 28."
    assert tokenize_line("A dog runs.", "en") == "a dog runs ."
    assert tokenize_line("", "en") == ""


def test_bpe_applied_to_every_split(prepared):
    codes = list(read_lines(prepared.codes))
    assert codes[0].startswith("#version") and len(codes) == BPE_TOKENS + 1
    for name in SETS:
        for lang in ("de", "en"):
            bpe = prepared.text_file(SPLIT_OF[name], lang)
            assert "@@ " in bpe.read_text(encoding="utf-8")
            tok = prepared.text_dir / "tmp" / f"{name}.lc.norm.tok.{lang}"
            assert _words(read_lines(bpe)) == _words(read_lines(tok))


def test_manifest_names_every_test_set(prepared):
    manifest = json.loads((prepared.text_dir / "prep.json").read_text())
    assert manifest["complete"] and manifest["recipe"] == "multi30k"
    assert manifest["pairs"] == PAIRS
    assert manifest["options"]["test_sets"] == {
        "test": "test_2016_flickr", "test1": "test_2017_flickr",
        "test2": "test_2017_mscoco", "test3": "test_2018_flickr"}
    assert load_prepared(prepared.text_dir) == prepared


def test_binarized_counts_with_one_joined_dictionary(prepared):
    from fairseq.data import data_utils
    from fairseq.data.dictionary import Dictionary

    bin_dir = prepared.bin_dir
    assert (bin_dir / "dict.de.txt").read_bytes() == (bin_dir / "dict.en.txt").read_bytes()
    dictionary = Dictionary.load(str(bin_dir / "dict.de.txt"))
    for split, pairs in PAIRS.items():
        for lang in ("de", "en"):
            dataset = data_utils.load_indexed_dataset(str(bin_dir / f"{split}.de-en.{lang}"),
                                                      dictionary)
            assert len(dataset) == pairs, (split, lang)
            # the extra test sets use the main dictionary: decoding gives back the BPE text
            assert dictionary.string(dataset[0]) == next(read_lines(prepared.text_file(split, lang)))
    assert not (prepared.text_dir / "tmp" / "data-bin-extra").exists()


def test_rerun_is_a_no_op(prepared, m30k_raw, capsys):
    before = {p: p.stat().st_mtime_ns for p in prepared.text_dir.rglob("*") if p.is_file()}
    again = prepare_multi30k(prepared.text_dir, raw_dir=m30k_raw)
    assert again == prepared
    log = capsys.readouterr().err
    assert "[binarize] up to date" in log and "running" not in log
    after = {p: p.stat().st_mtime_ns for p in prepared.text_dir.rglob("*") if p.is_file()}
    changed = [p.name for p in before if after[p] != before[p]]
    assert set(changed) - {".lock"} == {"prep.json"}  # .lock records each run's process


def test_other_options_are_refused_not_overwritten(prepared, m30k_raw):
    with pytest.raises(FileExistsError, match="holds a multi30k preparation with options"):
        prepare_multi30k(prepared.text_dir, raw_dir=m30k_raw, bpe_tokens=500)
    assert load_prepared(prepared.text_dir) == prepared
