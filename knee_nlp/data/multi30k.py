"""Multi30k task 1 German-English, prepared as the dataset's own ``scripts/task1-tokenize.sh``.

Recipe: each raw line of the release's ``data/task1/raw/*.{de,en}.gz`` is lowercased, then
``normalize-punctuation.perl -l LANG``, then ``tokenizer.perl -l LANG`` (the December 2017 Moses
snapshot the dataset ships), giving the release's ``*.lc.norm.tok.LANG`` files; 10,000 joint BPE
merges (subword-nmt) learned on train.de + train.en; ``fairseq-preprocess --joined-dictionary``.

Splits (text ``<split>.{de,en}`` and ``data-bin/<split>.de-en.*``; fairseq's ``--gen-subset``
names): train (29,000 pairs), valid = ``val`` (1,014), test = ``test_2016_flickr`` (1,000),
test1 = ``test_2017_flickr`` (1,000), test2 = ``test_2017_mscoco`` (461) and, where the raw
folder has it, test3 = ``test_2018_flickr`` (1,071). ``prep.json`` records the mapping under
``options.test_sets``.

Two details of the 2017 scripts decide the last few lines:

* ``normalize-punctuation.perl`` sees each line with its ``\\n``, so for German the rule
  ``s/(\\.+)\\"(\\s*[^<])/\\"$1$2/`` also moves a sentence-final period behind a closing quote
  (``„... tea.“`` -> ``"... tea".``); :func:`tokenize_line` normalizes the line with its newline.
* The 2017 ``tokenizer.perl`` does not yet split the period off a line's last word when that
  word is a non-breaking prefix (``nummer 28.``, ``linie a.``); sacremoses' tokenizer does the
  same, so this recipe uses it, not the fairseq recipes' :class:`PerlMosesTokenizer` (later Perl).

On the reference release every line of train, val, test_2016_flickr, test_2017_flickr and
test_2017_mscoco matches the release's tokenized files; test_2018_flickr differs in 5 of 2,142
lines because the release tokenized that set differently (see the README).

Input: ``raw_dir`` holding the release's ``.gz`` files, or ``download=True`` to fetch them from
the dataset's GitHub repository at :data:`RELEASE_REVISION` into ``<output_dir>/raw/``. Every file
is checked against the release's SHA-256 (:data:`RAW_SHA256`) before use.

Example::

    data = prepare_multi30k(Path("multi30k.tokenized.de-en"), download=True, workers=2)
    print(data.bin_dir, data.pairs)   # {'train': 29000, 'valid': 1014, 'test': 1000, 'test1': ...}
"""

from __future__ import annotations

import gzip
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import lru_cache, partial
from http.client import HTTPException
from pathlib import Path

from sacremoses import MosesTokenizer
from tqdm import tqdm

from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.atomic import atomic_file
from knee_nlp.data.files import sha256_file
from knee_nlp.data.moses import lowercase, normalize_punctuation
from knee_nlp.data.parallel import check_parallel, count_lines, decode_line
from knee_nlp.data.recipe import (
    SPLITS, PreparedData, bpe_steps, finish, open_output_dir, pair_counts, transform_step,
)
from knee_nlp.data.steps import Steps
from knee_nlp.errors import InvalidInputError, RunFailedError
from knee_nlp.validation import check_step_count

SOURCE, TARGET = "de", "en"
PAIR = f"{SOURCE}-{TARGET}"
LANGS = (SOURCE, TARGET)
#: 10,000 joint merges: the count public setups pass to the dataset's ``scripts/task1-bpe.sh``
#: (``task1-bpe.sh -m 10000``), and the same as this project's IWSLT'14 recipe.
BPE_TOKENS = 10_000
#: The dataset repository commit the raw files and checksums come from.
RELEASE_REVISION = "a3d2e0d26b56f3846f66a952536ffed4e401d05a"
BASE_URL = f"https://github.com/multi30k/dataset/raw/{RELEASE_REVISION}/data/task1/raw"
#: Release set -> prepared split name (fairseq's, for ``--testpref a,b,c``: test, test1, ...).
REQUIRED_SETS = {"train": "train", "val": "valid", "test_2016_flickr": "test",
                 "test_2017_flickr": "test1", "test_2017_mscoco": "test2"}
