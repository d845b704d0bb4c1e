"""IWSLT'14 German-English, prepared exactly as fairseq's ``examples/translation/prepare-iwslt14.sh``.

Recipe: training talks from ``train.tags.de-en.{de,en}`` (metadata lines dropped), Moses
tokenization, ``clean-corpus-n`` (ratio 1.5, 1-175 tokens), lowercasing; valid = every 23rd
training pair, train = the rest; test = TED dev2010 + TEDX dev2012 + TED tst2010-2012 (6,750
pairs, in that order), extracted from the XML, tokenized and lowercased; 10,000 joint BPE merges
learned on train.de + train.en (subword-nmt); ``fairseq-preprocess`` with a joined dictionary.

Input: the ``de-en.tgz`` release archive, or the folder it unpacks to (``de-en/``) or its parent.

Example::

    data = prepare_iwslt14(Path("iwslt14.tokenized.de-en"), archive=Path("de-en.tgz"), workers=4)
    print(data.bin_dir, data.pairs)
"""

from __future__ import annotations

import gzip
import re
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from knee_nlp.data.extract import sgml_segments, ted_train_text
from knee_nlp.atomic import atomic_directory
from knee_nlp.data.moses import lowercase, tokenize
from knee_nlp.data.parallel import check_parallel, read_lines, write_lines
from knee_nlp.data.recipe import (
    PreparedData, binarize_and_finish, bpe_steps, clean_files, open_output_dir, split_every,
    transform_step,
)
from knee_nlp.data.steps import Steps
from knee_nlp.validation import check_step_count

SOURCE, TARGET = "de", "en"
PAIR = f"{SOURCE}-{TARGET}"
LANGS = (SOURCE, TARGET)
#: The test sets in the order ``prepare-iwslt14.sh`` concatenates them.
TEST_SETS = ("IWSLT14.TED.dev2010", "IWSLT14.TEDX.dev2012", "IWSLT14.TED.tst2010",
             "IWSLT14.TED.tst2011", "IWSLT14.TED.tst2012")
VALID_EVERY = 23
CLEAN_RULES = {"ratio": 1.5, "min_length": 1, "max_length": 175}
BPE_TOKENS = 10_000
_OTHER_PAIR = re.compile(r"train\.tags\.([a-z]{2,3}-[a-z]{2,3})\.")


def raw_files() -> list[str]:
    """Names the raw folder must hold."""
    return ([f"train.tags.{PAIR}.{lang}" for lang in LANGS]
            + [f"{name}.{PAIR}.{lang}.xml" for name in TEST_SETS for lang in LANGS])


def locate_raw_dir(raw_dir: Path) -> Path:
    """The folder holding the IWSLT'14 de-en files: ``raw_dir`` itself or ``raw_dir/de-en``.

    Raises ``FileNotFoundError`` listing what is missing, naming another language pair if the
    folder holds one.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"--raw-dir {raw_dir} is not a directory")
    candidate = raw_dir / PAIR if (raw_dir / PAIR).is_dir() else raw_dir
    missing = [name for name in raw_files() if not (candidate / name).is_file()]
    if not missing:
        return candidate
    pairs = sorted({m.group(1) for p in candidate.iterdir() if (m := _OTHER_PAIR.match(p.name))})
    hint = (f"; it holds the {', '.join(pairs)} pair, but this recipe prepares {PAIR} "
            f"(source {SOURCE}, target {TARGET})") if pairs and PAIR not in pairs else ""
    raise FileNotFoundError(f"IWSLT'14 raw folder {candidate} lacks {len(missing)} file(s): "
                            f"{', '.join(missing)}{hint}")


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack the ``de-en/`` files of the release ``archive`` into ``dest``; returns ``dest/de-en``.

    Only the recipe's files are extracted (with ``tarfile``'s safe ``data`` filter).
    """
    archive = check_archive(archive)
    with _reading(archive), tarfile.open(archive) as tar:
        members = _release_members(tar, archive)
        with atomic_directory(dest) as work:
            for member in members:
                tar.extract(member, work, filter="data")
    return locate_raw_dir(dest)


def check_archive(archive: Path) -> Path:
    """``archive`` if it is a whole tar archive holding every file of the release (read through
    once); ``FileNotFoundError`` or ``ValueError`` naming it and what is wrong if not."""
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"--archive {archive} is not a file")
    if not tarfile.is_tarfile(archive):
        raise ValueError(f"--archive {archive} is not a tar archive (expected the IWSLT'14 {PAIR}.tgz release)")
    with _reading(archive), tarfile.open(archive) as tar:
        _release_members(tar, archive)
    return archive


def _release_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    """The release's files in ``tar`` (reading every header, so a cut-short archive fails here)."""
    wanted = {f"{PAIR}/{name}" for name in raw_files()}
    members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
    missing = sorted(wanted - members.keys())
    if missing:
        raise FileNotFoundError(f"archive {archive} lacks {', '.join(missing)} "
                                f"(expected the IWSLT'14 {PAIR}.tgz release)")
    return [members[name] for name in sorted(wanted)]


@contextmanager
def _reading(archive: Path) -> Iterator[None]:
    """A damaged archive's error, as one naming ``--archive``."""
    try:
        yield
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"--archive {archive} cannot be read as a tar archive: {error}") from None


def _replace_with_archive(archive: Path, orig: Path) -> None:
    if orig.exists():  # unpacked from an earlier archive by this recipe
        shutil.rmtree(orig)
    extract_archive(archive, orig)


def _tokenize_lowercase(line: str, lang: str) -> str:
    return lowercase(tokenize(line, lang))


