"""Bad input and interrupted runs: clear early errors or a resume, never a silent partial result."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

import knee_nlp.data.bpe
from knee_nlp.cli import main
from knee_nlp.data.iwslt14 import prepare_iwslt14
from knee_nlp.data.recipe import MANIFEST_NAME, load_prepared
from knee_nlp.data.wmt14 import check_raw_dir, prepare_wmt14


def _copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


class TestIwsltInput:
    def test_missing_file_is_named(self, tmp_path, iwslt_raw):
        raw = _copy_tree(iwslt_raw / "de-en", tmp_path / "de-en")
        (raw / "IWSLT14.TED.tst2011.de-en.en.xml").unlink()
        with pytest.raises(FileNotFoundError, match=r"IWSLT14\.TED\.tst2011\.de-en\.en\.xml"):
            prepare_iwslt14(tmp_path / "out", raw_dir=raw)
        assert not (tmp_path / "out").exists()

    def test_wrong_language_pair(self, tmp_path, iwslt_raw):
        raw = tmp_path / "fr-en"
        raw.mkdir()
        for path in (iwslt_raw / "de-en").iterdir():
            for lang in ("de", "en"):
                if path.name.endswith(f".{lang}") or path.name.endswith(f".{lang}.xml"):
                    new = path.name.replace("de-en", "fr-en").replace(".de.", ".fr.")
                    new = new[:-3] + ".fr" if new.endswith(".de") else new
                    shutil.copy(path, raw / new)
        with pytest.raises(FileNotFoundError, match=r"holds the fr-en pair, but this recipe prepares de-en"):
            prepare_iwslt14(tmp_path / "out", raw_dir=raw)

    def test_archive_without_the_release_files(self, tmp_path, iwslt_raw):
        archive = tmp_path / "de-en.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(iwslt_raw / "de-en" / "train.tags.de-en.de", arcname="de-en/train.tags.de-en.de")
        with pytest.raises(FileNotFoundError, match=r"lacks de-en/IWSLT14\.TED\.dev2010"):
            prepare_iwslt14(tmp_path / "out", archive=archive)
        assert not (tmp_path / "out" / "orig").exists()

    def test_exactly_one_source(self, tmp_path, iwslt_raw):
        with pytest.raises(ValueError, match="exactly one of raw_dir"):
            prepare_iwslt14(tmp_path / "out")
        with pytest.raises(ValueError, match="exactly one of raw_dir"):
            prepare_iwslt14(tmp_path / "out", raw_dir=iwslt_raw, archive=tmp_path / "x.tgz")

    def test_bad_options(self, tmp_path, iwslt_raw):
        with pytest.raises(ValueError, match="bpe_tokens must be an integer >= 1, got 0"):
            prepare_iwslt14(tmp_path / "out", raw_dir=iwslt_raw, bpe_tokens=0)

    def test_foreign_output_dir_is_not_touched(self, tmp_path, iwslt_raw):
        out = tmp_path / "out"
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        with pytest.raises(FileExistsError, match="not made by knee-nlp data"):
            prepare_iwslt14(out, raw_dir=iwslt_raw)
        assert [p.name for p in out.iterdir()] == ["notes.txt"]

    def test_cli_reports_errors_without_a_traceback(self, tmp_path):
        with pytest.raises(SystemExit, match=r"knee-nlp data iwslt14: error: --raw-dir .* is not a directory"):
            main(["data", "iwslt14", "--raw-dir", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "o")])
        with pytest.raises(SystemExit):  # argparse: --archive and --raw-dir are exclusive
            main(["data", "iwslt14", "--raw-dir", "a", "--archive", "b"])


def test_interrupted_run_resumes_to_the_same_result(tmp_path, iwslt_raw, iwslt_prepared, monkeypatch, capsys):
    """Ctrl-C in the middle of writing a BPE file: nothing partial under a final name, the
    directory reads as unfinished, other options are refused, and a re-run finishes it."""
    real_bpe_line, calls = knee_nlp.data.bpe.bpe_line, []

    def interrupted(line: str, codes: str, version: tuple[int, int] | None = None) -> str:
        calls.append(line)
        if len(calls) == 1000:
            raise KeyboardInterrupt
        return real_bpe_line(line, codes, version)

    out = tmp_path / "iwslt"
    monkeypatch.setattr(knee_nlp.data.bpe, "bpe_line", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=2000, binarize=False)
    monkeypatch.undo()

    assert (out / "code").is_file() and not (out / "train.de").exists()
    assert not list(out.glob(".*.partial"))
    with pytest.raises(RuntimeError, match="did not finish; re-run"):
        load_prepared(out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=3000, binarize=False)
    capsys.readouterr()

    data = prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=2000, binarize=False)
    log = capsys.readouterr().err
    assert "[tokenize-train.de] up to date" in log and "[learn-bpe] up to date" in log
    assert "[apply-bpe-train.de] running" in log
    assert load_prepared(out) == data
    for split in ("train", "valid", "test"):
        for lang in ("de", "en"):
            assert data.text_file(split, lang).read_bytes() == iwslt_prepared.text_file(split, lang).read_bytes()


def test_changed_intermediate_file_is_redone(tmp_path, iwslt_raw, capsys):
    out = tmp_path / "iwslt"
    prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=500, binarize=False)
    expected = (out / "test.en").read_bytes()
    (out / "test.en").write_text("tampered\n")
    capsys.readouterr()
    prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=500, binarize=False)
    assert "[apply-bpe-test.en] running" in capsys.readouterr().err
    assert (out / "test.en").read_bytes() == expected


class TestWmtInput:
    def test_missing_corpus_named(self, tmp_path, wmt_raw):
        with pytest.raises(FileNotFoundError, match=r"training/news-commentary-v12\.de-en\.en"):
            prepare_wmt14(tmp_path / "out", raw_dir=wmt_raw, news_commentary="v12")

    def test_missing_dev_set_named(self, tmp_path, wmt_raw):
        raw = _copy_tree(wmt_raw, tmp_path / "raw")
        shutil.rmtree(raw / "dev")
        with pytest.raises(FileNotFoundError, match=r"dev/newstest2013-src\.en\.sgm"):
            prepare_wmt14(tmp_path / "out", raw_dir=raw)

    def test_wrong_language_pair(self, tmp_path, wmt_raw):
        raw = _copy_tree(wmt_raw, tmp_path / "raw")
        for lang in ("de", "en"):
            source = raw / "training" / f"europarl-v7.de-en.{lang}"
            source.rename(source.with_name(f"europarl-v7.fr-en.{'fr' if lang == 'de' else 'en'}"))
        with pytest.raises(FileNotFoundError, match="holds Europarl for fr-en, but this recipe needs de-en"):
            prepare_wmt14(tmp_path / "out", raw_dir=raw)

    def test_plain_text_dev_set_accepted(self, tmp_path, wmt_raw):
        raw = _copy_tree(wmt_raw, tmp_path / "raw")
        for lang, side in (("en", "src"), ("de", "ref")):
            (raw / "dev" / f"newstest2013-{side}.{lang}.sgm").unlink()
            (raw / "dev" / f"newstest2013.{lang}").write_text("It’s a test.\n", encoding="utf-8")
        check_raw_dir(raw)
        (raw / "dev" / "newstest2013.de").unlink()
        with pytest.raises(FileNotFoundError, match=r"dev/newstest2013\.en \+ dev/newstest2013\.de"):
            check_raw_dir(raw)

    def test_unparallel_corpus(self, tmp_path, wmt_raw):
        raw = _copy_tree(wmt_raw, tmp_path / "raw")
        with open(raw / "commoncrawl.de-en.de", "a", encoding="utf-8") as handle:
            handle.write("Eine Zeile zu viel.\n")
        with pytest.raises(ValueError, match=r"commoncrawl\.de-en\.en has 600 lines, .*commoncrawl\.de-en\.de has 601 lines"):
            prepare_wmt14(tmp_path / "out", raw_dir=raw)
        assert not (tmp_path / "out").exists()  # compared before anything is written

    def test_bad_options(self, tmp_path, wmt_raw):
        with pytest.raises(ValueError, match="valid must be one of"):
            prepare_wmt14(tmp_path / "out", raw_dir=wmt_raw, valid="newstest2012")
        with pytest.raises(ValueError, match="news_commentary must be one of"):
            prepare_wmt14(tmp_path / "out", raw_dir=wmt_raw, news_commentary="v10")


@pytest.mark.parametrize("damage", ["", "[1]", "{\"request\": "], ids=["empty", "not-an-object", "cut-short"])
def test_a_damaged_step_stamp_redoes_the_step(tmp_path, damage):
    from knee_nlp.data.steps import Steps

    source, target = tmp_path / "in.txt", tmp_path / "out.txt"
    source.write_text("a\n")
    steps = Steps(tmp_path)
    step = dict(inputs=[source], outputs=[target], options={}, action=lambda: target.write_text("A\n"))
    assert steps.run("upper", **step) and not steps.run("upper", **step)
    (tmp_path / ".steps" / "upper.json").write_text(damage)
    assert steps.run("upper", **step)  # redone, not a crash
    assert not steps.run("upper", **step)


def test_sigterm_stops_a_preparation_like_ctrl_c(shared_data, tmp_path):
    """``kill`` (SIGTERM) gives the interrupted message and status 130, as Ctrl-C does."""
    import signal
    import subprocess
    import sys

    argv = [sys.executable, "-m", "knee_nlp.cli", "data", "multi30k", "--raw-dir",
            str(shared_data / "multi30k" / "raw"), "--output-dir", str(tmp_path / "m30k")]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert process.stderr.read(1)  # the command has started its work (and printed)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130, rest.decode()[-2000:]
    assert "knee-nlp data: interrupted" in rest.decode()


def test_rewritten_codes_file_is_read_again(tmp_path):
    from knee_nlp.data.bpe import bpe_line, codes_version

    codes = tmp_path / "code"
    codes.write_text("#version: 0.2\nl o\n")
    assert bpe_line("low", str(codes), codes_version(codes)) == "lo@@ w"
    codes.write_text("#version: 0.2\no w</w>\nl ow</w>\n")
    assert bpe_line("low", str(codes), codes_version(codes)) == "low"


def test_overwrite_never_deletes_the_raw_files_it_reads(tmp_path):
    from knee_nlp.data.recipe import open_output_dir

    out = tmp_path / "prepared"
    open_output_dir(out, "multi30k", {"bpe_tokens": 10_000})
    (out / "raw").mkdir()
    (out / "raw" / "train.de.gz").write_bytes(b"release file")
    with pytest.raises(FileExistsError, match=r"--overwrite would delete .*raw, inside .*prepared: move the raw"):
        open_output_dir(out, "multi30k", {"bpe_tokens": 8000}, overwrite=True, inputs=(out / "raw",))
    assert (out / "raw" / "train.de.gz").read_bytes() == b"release file"


def test_a_data_bin_of_other_text_is_removed_when_not_binarizing(tmp_path, iwslt_raw, iwslt_prepared):
    out = tmp_path / "copy"
    shutil.copytree(iwslt_prepared.text_dir, out)
    prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=2000, binarize=False)
    assert (out / "data-bin").is_dir()  # still made from this text: kept for a later binarize
    (out / ".steps" / "binarize.json").unlink()  # as after a re-run on changed input files
    prepare_iwslt14(out, raw_dir=iwslt_raw, bpe_tokens=2000, binarize=False)
    assert not (out / "data-bin").exists() and load_prepared(out).bin_dir is None


def test_reproduce_refuses_an_unfinished_preparation(tmp_path, iwslt_prepared):
    out = tmp_path / "copy"
    shutil.copytree(iwslt_prepared.text_dir, out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    (out / MANIFEST_NAME).write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(SystemExit, match="did not finish; re-run `knee-nlp data iwslt14`"):
        main(["reproduce", "iwslt14", "--preset", "tiny", "--data-dir", str(out), "--run-dir",
              str(tmp_path / "run"), "--dry-run"])