OPTIONAL_SETS = {"test_2018_flickr": "test3"}
RAW_SHA256 = {
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2017_flickr.de.gz": "a2c89666db00c495cd8513b9d708d5a3acc205d7de312ef2bf5fb7ebc1540aee",
    "test_2017_flickr.en.gz": "76a444ee25172e72695cddb13ae4a3bda59430617be88e0bb46b60504f054074",
    "test_2017_mscoco.de.gz": "799e4854c25d601cb6cb6be29eabe5667734c61ace2f495e03e429031a0bc338",
    "test_2017_mscoco.en.gz": "aab300bfb4427697987e02cd0aacd44bfe8aa50456231b6474c08038bbed2b58",
    "test_2018_flickr.de.gz": "ddd0130c7d97482dc5197a02141dae8dd79f20f03586c480d675c09a32daf608",
    "test_2018_flickr.en.gz": "ef4f4844037d4c5dea75c9a8ed5fd78905967a26f67c255e230cc9780032654d",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
}
TOK_SUFFIX = "lc.norm.tok"
_RAW_NAME = re.compile(r"(train|val|test_\d{4}_[a-z]+)\.([a-z]{2})\.gz")
_BLANK = re.compile(r"\s*")


def raw_name(release_set: str, lang: str) -> str:
    """The release's file name of one side of one set, e.g. ``val.de.gz``."""
    return f"{release_set}.{lang}.gz"


# ---------------------------------------------------------------------------------------------
# The dataset's preprocessing, one line at a time
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _tokenizer(lang: str) -> MosesTokenizer:
    return MosesTokenizer(lang=lang)


def tokenize_line(line: str, lang: str) -> str:
    """``lowercase.perl | normalize-punctuation.perl -l lang | tokenizer.perl -l lang`` on one
    line (the 2017 Moses scripts of ``task1-tokenize.sh``), without its newline."""
    text = normalize_punctuation(lowercase(line), lang)
    if _BLANK.fullmatch(text):
        return text  # tokenizer.perl passes blank lines through
    return _tokenizer(lang).tokenize(text, return_str=True, escape=True)