def _split_train(tmp: Path) -> None:
    for lang in LANGS:
        split_every(tmp / f"train.tags.{PAIR}.{lang}", every=VALID_EVERY,
                    rest=tmp / f"train.{lang}", held_out=tmp / f"valid.{lang}")


def check_raw_parallel(raw: Path) -> None:
    """Both sides of the training talks (text lines, metadata dropped) and of every test set
    (segments) have the same count, compared on the whole raw files."""
    check_parallel([raw / f"train.tags.{PAIR}.{lang}" for lang in LANGS],
                   count=lambda path: sum(1 for _ in ted_train_text(read_lines(path))), unit="text lines")
    for name in TEST_SETS:
        check_parallel([raw / f"{name}.{PAIR}.{lang}.xml" for lang in LANGS],
                       count=lambda path: sum(1 for _ in sgml_segments(read_lines(path))), unit="segments")


def _concat_test(tmp: Path) -> None:
    for lang in LANGS:
        write_lines(tmp / f"test.{lang}",
                    (line for name in TEST_SETS for line in read_lines(tmp / f"{name}.{PAIR}.{lang}")))


def _prepare_text(steps: Steps, raw: Path, tmp: Path, workers: int) -> None:
    """Tokenized, cleaned, lowercased ``tmp/{train,valid,test}.{de,en}``."""
    for lang in LANGS:
        source = raw / f"train.tags.{PAIR}.{lang}"
        transform_step(steps, f"tokenize-train.{lang}", inputs=[source],
                       output=tmp / f"train.tags.{PAIR}.tok.{lang}",
                       lines=lambda s=source: ted_train_text(read_lines(s)),
                       function=partial(tokenize, lang=lang), options={}, workers=workers)
    tokenized = [tmp / f"train.tags.{PAIR}.tok.{lang}" for lang in LANGS]
    cleaned = [tmp / f"train.tags.{PAIR}.clean.{lang}" for lang in LANGS]
    steps.run("clean-train", inputs=tokenized, outputs=cleaned, options=CLEAN_RULES,
              action=lambda: clean_files(tokenized, cleaned, **CLEAN_RULES))
    for lang, source in zip(LANGS, cleaned):
        transform_step(steps, f"lowercase-train.{lang}", inputs=[source],
                       output=tmp / f"train.tags.{PAIR}.{lang}",
                       lines=lambda s=source: read_lines(s), function=lowercase, options={})
    lowered = [tmp / f"train.tags.{PAIR}.{lang}" for lang in LANGS]
    split = [tmp / f"{split}.{lang}" for split in ("train", "valid") for lang in LANGS]
    steps.run("split-valid", inputs=lowered, outputs=split, options={"every": VALID_EVERY},
              action=lambda: _split_train(tmp))
    for name in TEST_SETS:
        for lang in LANGS:
            source = raw / f"{name}.{PAIR}.{lang}.xml"
            transform_step(steps, f"tokenize-{name}.{lang}", inputs=[source],
                           output=tmp / f"{name}.{PAIR}.{lang}",
                           lines=lambda s=source: sgml_segments(read_lines(s)),
                           function=partial(_tokenize_lowercase, lang=lang), options={},
                           workers=workers)
    sets = [tmp / f"{name}.{PAIR}.{lang}" for name in TEST_SETS for lang in LANGS]
    steps.run("concat-test", inputs=sets, outputs=[tmp / f"test.{lang}" for lang in LANGS],
              options={"order": list(TEST_SETS)}, action=lambda: _concat_test(tmp))


def prepare_iwslt14(output_dir: Path, *, raw_dir: Path | None = None, archive: Path | None = None,
                    bpe_tokens: int = BPE_TOKENS, workers: int = 1, joined_dictionary: bool = True,
                    binarize: bool = True, overwrite: bool = False) -> PreparedData:
    """Run the whole recipe into ``output_dir``; re-running resumes or returns at once.

    Give exactly one of ``raw_dir`` (the unpacked release) or ``archive`` (``de-en.tgz``).
    ``binarize=False`` stops after BPE (no fairseq needed).
    """
    if (raw_dir is None) == (archive is None):
        raise ValueError("give exactly one of raw_dir (--raw-dir) or archive (--archive)")
    check_step_count("bpe_tokens", bpe_tokens, minimum=1)
    check_step_count("workers", workers, minimum=1)
    output_dir = Path(output_dir)
    raw = locate_raw_dir(raw_dir) if raw_dir is not None else None
    if raw is not None:
        check_raw_parallel(raw)
    else:
        check_archive(archive)
    options = {"bpe_tokens": bpe_tokens, "joined_dictionary": joined_dictionary}
    steps = open_output_dir(output_dir, "iwslt14", options, overwrite=overwrite, inputs=(raw, archive))
    if raw is None:
        orig = output_dir / "orig"
        steps.run("extract-archive", inputs=[archive], outputs=[orig], options={},
                  action=lambda: _replace_with_archive(archive, orig))
        raw = locate_raw_dir(orig)
        check_raw_parallel(raw)
    tmp = output_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    _prepare_text(steps, raw, tmp, workers)
    bpe_steps(steps, train=[tmp / f"train.{lang}" for lang in LANGS], codes=output_dir / "code",
              bpe_tokens=bpe_tokens, workers=workers,
              apply={f"{split}.{lang}": (tmp / f"{split}.{lang}", output_dir / f"{split}.{lang}")
                     for lang in LANGS for split in ("train", "valid", "test")})
    return binarize_and_finish(steps, recipe="iwslt14", output_dir=output_dir, langs=LANGS,
                               binarize=binarize, joined_dictionary=joined_dictionary,
                               workers=workers, options=options)
