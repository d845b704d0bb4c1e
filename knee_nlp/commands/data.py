"""``knee-nlp data``: prepare the translation corpora (IWSLT'14 DE-EN, WMT'14 EN-DE, Multi30k).

Pure Python versions of fairseq's ``prepare-iwslt14.sh`` and ``prepare-wmt14en2de.sh`` and of
Multi30k's ``task1-tokenize.sh`` that work offline from the release files, show progress bars and
resume where they stopped.

Example::

    knee-nlp data iwslt14 --archive de-en.tgz --output-dir iwslt14.tokenized.de-en --workers 4
    knee-nlp data wmt14 --raw-dir orig --output-dir wmt14_en_de --workers 16
    knee-nlp data multi30k --download --output-dir multi30k.tokenized.de-en
"""

from __future__ import annotations

import argparse
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from knee_nlp.commands.argtypes import count
from knee_nlp.errors import fail
from knee_nlp.outputs import check_writable_dir


def _report(data, command: str) -> None:
    counts = ", ".join(f"{split} {count:,}" for split, count in data.pairs.items())
    print(f"{data.recipe}: {data.source_lang}->{data.target_lang} sentence pairs: {counts}")
    print(f"BPE'd text and code: {data.text_dir}")
    if data.bin_dir is not None:
        print(f"fairseq binarized data: {data.bin_dir}")
        print(f"next: knee-nlp reproduce {data.recipe} --data-dir {data.text_dir}")
    else:
        print(f"binarize later by re-running `{command}` without --no-binarize")


def _prepare(command: str, prepare: Callable[..., Any], args: argparse.Namespace, **options: Any) -> int:
    """Run ``prepare`` with the options every recipe shares, turning input errors into a clean exit."""
    try:
        data = prepare(
            check_writable_dir(args.output_dir, "--output-dir"), bpe_tokens=args.bpe_tokens, workers=args.workers,
            joined_dictionary=not args.separate_dictionaries, binarize=not args.no_binarize,
            overwrite=args.overwrite, **options)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as error:
        fail(command, error)
    _report(data, command)
    return 0


def run_iwslt14(args: argparse.Namespace) -> int:
    """Prepare IWSLT'14 DE-EN."""
    from knee_nlp.data.iwslt14 import prepare_iwslt14

    return _prepare("knee-nlp data iwslt14", prepare_iwslt14, args,
                    raw_dir=args.raw_dir, archive=args.archive)


def run_wmt14(args: argparse.Namespace) -> int:
    """Prepare WMT'14 EN-DE."""
    from knee_nlp.data.wmt14 import prepare_wmt14

    return _prepare("knee-nlp data wmt14", prepare_wmt14, args, raw_dir=args.raw_dir,
                    news_commentary=args.news_commentary, valid=args.valid)


def run_multi30k(args: argparse.Namespace) -> int:
    """Prepare Multi30k task 1 DE-EN."""
    from knee_nlp.data.multi30k import BASE_URL, prepare_multi30k

    command = "knee-nlp data multi30k"
    if args.base_url is not None and not args.download:
        fail(command, "--base-url goes with --download")
    if args.base_url is not None and urllib.parse.urlsplit(args.base_url).scheme not in ("http", "https", "file"):
        fail(command, f"--base-url must be an http://, https:// or file:// URL, got {args.base_url!r}")
    return _prepare(command, prepare_multi30k, args, raw_dir=args.raw_dir,
                    download=args.download, base_url=args.base_url or BASE_URL,
                    verify_checksums=not args.skip_checksums)


