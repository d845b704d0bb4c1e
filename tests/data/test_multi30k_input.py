"""Multi30k input: downloads from a loopback HTTP server serving the shared release files, and
bad raw folders or output folders. Nothing here reaches the internet."""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from knee_nlp.cli import main
from knee_nlp.data.files import sha256_file
from knee_nlp.data.multi30k import (
    RAW_SHA256, download_file, download_raw, prepare_multi30k, release_sets,
)
from knee_nlp.data.parallel import read_lines


@pytest.fixture(scope="module")
def m30k_raw(shared_data: Path) -> Path:
    return shared_data / "multi30k" / "raw"


class _Handler(SimpleHTTPRequestHandler):
    """Serves ``directory``; under ``/truncated/`` it announces the whole file but sends half."""

    requests: list[str] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        if not self.path.startswith("/truncated/"):
            return super().do_GET()
        body = Path(self.directory, self.path.removeprefix("/truncated/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.close_connection = True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, m30k_raw: Path):
    """``(base_url, requests)``: ``base/good/`` holds the release files, ``base/wrong/`` the same
    names with train.de.gz replaced by val.de.gz, ``base/truncated/good/...`` cuts files short."""
    root = tmp_path_factory.mktemp("m30k-www")
    shutil.copytree(m30k_raw, root / "good")
    shutil.copytree(m30k_raw, root / "wrong")
    shutil.copy(m30k_raw / "val.de.gz", root / "wrong" / "train.de.gz")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.requests
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


class TestDownload:
    def test_downloads_and_checks_every_file_then_reuses_them(self, tmp_path, server, m30k_raw):
        base, requests = server
        raw = download_raw(tmp_path / "raw", base_url=f"{base}/good")
        assert _leftovers(raw) == sorted(RAW_SHA256)
        for name in RAW_SHA256:
            assert (raw / name).read_bytes() == (m30k_raw / name).read_bytes()
        requests.clear()
        download_raw(tmp_path / "raw", base_url=f"{base}/good/")  # all present and verified
        assert requests == []

    def test_wrong_checksum_leaves_nothing(self, tmp_path, server):
        base, _ = server
        with pytest.raises(ValueError, match=r"good/train\.de\.gz has SHA-256 726e39b2[0-9a-f]{56}, "
                                             r"expected d79cfa99"):
            download_file(f"{base}/good/train.de.gz", tmp_path / "train.de.gz",
                          RAW_SHA256["train.en.gz"])
        assert _leftovers(tmp_path) == []
        with pytest.raises(ValueError, match=r"wrong/train\.de\.gz has SHA-256 .* not the Multi30k"):
            download_raw(tmp_path / "raw", base_url=f"{base}/wrong")
        assert "train.de.gz" not in _leftovers(tmp_path / "raw")
        assert not [name for name in _leftovers(tmp_path / "raw") if "partial" in name]

    def test_truncated_file_leaves_nothing(self, tmp_path, server):
        base, _ = server
        with pytest.raises(RuntimeError, match=r"truncated/good/val\.en\.gz"):
            download_file(f"{base}/truncated/good/val.en.gz", tmp_path / "val.en.gz",
                          RAW_SHA256["val.en.gz"])
        assert _leftovers(tmp_path) == []

    def test_unreachable_or_missing_file(self, tmp_path, server):
        base, _ = server
        with pytest.raises(RuntimeError, match=r"could not download .*/nowhere/val\.en\.gz: HTTP 404"):
            download_file(f"{base}/nowhere/val.en.gz", tmp_path / "val.en.gz", RAW_SHA256["val.en.gz"])
        with pytest.raises(RuntimeError, match="could not download http://127.0.0.1:9/"):
            download_file("http://127.0.0.1:9/val.en.gz", tmp_path / "val.en.gz", "0" * 64)
        assert _leftovers(tmp_path) == []

    def test_cli_download_prepares_into_the_output_dir(self, tmp_path, server, shared_data, capsys):
        base, _ = server
        out = tmp_path / "m30k"
        assert main(["data", "multi30k", "--download", "--base-url", f"{base}/good",
                     "--output-dir", str(out), "--bpe-tokens", "300", "--no-binarize"]) == 0
        assert "test2 461" in capsys.readouterr().out
        assert _leftovers(out / "raw") == sorted(RAW_SHA256)
        tok = shared_data / "multi30k" / "tok"
        for name in ("val", "test_2017_mscoco"):
            for lang in ("de", "en"):
                assert (list(read_lines(out / "tmp" / f"{name}.lc.norm.tok.{lang}"))
                        == list(read_lines(tok / f"{name}.lc.norm.tok.{lang}")))
        assert json.loads((out / "prep.json").read_text())["pairs"]["train"] == 29000

    def test_cli_download_failure_is_a_clean_error(self, tmp_path, server):
        base, _ = server
        out = tmp_path / "m30k"
        with pytest.raises(SystemExit, match=r"knee-nlp data multi30k: error: download of .*"
                                             r"train\.de\.gz has SHA-256"):
            main(["data", "multi30k", "--download", "--base-url", f"{base}/wrong",
                  "--output-dir", str(out), "--no-binarize"])
        assert "train.de.gz" not in _leftovers(out / "raw")
        assert not [name for name in _leftovers(out) if "partial" in name]


def _raw_copy(source: Path, target: Path, *, drop: tuple[str, ...] = ()) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.name not in drop:
            shutil.copy(path, target / path.name)
    return target


class TestBadInput:
    def test_missing_file_is_named(self, tmp_path, m30k_raw):
        raw = _raw_copy(m30k_raw, tmp_path / "raw", drop=("test_2017_mscoco.en.gz",))
        with pytest.raises(FileNotFoundError, match=r"lacks 1 file\(s\): test_2017_mscoco\.en\.gz$"):
            prepare_multi30k(tmp_path / "out", raw_dir=raw)
        assert not (tmp_path / "out").exists()

    def test_test_2018_is_optional_but_needs_both_sides(self, tmp_path, m30k_raw):
        raw = _raw_copy(m30k_raw, tmp_path / "raw",
                        drop=("test_2018_flickr.de.gz", "test_2018_flickr.en.gz"))
        assert set(release_sets(raw).values()) == {"train", "valid", "test", "test1", "test2"}
        (raw / "test_2018_flickr.de.gz").write_bytes((m30k_raw / "test_2018_flickr.de.gz").read_bytes())
        with pytest.raises(FileNotFoundError, match=r"test_2018_flickr\.en\.gz"):
            release_sets(raw)

    def test_another_language_pair(self, tmp_path, m30k_raw):
        raw = tmp_path / "raw"
        raw.mkdir()
        for path in m30k_raw.glob("*.de.gz"):  # a French-English folder, by its names
            shutil.copy(path, raw / path.name.replace(".de.", ".fr."))
        for path in m30k_raw.glob("*.en.gz"):
            shutil.copy(path, raw / path.name)
        with pytest.raises(FileNotFoundError, match=r"lacks 6 file\(s\): train\.de\.gz, .*it holds "
                                                    r"Multi30k files for en, fr, but this recipe prepares de-en"):
            prepare_multi30k(tmp_path / "out", raw_dir=raw)

    def test_wrong_file_fails_its_checksum(self, tmp_path, m30k_raw):
        raw = _raw_copy(m30k_raw, tmp_path / "raw")
        shutil.copy(m30k_raw / "val.en.gz", raw / "val.de.gz")  # swapped sides
        with pytest.raises(ValueError, match=r"raw/val\.de\.gz has SHA-256 14f7d25d.*, but the "
                                             r"Multi30k release file val\.de\.gz .* has f0cba2f9"):
            prepare_multi30k(tmp_path / "out", raw_dir=raw)
        assert not (tmp_path / "out").exists()

    def test_skipping_checksums_still_needs_gzip(self, tmp_path, m30k_raw):
        raw = _raw_copy(m30k_raw, tmp_path / "raw")
        (raw / "val.de.gz").write_text("not gzip\n")
        with pytest.raises(ValueError, match=r"val\.de\.gz is not a readable gzipped text file"):
            prepare_multi30k(tmp_path / "out", raw_dir=raw, verify_checksums=False, binarize=False)
        assert sha256_file(m30k_raw / "val.de.gz") == RAW_SHA256["val.de.gz"]

    def test_another_setups_output_dir_is_not_touched(self, tmp_path, m30k_raw):
        other = tmp_path / "iwslt"
        other.mkdir()
        manifest = {"recipe": "iwslt14", "options": {"bpe_tokens": 10000, "joined_dictionary": True},
                    "complete": True}
        (other / "prep.json").write_text(json.dumps(manifest))
        (other / "train.de").write_text("x\n")
        before = {p.name: p.read_bytes() for p in other.iterdir()}
        with pytest.raises(FileExistsError, match="holds a iwslt14 preparation"):
            prepare_multi30k(other, raw_dir=m30k_raw)
        (tmp_path / "mine").mkdir()
        (tmp_path / "mine" / "notes.txt").write_text("mine\n")
        with pytest.raises(FileExistsError, match="is not empty and has no prep.json"):
            prepare_multi30k(tmp_path / "mine", download=True, base_url="http://127.0.0.1:9")
        assert {p.name: p.read_bytes() for p in other.iterdir()} == before
        assert _leftovers(tmp_path / "mine") == ["notes.txt"]

    def test_bad_options(self, tmp_path, m30k_raw):
        with pytest.raises(ValueError, match="exactly one of raw_dir"):
            prepare_multi30k(tmp_path / "out")
        with pytest.raises(ValueError, match="exactly one of raw_dir"):
            prepare_multi30k(tmp_path / "out", raw_dir=m30k_raw, download=True)
        with pytest.raises(ValueError, match="joined dictionary"):
            prepare_multi30k(tmp_path / "out", raw_dir=m30k_raw, joined_dictionary=False)
        with pytest.raises(ValueError, match="bpe_tokens must be an integer >= 1, got 0"):
            prepare_multi30k(tmp_path / "out", raw_dir=m30k_raw, bpe_tokens=0)
        assert not (tmp_path / "out").exists()

    def test_cli_errors(self, tmp_path):
        with pytest.raises(SystemExit, match=r"error: --raw-dir .*nowhere is not a directory"):
            main(["data", "multi30k", "--raw-dir", str(tmp_path / "nowhere"),
                  "--output-dir", str(tmp_path / "o")])
        with pytest.raises(SystemExit, match="--base-url goes with --download"):
            main(["data", "multi30k", "--raw-dir", str(tmp_path), "--base-url", "http://127.0.0.1:9",
                  "--output-dir", str(tmp_path / "o")])
        with pytest.raises(SystemExit):  # argparse: one of --raw-dir / --download
            main(["data", "multi30k", "--raw-dir", str(tmp_path), "--download"])
        assert not (tmp_path / "o").exists()
