"""Data is never misread silently: parallel files are compared whole before any subset is cut,
naming both files and both counts; a line that is not UTF-8 names its file and line; a re-run with
other data is refused before anything in the run directory is rewritten.

Covers ``knee-nlp data iwslt14|wmt14|multi30k`` (raw release files), ``knee-nlp reproduce`` (a
text folder or a data-bin given with ``--data-dir``) and ``fairseq_preprocess``.
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.data.iwslt14 import TEST_SETS, raw_files
from knee_nlp.data.multi30k import REQUIRED_SETS
from knee_nlp.reproduce.config import shipped_config_dir


def _lines(count: int, word: str) -> str:
    return "".join(f"{word} {number} .\n" for number in range(count))


def _xml(count: int) -> str:
    segments = "".join(f'<seg id="{number}"> satz {number} . </seg>\n' for number in range(1, count + 1))
    return f'<mteval>\n<doc docid="1">\n{segments}</doc>\n</mteval>\n'


@pytest.fixture
def iwslt_raw(tmp_path: Path) -> Path:
    """A miniature IWSLT'14 ``de-en/`` release folder with aligned sides."""
    raw = tmp_path / "de-en"
    raw.mkdir()
    for lang in ("de", "en"):
        (raw / f"train.tags.de-en.{lang}").write_text("<url>http://ted.com</url>\n" + _lines(30, lang))
        for name in TEST_SETS:
            (raw / f"{name}.de-en.{lang}.xml").write_text(_xml(4))
    return raw


@pytest.fixture
def wmt_raw(tmp_path: Path) -> Path:
    """A miniature of prepare-wmt14en2de.sh's ``orig/`` with aligned sides."""
    raw = tmp_path / "orig"
    for prefix in ("training/europarl-v7.de-en", "commoncrawl.de-en", "training/news-commentary-v9.de-en"):
        for lang in ("de", "en"):
            (raw / f"{prefix}.{lang}").parent.mkdir(parents=True, exist_ok=True)
            (raw / f"{prefix}.{lang}").write_text(_lines(20, lang))
    for lang in ("de", "en"):
        (raw / "dev").mkdir(exist_ok=True)
        (raw / "dev" / f"newstest2013.{lang}").write_text(_lines(5, lang))
    (raw / "test-full").mkdir()
    for lang, side in (("en", "src"), ("de", "ref")):
        (raw / "test-full" / f"newstest2014-deen-{side}.{lang}.sgm").write_text(_xml(6))
    return raw


@pytest.fixture
def m30k_raw(tmp_path: Path) -> Path:
    """Multi30k's required ``.gz`` release files, aligned (checksums skipped)."""
    raw = tmp_path / "m30k"
    raw.mkdir()
    for name in REQUIRED_SETS:
        for lang in ("de", "en"):
            with gzip.open(raw / f"{name}.{lang}.gz", "wt", encoding="utf-8") as handle:
                handle.write(_lines(8, lang))
    return raw


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def _gzip(path: Path, data: bytes) -> None:
    with gzip.open(path, "wb") as handle:
        handle.write(data)


# (case, corpus, how to damage it (folder -> None), fragments of the error)
DAMAGED_RAW: list[tuple[str, str, Callable[[Path], None], tuple[str, ...]]] = [
    ("iwslt: training talks one line short", "iwslt",
     lambda raw: (raw / "train.tags.de-en.en").write_text("<url>x</url>\n" + _lines(29, "en")),
     ("train.tags.de-en.de has 30 text lines", "train.tags.de-en.en has 29 text lines")),
    ("iwslt: a test set one segment short", "iwslt",
     lambda raw: (raw / "IWSLT14.TED.tst2011.de-en.en.xml").write_text(_xml(3)),
     ("IWSLT14.TED.tst2011.de-en.de.xml has 4 segments", "IWSLT14.TED.tst2011.de-en.en.xml has 3 segments")),
    ("iwslt: latin-1 in the training talks", "iwslt",
     lambda raw: _append(raw / "train.tags.de-en.de", "Käse .\n".encode("latin-1")),
     ("train.tags.de-en.de, line 32", "not UTF-8")),
    ("iwslt: latin-1 in a test set", "iwslt",
     lambda raw: _append(raw / "IWSLT14.TED.dev2010.de-en.en.xml", b"<seg id=\"5\">caf\xe9</seg>\n"),
     ("IWSLT14.TED.dev2010.de-en.en.xml, line 9", "not UTF-8")),
    ("wmt: Europarl one line longer", "wmt",
     lambda raw: _append(raw / "training/europarl-v7.de-en.de", b"noch eine .\n"),
     ("europarl-v7.de-en.en has 20 lines", "europarl-v7.de-en.de has 21 lines")),
    ("wmt: newstest2014 one segment short", "wmt",
     lambda raw: (raw / "test-full" / "newstest2014-deen-ref.de.sgm").write_text(_xml(5)),
     ("newstest2014-deen-src.en.sgm has 6 segments", "newstest2014-deen-ref.de.sgm has 5 segments")),
    ("wmt: dev set one line short", "wmt",
     lambda raw: (raw / "dev" / "newstest2013.de").write_text(_lines(4, "de")),
     ("newstest2013.en has 5", "newstest2013.de has 4")),
    ("wmt: latin-1 in CommonCrawl", "wmt",
     lambda raw: (raw / "commoncrawl.de-en.de").write_bytes(_lines(19, "de").encode() + "Grüße .\n".encode("latin-1")),
     ("commoncrawl.de-en.de, line 20", "not UTF-8")),
    ("multi30k: train one line short", "m30k",
     lambda raw: _gzip(raw / "train.en.gz", _lines(7, "en").encode()),
     ("train.de.gz has 8 lines", "train.en.gz has 7 lines")),
    ("multi30k: latin-1 in val", "m30k",
     lambda raw: _gzip(raw / "val.de.gz", _lines(3, "de").encode() + "Bär\n".encode("latin-1") + _lines(4, "de").encode()),
     ("val.de.gz, line 4", "not UTF-8")),
    ("multi30k: a truncated gz", "m30k",
     lambda raw: (raw / "test_2016_flickr.en.gz").write_bytes((raw / "test_2016_flickr.en.gz").read_bytes()[:12]),
     ("test_2016_flickr.en.gz is not a readable gzipped text file",)),
]