def gzip_lines(path: Path) -> Iterator[str]:
    """Lines of a gzipped UTF-8 file without their ``\\n``; ``ValueError`` naming a file that is
    not gzip (or is cut short), and the line that is not UTF-8."""
    try:
        with gzip.open(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                line = decode_line(raw, path, number)
                yield line[:-1] if line.endswith("\n") else line
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable gzipped text file: {error}") from None


def gzip_line_count(path: Path) -> int:
    """Number of lines :func:`gzip_lines` yields."""
    return sum(1 for _ in gzip_lines(path))


# ---------------------------------------------------------------------------------------------
# The raw files: checks and download
# ---------------------------------------------------------------------------------------------

def release_sets(raw_dir: Path) -> dict[str, str]:
    """``{release set: split}`` of the sets ``raw_dir`` holds: every required set plus
    test_2018_flickr where both of its files are there.

    Raises ``FileNotFoundError`` listing every missing file, naming the language(s) the folder
    holds if it is a Multi30k folder for another pair.
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"--raw-dir {raw} is not a directory")
    sets = dict(REQUIRED_SETS)
    for name, split in OPTIONAL_SETS.items():
        if any((raw / raw_name(name, lang)).is_file() for lang in LANGS):
            sets[name] = split  # then both sides are required
    missing = [raw_name(name, lang) for name in sets for lang in LANGS
               if not (raw / raw_name(name, lang)).is_file()]
    if missing:
        langs = sorted({m.group(2) for p in raw.iterdir() if (m := _RAW_NAME.fullmatch(p.name))})
        hint = (f"; it holds Multi30k files for {', '.join(langs)}, but this recipe prepares "
                f"{PAIR} (source {SOURCE}, target {TARGET})") if set(LANGS) - set(langs) else ""
        raise FileNotFoundError(f"Multi30k raw folder {raw} lacks {len(missing)} file(s): "
                                f"{', '.join(missing)}{hint}")
    return sets


def verify_checksum(path: Path) -> None:
    """Raise ``ValueError`` naming ``path`` unless its SHA-256 is the release's."""
    expected = RAW_SHA256[path.name]
    actual = sha256_file(path)
    if actual != expected:
        raise ValueError(f"{path} has SHA-256 {actual}, but the Multi30k release file "
                         f"{path.name} (revision {RELEASE_REVISION[:7]}) has {expected}")


class DownloadError(RunFailedError, RuntimeError):
    """A release file could not be fetched (network, HTTP error, cut-off transfer): exit status 1."""


def download_file(url: str, target: Path, sha256: str, *, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``target`` with a progress bar; ``target`` appears only once the
    whole body has arrived and its SHA-256 is ``sha256``.

    Raises ``RuntimeError`` if the transfer fails or is cut short, ``ValueError`` on a checksum
    mismatch; no partial file is left behind either way.
    """
    target = Path(target)
    try:
        with atomic_file(target) as work:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(work, "wb") as out:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                received = 0
                with tqdm(total=total, desc=target.name, unit="B", unit_scale=True,
                          leave=False) as bar:
                    while chunk := response.read(1 << 16):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
            if total is not None and received != total:
                raise DownloadError(f"download of {url} stopped after {received:,} of {total:,} "
                                    "bytes; run the command again to retry")
            actual = sha256_file(work)
            if actual != sha256:
                raise InvalidInputError(f"download of {url} has SHA-256 {actual}, expected {sha256}; "
                                        "the file at that address is not the Multi30k release file")
    except (urllib.error.URLError, HTTPException, OSError) as error:
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        else:
            reason = getattr(error, "reason", None) or error
        raise DownloadError(f"could not download {url}: {reason}; run the command again to retry, "
                            "or pass the release files you have with --raw-dir") from None
    return target


def download_raw(raw_dir: Path, *, base_url: str = BASE_URL) -> Path:
    """Every release file of :data:`RAW_SHA256` from ``base_url/<name>`` into ``raw_dir``,
    keeping files already there whose checksum matches; returns ``raw_dir``."""
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, sha256 in sorted(RAW_SHA256.items()):
        target = raw_dir / name
        if target.is_file() and sha256_file(target) == sha256:
            continue
        tqdm.write(f"[download] {name}", file=sys.stderr)
        download_file(f"{base_url.rstrip('/')}/{name}", target, sha256)
    return raw_dir


# ---------------------------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------------------------

def _tok_file(tmp: Path, release_set: str, lang: str) -> Path:
    return tmp / f"{release_set}.{TOK_SUFFIX}.{lang}"


def _tokenize(steps: Steps, raw: Path, tmp: Path, sets: dict[str, str], workers: int) -> None:
    """``tmp/<set>.lc.norm.tok.<lang>``, the release's tokenized files."""
    for name in sets:
        for lang in LANGS:
            source = raw / raw_name(name, lang)
            transform_step(steps, f"tokenize-{name}.{lang}", inputs=[source],
                           output=_tok_file(tmp, name, lang),
                           lines=lambda s=source: gzip_lines(s),
                           function=partial(tokenize_line, lang=lang), options={},
                           workers=workers)


def check_sets_parallel(raw: Path, sets: dict[str, str]) -> None:
    """Every release set's two gzipped sides have the same number of lines (whole files)."""
    for name in sets:
        check_parallel([raw / raw_name(name, lang) for lang in LANGS], count=gzip_line_count)


def _binarize(output_dir: Path, bin_dir: Path, extra_splits: list[str], workers: int) -> None:
    """``data-bin/`` with train/valid/test, then the extra test sets as test1, test2, ...,
    binarized with the same joined dictionary."""
    if bin_dir.exists():  # an earlier result from other inputs, made by this recipe
        shutil.rmtree(bin_dir)
    prefix = {split: output_dir / split for split in (*SPLITS, *extra_splits)}
    fairseq_preprocess(SOURCE, TARGET, bin_dir, trainpref=prefix["train"],
                       validpref=prefix["valid"], testpref=prefix["test"],
                       joined_dictionary=True, workers=workers)
    # fairseq_preprocess takes one prefix per split: the extra sets (up to three at a time) go
    # in as its train, valid and test, with the main dictionary, then are renamed into place.
    extra = output_dir / "tmp" / "data-bin-extra"
    for start in range(0, len(extra_splits), 3):
        group = extra_splits[start:start + 3]
        if extra.exists():
            shutil.rmtree(extra)
        fairseq_preprocess(SOURCE, TARGET, extra, trainpref=prefix[group[0]],
                           validpref=prefix[group[1 % len(group)]],
                           testpref=prefix[group[2]] if len(group) > 2 else None,
                           srcdict=bin_dir / f"dict.{SOURCE}.txt", joined_dictionary=True,
                           workers=workers)
        for slot, split in zip(SPLITS, group):
            for lang in LANGS:
                for suffix in ("bin", "idx"):
                    name = f"{PAIR}.{lang}.{suffix}"
                    (extra / f"{slot}.{name}").replace(bin_dir / f"{split}.{name}")
        shutil.rmtree(extra)


def prepare_multi30k(output_dir: Path, *, raw_dir: Path | None = None, download: bool = False,
                     base_url: str = BASE_URL, verify_checksums: bool = True,
                     bpe_tokens: int = BPE_TOKENS, workers: int = 1,
                     joined_dictionary: bool = True, binarize: bool = True,
                     overwrite: bool = False) -> PreparedData:
    """Run the whole recipe into ``output_dir``; re-running resumes or returns at once.

    Give ``raw_dir`` (the release's ``.gz`` files) or ``download=True`` (fetch them from
    ``base_url`` into ``output_dir/raw``; always checksummed). ``verify_checksums=False``
    accepts raw files that differ from the release (e.g. re-compressed copies).
    ``binarize=False`` stops after BPE (no fairseq needed).
    """
    if (raw_dir is None) == (not download):
        raise ValueError("give exactly one of raw_dir (--raw-dir) or download=True (--download)")
    if not joined_dictionary:
        raise ValueError("multi30k binarizes its extra test sets with the joined dictionary; "
                         "separate dictionaries are not supported")
    check_step_count("bpe_tokens", bpe_tokens, minimum=1)
    check_step_count("workers", workers, minimum=1)
    output_dir = Path(output_dir)
    if raw_dir is not None:
        raw = Path(raw_dir)
        sets = release_sets(raw)
        if verify_checksums:
            for name in sets:
                for lang in LANGS:
                    verify_checksum(raw / raw_name(name, lang))
        check_sets_parallel(raw, sets)
    else:
        sets = {**REQUIRED_SETS, **OPTIONAL_SETS}
    test_sets = {split: name for name, split in sets.items() if split.startswith("test")}
    options = {"bpe_tokens": bpe_tokens, "joined_dictionary": joined_dictionary,
               "test_sets": test_sets}
    steps = open_output_dir(output_dir, "multi30k", options, overwrite=overwrite,
                            inputs=(None if raw_dir is None else Path(raw_dir),))
    if download:
        raw = download_raw(output_dir / "raw", base_url=base_url)
        check_sets_parallel(raw, sets)
    tmp = output_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    _tokenize(steps, raw, tmp, sets, workers)
    bpe_steps(steps, train=[_tok_file(tmp, "train", lang) for lang in LANGS],
              codes=output_dir / "code", bpe_tokens=bpe_tokens, workers=workers,
              apply={f"{split}.{lang}": (_tok_file(tmp, name, lang), output_dir / f"{split}.{lang}")
                     for name, split in sets.items() for lang in LANGS})
    extra_splits = [split for split in test_sets if split not in SPLITS]
    bin_dir = output_dir / "data-bin" if binarize else None
    if bin_dir is not None:
        inputs = [output_dir / f"{split}.{lang}" for split in sets.values() for lang in LANGS]
        steps.run("binarize", inputs=inputs, outputs=[bin_dir],
                  options={"joined_dictionary": True, "extra_splits": extra_splits},
                  action=lambda: _binarize(output_dir, bin_dir, extra_splits, workers))
    pairs = pair_counts(output_dir, LANGS)
    for split in extra_splits:
        counts = {lang: count_lines(output_dir / f"{split}.{lang}") for lang in LANGS}
        if len(set(counts.values())) != 1:
            raise RuntimeError(f"{split}: {counts} lines per language")
        pairs[split] = counts[SOURCE]
    data = PreparedData(recipe="multi30k", source_lang=SOURCE, target_lang=TARGET,
                        text_dir=output_dir, bin_dir=bin_dir, pairs=pairs)
    return finish(data, options)
