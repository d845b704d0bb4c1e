"""WMT'14 English-German, prepared as fairseq's ``examples/translation/prepare-wmt14en2de.sh``.

Recipe: training = Europarl v7 + CommonCrawl + News Commentary (v9, the ``--icml17`` variant the
paper's setup uses; v12 is the script's default), each line punctuation-normalized, stripped of
non-printing characters and Moses-tokenized with aggressive hyphen splitting (``-a``); no
lowercasing. Test = newstest2014 "full" (3,003 segments) from the ``.sgm`` files, tokenized the
same way. Joint BPE (``bpe_tokens`` merges, 40,000 in the recipe) learned on train.en + train.de,
then train and valid filtered with ``clean-corpus-n`` (ratio 1.5, 1-250 BPE tokens); test kept
whole. ``fairseq-preprocess`` with a joined dictionary.

Valid: ``"newstest2013"`` (default) takes the newstest2013 dev set, processed like the test
set; ``"train-split"`` reproduces the script exactly: every 100th training pair is held out.

The raw folder holds the unpacked release archives, as the script's ``orig/``::

    training/europarl-v7.de-en.{de,en}            (training-parallel-europarl-v7.tgz)
    commoncrawl.de-en.{de,en}                     (training-parallel-commoncrawl.tgz)
    training/news-commentary-v9.de-en.{de,en}     (training-parallel-nc-v9.tgz)
    dev/newstest2013-src.en.sgm, dev/newstest2013-ref.de.sgm, or dev/newstest2013.{en,de}  (dev.tgz)
    test-full/newstest2014-deen-src.en.sgm, test-full/newstest2014-deen-ref.de.sgm  (test-full.tgz)

Example::

    data = prepare_wmt14(Path("wmt14_en_de"), raw_dir=Path("orig"), workers=16)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from itertools import chain
from pathlib import Path

from knee_nlp.data.extract import sgml_segments
from knee_nlp.atomic import atomic_file
from knee_nlp.data.moses import normalize_punctuation, remove_non_printing, tokenize
from knee_nlp.data.parallel import check_parallel, read_lines
from knee_nlp.data.recipe import (
    PreparedData, binarize_and_finish, bpe_steps, clean_files, open_output_dir, split_every,
    transform_step,
)
from knee_nlp.data.steps import Steps
from knee_nlp.validation import check_step_count

SOURCE, TARGET = "en", "de"
PAIR = f"{SOURCE}-{TARGET}"
LANGS = (SOURCE, TARGET)
BPE_TOKENS = 40_000
NEWS_COMMENTARY = ("v9", "v12")
VALID_CHOICES = ("newstest2013", "train-split")
VALID_EVERY = 100
CLEAN_RULES = {"ratio": 1.5, "min_length": 1, "max_length": 250}
_SIDE = {SOURCE: "src", TARGET: "ref"}


def corpus_prefixes(news_commentary: str = "v9") -> list[str]:
    """The training corpora, as paths relative to the raw folder without the ``.lang`` suffix."""
    if news_commentary not in NEWS_COMMENTARY:
        raise ValueError(f"news_commentary must be one of {NEWS_COMMENTARY}, got {news_commentary!r}")
    return ["training/europarl-v7.de-en", "commoncrawl.de-en",
            f"training/news-commentary-{news_commentary}.de-en"]


def _eval_files(raw: Path, name: str, folder: str) -> dict[str, Path] | None:
    """``{lang: file}`` of an sgm test set (``-src``/``-ref``) or its plain-text twin, if present."""
    sgm = {lang: raw / folder / f"{name}-{_SIDE[lang]}.{lang}.sgm" for lang in LANGS}
    plain = {lang: raw / folder / f"{name.split('-')[0]}.{lang}" for lang in LANGS}
    for files in (sgm, plain):
        if all(path.is_file() for path in files.values()):
            return files
    return None


def check_raw_dir(raw_dir: Path, *, news_commentary: str = "v9", valid: str = "newstest2013") -> None:
    """Raise ``FileNotFoundError`` listing every file of the recipe missing from ``raw_dir``."""
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"--raw-dir {raw} is not a directory")
    missing = [f"{prefix}.{lang}" for prefix in corpus_prefixes(news_commentary) for lang in LANGS
               if not (raw / f"{prefix}.{lang}").is_file()]
    if _eval_files(raw, "newstest2014-deen", "test-full") is None:
        missing.append("test-full/newstest2014-deen-src.en.sgm + newstest2014-deen-ref.de.sgm")
    if valid == "newstest2013" and _eval_files(raw, "newstest2013", "dev") is None:
        missing.append("dev/newstest2013-src.en.sgm + dev/newstest2013-ref.de.sgm "
                       "(or dev/newstest2013.en + dev/newstest2013.de)")
    if missing:
        others = sorted({p.name.split(".")[1] for p in raw.glob("training/europarl-v7.*-*.*")}
                        - {"de-en"})
        hint = (f"; it holds Europarl for {', '.join(others)}, but this recipe needs de-en"
                if others else "")
        raise FileNotFoundError(f"WMT'14 raw folder {raw} lacks: {'; '.join(missing)}{hint}")


def _train_line(line: str, lang: str) -> str:
    return tokenize(remove_non_printing(normalize_punctuation(line, lang)), lang,
                    aggressive_dash_splits=True)


def _eval_line(line: str, lang: str) -> str:
    return tokenize(line, lang, aggressive_dash_splits=True)


def _eval_lines(path: Path) -> Iterator[str]:
    """Segments of an sgm file, or plain lines with the same ``’`` -> ``'`` replacement."""
    lines = read_lines(path)
    if path.suffix == ".sgm":
        return sgml_segments(lines)
    return (line.replace("\u2019", "'") for line in lines)