COMMANDS = {
    "iwslt": lambda raw, out: ["data", "iwslt14", "--raw-dir", str(raw), "--output-dir", str(out), "--no-binarize"],
    "wmt": lambda raw, out: ["data", "wmt14", "--raw-dir", str(raw), "--output-dir", str(out), "--no-binarize"],
    "m30k": lambda raw, out: ["data", "multi30k", "--raw-dir", str(raw), "--skip-checksums", "--output-dir", str(out),
                              "--no-binarize"],
}


@pytest.mark.parametrize(("case", "corpus", "damage", "fragments"), DAMAGED_RAW, ids=[case[0] for case in DAMAGED_RAW])
def test_damaged_raw_files_are_named_before_anything_is_written(
        case: str, corpus: str, damage: Callable[[Path], None], fragments: tuple[str, ...], tmp_path: Path,
        request: pytest.FixtureRequest, run: Callable) -> None:
    raw = request.getfixturevalue(f"{corpus}_raw")
    damage(raw)
    run(main, COMMANDS[corpus](raw, tmp_path / "out")).clean_error(*fragments)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------
# knee-nlp reproduce --data-dir
# --------------------------------------------------------------------------------------------

def _text_corpus(folder: Path, counts: dict[str, int] | None = None) -> Path:
    """``{train,valid,test}.{de,en}``: ``counts`` pairs per split (default 12, 6, 6)."""
    folder.mkdir(parents=True)
    for split, count in (counts or {"train": 12, "valid": 6, "test": 6}).items():
        for lang in ("de", "en"):
            (folder / f"{split}.{lang}").write_text(_lines(count, f"w{lang}"))
    return folder


@pytest.fixture
def small_subset(tmp_path: Path) -> Path:
    """The shipped configs with the tiny preset's subset cut to 9 training pairs (one batch)."""
    configs = tmp_path / "configs"
    shutil.copytree(shipped_config_dir(), configs)
    tiny = configs / "iwslt14" / "tiny.yaml"
    tiny.write_text(tiny.read_text().replace("max_train_pairs: 600 ", "max_train_pairs: 9 "))
    return configs


def _reproduce(tmp_path: Path, data: Path, configs: Path) -> list[str]:
    """A dry run of the inverse-sqrt baseline (whose budget has room for any warmup) on ``data``."""
    return ["reproduce", "iwslt14", "--preset", "tiny", "--dry-run", "--run-dir", str(tmp_path / "run"),
            "--data-dir", str(data), "--config-dir", str(configs), "--schedules", "inverse_sqrt"]


# (case, how to damage the text corpus, fragments)
DAMAGED_TEXT: list[tuple[str, Callable[[Path], None], tuple[str, ...]]] = [
    ("a deleted line beyond the subset", lambda data: (data / "train.en").write_text(_lines(11, "wen")),
     ("train.de has 12 lines", "train.en has 11")),
    ("an extra line in test", lambda data: _append(data / "test.de", b"noch .\n"), ("test.de has 7 lines", "test.en has 6")),
    ("latin-1 in valid", lambda data: _append(data / "valid.en", b"caf\xe9\n"), ("valid.en, line 7", "not UTF-8")),
    ("a carriage return inside a line", lambda data: (data / "train.de").write_text("a\rb\n" + _lines(11, "wde")),
     ("train.de, line 1", "carriage return")),
]