def _common_arguments(parser: argparse.ArgumentParser, *, output_dir: str, bpe_tokens: int) -> None:
    parser.add_argument("--output-dir", type=Path, default=Path(output_dir),
                        help=f"Where the prepared data goes (default {output_dir}): BPE'd "
                        "{train,valid,test}.{src,tgt}, the BPE 'code' file, intermediate files "
                        "in tmp/, fairseq's binarized data in data-bin/ and prep.json. Re-running "
                        "with the same arguments resumes an interrupted run or does nothing.")
    parser.add_argument("--bpe-tokens", type=count(1), default=bpe_tokens,
                        help=f"Joint BPE merge operations (default {bpe_tokens:,}, the recipe's).")
    parser.add_argument("--workers", type=count(1), default=1,
                        help="Processes for tokenization, BPE and fairseq-preprocess (default 1).")
    parser.add_argument("--separate-dictionaries", action="store_true",
                        help="Binarize with one dictionary per language instead of a joined one.")
    parser.add_argument("--no-binarize", action="store_true",
                        help="Stop after BPE (fairseq is then not needed).")
    parser.add_argument("--overwrite", action="store_true",
                        help="Replace an --output-dir prepared with other options (never replaced "
                        "otherwise).")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``knee-nlp data iwslt14``, ``wmt14`` and ``multi30k``."""
    parser = subparsers.add_parser(
        "data", help="Prepare IWSLT'14 DE-EN, WMT'14 EN-DE or Multi30k DE-EN for fairseq.",
        description="Prepare the translation corpora of the paper's experiments exactly as "
        "fairseq's prepare-iwslt14.sh / prepare-wmt14en2de.sh do (Moses tokenization via "
        "sacremoses, cleaning, joint BPE via subword-nmt, fairseq-preprocess), from release "
        "files you downloaded.")
    corpora = parser.add_subparsers(dest="corpus", required=True, metavar="CORPUS")

    iwslt = corpora.add_parser(
        "iwslt14", help="IWSLT'14 German->English (TED talks).",
        description="TED XML/tags extraction, Moses tokenization, lowercasing, length cleaning "
        "(ratio 1.5, 1-175 tokens), valid = every 23rd training pair, test = dev2010 + "
        "TEDX.dev2012 + tst2010-2012 (6,750 pairs), 10k joint BPE, fairseq-preprocess.")
    source = iwslt.add_mutually_exclusive_group(required=True)
    source.add_argument("--archive", type=Path,
                        help="The IWSLT'14 release archive de-en.tgz (2014-01 texts de/en).")
    source.add_argument("--raw-dir", type=Path,
                        help="The unpacked archive: the de-en/ folder (train.tags.de-en.{de,en} "
                        "and IWSLT14.TED*.de-en.{de,en}.xml) or its parent.")
    _common_arguments(iwslt, output_dir="iwslt14.tokenized.de-en", bpe_tokens=10_000)
    iwslt.set_defaults(func=run_iwslt14)

    wmt = corpora.add_parser(
        "wmt14", help="WMT'14 English->German (news).",
        description="Europarl v7 + CommonCrawl + News Commentary training (normalized, "
        "tokenized with aggressive hyphen splitting), newstest2014 full test (3,003), joint "
        "BPE, clean-corpus-n (ratio 1.5, 1-250) on train and valid, fairseq-preprocess.")
    wmt.add_argument("--raw-dir", type=Path, required=True,
                     help="Folder with the unpacked WMT archives, as prepare-wmt14en2de.sh's "
                     "orig/: training/europarl-v7.de-en.{de,en}, commoncrawl.de-en.{de,en}, "
                     "training/news-commentary-v9.de-en.{de,en}, dev/newstest2013-{src.en,ref.de}"
                     ".sgm (or dev/newstest2013.{en,de}), test-full/newstest2014-deen-"
                     "{src.en,ref.de}.sgm.")
    wmt.add_argument("--news-commentary", choices=("v9", "v12"), default="v9",
                     help="News Commentary release: v9 (default; WMT'14, fairseq's --icml17) "
                     "or v12 (the script's default).")
    wmt.add_argument("--valid", choices=("newstest2013", "train-split"), default="newstest2013",
                     help="Validation set: newstest2013 (default) or every 100th training pair "
                     "held out, as prepare-wmt14en2de.sh does.")
    _common_arguments(wmt, output_dir="wmt14_en_de", bpe_tokens=40_000)
    wmt.set_defaults(func=run_wmt14)

    m30k = corpora.add_parser(
        "multi30k", help="Multi30k task 1 German->English (image captions).",
        description="The dataset's own task1-tokenize.sh (lowercasing, punctuation "
        "normalization, Moses tokenization), 10k joint BPE, fairseq-preprocess with a joined "
        "dictionary. Splits: train (29,000), valid = val (1,014), test = test_2016_flickr "
        "(1,000); test1 = test_2017_flickr, test2 = test_2017_mscoco, test3 = test_2018_flickr "
        "(where present) as fairseq's extra test subsets. Raw files are checked against the "
        "release's SHA-256.")
    source = m30k.add_mutually_exclusive_group(required=True)
    source.add_argument("--raw-dir", type=Path,
                        help="Folder with the release's data/task1/raw files: {train,val,"
                        "test_2016_flickr,test_2017_flickr,test_2017_mscoco}.{de,en}.gz "
                        "(test_2018_flickr.{de,en}.gz optional).")
    source.add_argument("--download", action="store_true",
                        help="Fetch the raw files from the dataset's GitHub repository at a "
                        "pinned revision into OUTPUT_DIR/raw/ (checksummed).")
    m30k.add_argument("--base-url", default=None,
                      help="With --download: where the <name>.gz files are (default: the "
                      "dataset's data/task1/raw at the pinned revision).")
    m30k.add_argument("--skip-checksums", action="store_true",
                      help="With --raw-dir: accept files whose SHA-256 differs from the "
                      "release's (e.g. re-compressed copies). Downloads are always checked.")
    _common_arguments(m30k, output_dir="multi30k.tokenized.de-en", bpe_tokens=10_000)
    m30k.set_defaults(func=run_multi30k)