def check_raw_parallel(raw: Path, *, news_commentary: str = "v9", valid: str = "newstest2013") -> int:
    """Both sides of every training corpus and test/dev set have the same number of lines
    (segments for ``.sgm``), compared on the whole raw files; returns the training pair count."""
    total = sum(check_parallel([raw / f"{prefix}.{lang}" for lang in LANGS])
                for prefix in corpus_prefixes(news_commentary))
    sets = [("newstest2014-deen", "test-full")] + ([("newstest2013", "dev")] if valid == "newstest2013" else [])
    for name, folder in sets:
        check_parallel(list(_eval_files(raw, name, folder).values()),
                       count=lambda path: sum(1 for _ in _eval_lines(path)), unit="segments")
    return total


def _tokenize_eval(steps: Steps, files: dict[str, Path], split: str, tmp: Path, workers: int) -> None:
    for lang, source in files.items():
        transform_step(steps, f"tokenize-{split}.{lang}", inputs=[source],
                       output=tmp / f"{split}.{lang}",
                       lines=lambda s=source: _eval_lines(s), function=partial(_eval_line, lang=lang),
                       options={}, workers=workers)


def _tokenize_train(steps: Steps, raw: Path, tmp: Path, prefixes: list[str], workers: int,
                    total: int) -> None:
    for lang in LANGS:
        sources = [raw / f"{prefix}.{lang}" for prefix in prefixes]
        transform_step(steps, f"tokenize-train.{lang}", inputs=sources,
                       output=tmp / f"train.tags.{PAIR}.tok.{lang}",
                       lines=lambda s=sources: chain.from_iterable(map(read_lines, s)),
                       function=partial(_train_line, lang=lang), options={}, workers=workers,
                       total=total)


def _copy(source: Path, target: Path) -> None:
    with atomic_file(target) as work:
        shutil.copyfile(source, work)


def prepare_wmt14(output_dir: Path, *, raw_dir: Path, bpe_tokens: int = BPE_TOKENS,
                  news_commentary: str = "v9", valid: str = "newstest2013", workers: int = 1,
                  joined_dictionary: bool = True, binarize: bool = True,
                  overwrite: bool = False) -> PreparedData:
    """Run the whole recipe into ``output_dir``; re-running resumes or returns at once."""
    check_step_count("bpe_tokens", bpe_tokens, minimum=1)
    check_step_count("workers", workers, minimum=1)
    if valid not in VALID_CHOICES:
        raise ValueError(f"valid must be one of {VALID_CHOICES}, got {valid!r}")
    raw = Path(raw_dir)
    check_raw_dir(raw, news_commentary=news_commentary, valid=valid)
    train_pairs = check_raw_parallel(raw, news_commentary=news_commentary, valid=valid)
    output_dir = Path(output_dir)
    options = {"bpe_tokens": bpe_tokens, "news_commentary": news_commentary, "valid": valid,
               "joined_dictionary": joined_dictionary}
    steps = open_output_dir(output_dir, "wmt14", options, overwrite=overwrite, inputs=(raw,))
    tmp = output_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    _tokenize_train(steps, raw, tmp, corpus_prefixes(news_commentary), workers, train_pairs)
    _tokenize_eval(steps, _eval_files(raw, "newstest2014-deen", "test-full"), "test", tmp, workers)
    tokenized = {lang: tmp / f"train.tags.{PAIR}.tok.{lang}" for lang in LANGS}
    if valid == "newstest2013":
        _tokenize_eval(steps, _eval_files(raw, "newstest2013", "dev"), "valid", tmp, workers)
        train = tokenized
    else:
        train = {lang: tmp / f"train.{lang}" for lang in LANGS}
        for lang in LANGS:
            held_out = tmp / f"valid.{lang}"
            steps.run(f"split-valid.{lang}", inputs=[tokenized[lang]],
                      outputs=[train[lang], held_out], options={"every": VALID_EVERY},
                      action=lambda lang=lang, held_out=held_out: split_every(
                          tokenized[lang], every=VALID_EVERY, rest=train[lang], held_out=held_out))
    plain = {lang: {"train": train[lang], "valid": tmp / f"valid.{lang}", "test": tmp / f"test.{lang}"}
             for lang in LANGS}
    bpe_steps(steps, train=[train[lang] for lang in LANGS], codes=output_dir / "code",
              bpe_tokens=bpe_tokens, workers=workers,
              apply={f"{split}.{lang}": (plain[lang][split], tmp / f"bpe.{split}.{lang}")
                     for lang in LANGS for split in ("train", "valid", "test")})
    for split in ("train", "valid"):
        sources = [tmp / f"bpe.{split}.{lang}" for lang in LANGS]
        targets = [output_dir / f"{split}.{lang}" for lang in LANGS]
        steps.run(f"clean-{split}", inputs=sources, outputs=targets, options=CLEAN_RULES,
                  action=lambda s=sources, t=targets: clean_files(s, t, **CLEAN_RULES))
    for lang in LANGS:
        source, target = tmp / f"bpe.test.{lang}", output_dir / f"test.{lang}"
        steps.run(f"copy-test.{lang}", inputs=[source], outputs=[target], options={},
                  action=lambda s=source, t=target: _copy(s, t))
    return binarize_and_finish(steps, recipe="wmt14", output_dir=output_dir, langs=LANGS,
                               binarize=binarize, joined_dictionary=joined_dictionary,
                               workers=workers, options=options)