@pytest.mark.parametrize(("case", "damage", "fragments"), DAMAGED_TEXT, ids=[case[0] for case in DAMAGED_TEXT])
def test_a_damaged_text_corpus_is_named_before_a_subset_is_cut(case: str, damage: Callable[[Path], None],
                                                               fragments: tuple[str, ...], tmp_path: Path,
                                                               small_subset: Path, run: Callable) -> None:
    data = _text_corpus(tmp_path / "text")
    damage(data)
    run(main, _reproduce(tmp_path, data, small_subset)).clean_error(*fragments)
    assert not (tmp_path / "run" / "data").exists()


def test_crlf_line_endings_are_read_as_line_ends(tmp_path: Path) -> None:
    from knee_nlp.reproduce.datasets import _text_subset

    data = _text_corpus(tmp_path / "text")
    (data / "train.de").write_bytes(_lines(12, "wde").replace("\n", "\r\n").encode())
    assert _text_subset(data, tmp_path / "out", "de", "en", {"max_train_pairs": 5})["train"] == 5
    assert (tmp_path / "out" / "train.de").read_text() == _lines(5, "wde")


def test_fairseq_preprocess_refuses_sides_of_different_length(tmp_path: Path) -> None:
    data = _text_corpus(tmp_path / "text")
    (data / "valid.en").write_text(_lines(5, "wen"))
    with pytest.raises(ValueError, match=r"valid\.de has 6 lines, .*valid\.en has 5 lines"):
        fairseq_preprocess("de", "en", tmp_path / "bin", trainpref=data / "train", validpref=data / "valid",
                           testpref=data / "test")
    assert not (tmp_path / "bin").exists()


def test_a_data_bin_with_sides_of_different_size_is_named(tmp_path: Path, small_subset: Path, run: Callable) -> None:
    """Binarized by fairseq itself (which does not compare the sides), then given to reproduce."""
    data = _text_corpus(tmp_path / "text")
    (data / "train.en").write_text(_lines(11, "wen"))
    from fairseq import options
    from fairseq_cli.preprocess import main as preprocess

    preprocess(options.get_preprocessing_parser().parse_args([
        "--source-lang", "de", "--target-lang", "en", "--trainpref", str(data / "train"), "--validpref",
        str(data / "valid"), "--testpref", str(data / "test"), "--destdir", str(tmp_path / "bin"),
        "--joined-dictionary"]))
    run(main, _reproduce(tmp_path, tmp_path / "bin", small_subset)).clean_error(
        "train.de-en.de.bin holds 12 sentences", "train.de-en.en.bin holds 11")
    assert not (tmp_path / "run" / "data").exists()


def test_a_rerun_with_other_data_is_refused_before_the_run_dir_changes(tmp_path: Path, small_subset: Path,
                                                                       run: Callable) -> None:
    first = _text_corpus(tmp_path / "first")
    other = _text_corpus(tmp_path / "other", {"train": 14, "valid": 6, "test": 6})
    run(main, _reproduce(tmp_path, first, small_subset)).accepted()
    files = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()
             and path.name != ".lock"}
    assert any(path.parent.name == "text" for path in files)
    run(main, _reproduce(tmp_path, other, small_subset)).clean_error(
        "data_origin differ", str(first), str(other), "choose another --run-dir")
    assert {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()
            and path.name != ".lock"} == files
    run(main, _reproduce(tmp_path, first, small_subset)).accepted()  # the same data resumes


def test_a_training_set_too_small_for_one_batch_is_named(tmp_path: Path, small_subset: Path, run: Callable) -> None:
    """fairseq forms batches of a multiple of 8 sentences: 5 pairs would train 0 updates an epoch."""
    data = _text_corpus(tmp_path / "text", {"train": 5, "valid": 6, "test": 6})
    run(main, _reproduce(tmp_path, data, small_subset)).clean_error(
        "the training data (5 pairs", "forms no batch", "--required-batch-size-multiple 8")


def test_a_damaged_prep_json_is_named(tmp_path: Path, iwslt_raw: Path, run: Callable) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "prep.json").write_text('{"recipe": "iwsl')
    run(main, COMMANDS["iwslt"](iwslt_raw, out)).clean_error("prep.json is damaged", "delete its folder")
    assert [path.name for path in out.iterdir() if path.name != ".lock"] == ["prep.json"]


# --------------------------------------------------------------------------------------------
# knee-nlp data: bad flags and paths, refused before anything is written
# --------------------------------------------------------------------------------------------

@pytest.fixture
def data_paths(tmp_path: Path, m30k_raw: Path) -> dict[str, Path]:
    import io
    import tarfile

    (tmp_path / "file").write_text("x\n")
    (tmp_path / "not-a-tar.tgz").write_text("not a tar archive\n")
    with tarfile.open(tmp_path / "cut.tgz", "w:gz") as tar:  # the release's files, then cut short
        for name in raw_files():
            body = _lines(2000, name).encode()
            member = tarfile.TarInfo(f"de-en/{name}")
            member.size = len(body)
            tar.addfile(member, io.BytesIO(body))
    whole = (tmp_path / "cut.tgz").read_bytes()
    (tmp_path / "cut.tgz").write_bytes(whole[:len(whole) * 2 // 3])
    (tmp_path / "empty").mkdir()
    return {"root": tmp_path, "m30k": m30k_raw}


BAD_DATA_FLAGS: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("iwslt: archive missing", ["iwslt14", "--archive", "@none.tgz"], ("--archive", "none.tgz is not a file")),
    ("iwslt: archive is a directory", ["iwslt14", "--archive", "@empty"], ("--archive", "is not a file")),
    ("iwslt: archive not a tar", ["iwslt14", "--archive", "@not-a-tar.tgz"], ("--archive", "is not a tar archive")),
    ("iwslt: archive cut short", ["iwslt14", "--archive", "@cut.tgz"], ("--archive", "cannot be read as a tar archive")),
    ("iwslt: raw dir is a file", ["iwslt14", "--raw-dir", "@file"], ("--raw-dir", "is not a directory")),
    ("iwslt: raw dir without the release", ["iwslt14", "--raw-dir", "@empty"], ("lacks 12 file(s)", "train.tags.de-en.de")),
    ("iwslt: no source", ["iwslt14"], ("one of the arguments --archive --raw-dir is required",)),
    ("iwslt: both sources", ["iwslt14", "--archive", "@a.tgz", "--raw-dir", "@empty"], ("not allowed with",)),
    ("iwslt: output dir is a file", ["iwslt14", "--raw-dir", "@empty", "--output-dir", "@file"],
     ("--output-dir", "is a file, not a directory")),
    ("iwslt: output dir under a file", ["iwslt14", "--raw-dir", "@empty", "--output-dir", "@file/out"],
     ("--output-dir", "is a file")),
    ("iwslt: workers 0", ["iwslt14", "--raw-dir", "@empty", "--workers", "0"], ("--workers", "'0'")),
    ("iwslt: bpe tokens negative", ["iwslt14", "--raw-dir", "@empty", "--bpe-tokens", "-1"], ("--bpe-tokens", "'-1'")),
    ("iwslt: bpe tokens not a number", ["iwslt14", "--raw-dir", "@empty", "--bpe-tokens", "10k"], ("--bpe-tokens", "'10k'")),
    ("wmt: raw dir missing", ["wmt14", "--raw-dir", "@none"], ("--raw-dir", "is not a directory")),
    ("wmt: raw dir without the release", ["wmt14", "--raw-dir", "@empty"], ("lacks", "europarl-v7.de-en.en")),
    ("wmt: news commentary v10", ["wmt14", "--raw-dir", "@empty", "--news-commentary", "v10"], ("--news-commentary", "'v10'")),
    ("wmt: valid set unknown", ["wmt14", "--raw-dir", "@empty", "--valid", "newstest2012"], ("--valid", "'newstest2012'")),
    ("multi30k: base url without download", ["multi30k", "--raw-dir", "@m30k", "--base-url", "http://x"],
     ("--base-url goes with --download",)),
    ("multi30k: base url not a URL", ["multi30k", "--download", "--base-url", "mirror/raw"], ("--base-url", "'mirror/raw'")),
    ("multi30k: checksum differs", ["multi30k", "--raw-dir", "@m30k"], ("SHA-256", "release file")),
    ("multi30k: separate dictionaries", ["multi30k", "--raw-dir", "@m30k", "--skip-checksums", "--separate-dictionaries"],
     ("separate dictionaries are not supported",)),
    ("multi30k: raw dir without the release", ["multi30k", "--raw-dir", "@empty"], ("lacks", "train.de.gz")),
]


@pytest.mark.parametrize(("case", "argv", "fragments"), BAD_DATA_FLAGS, ids=[case[0] for case in BAD_DATA_FLAGS])
def test_bad_data_flags_are_refused_before_anything_is_written(case: str, argv: list[str], fragments: tuple[str, ...],
                                                               data_paths: dict[str, Path], run: Callable) -> None:
    root = data_paths["root"]
    names = {"@m30k": str(data_paths["m30k"])}
    filled = [names.get(arg) or (str(root / arg[1:]) if arg.startswith("@") else arg) for arg in argv]
    if "--output-dir" not in filled:
        filled += ["--output-dir", str(root / "out")]
    run(main, ["data", *filled]).clean_error(*fragments)
    assert not (root / "out").exists()
