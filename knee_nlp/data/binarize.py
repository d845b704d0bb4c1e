"""Binarize a tokenized parallel corpus with ``fairseq-preprocess``, atomically and idempotently.

The result directory is built in a sibling ``.<name>.partial`` directory and renamed into place
only once fairseq has finished, with a ``knee_nlp_preprocess.json`` manifest recording the inputs
(SHA-256 of every text file) and options. A re-run with the same inputs returns the existing
directory without redoing anything; a directory that holds something else is never overwritten.

Example::

    from pathlib import Path
    from knee_nlp.data.binarize import fairseq_preprocess

    bin_dir = fairseq_preprocess(
        "de", "en", Path("data-bin/iwslt14.tokenized.de-en"),
        trainpref=Path("iwslt14.tokenized.de-en/train"),
        validpref=Path("iwslt14.tokenized.de-en/valid"),
        testpref=Path("iwslt14.tokenized.de-en/test"),
        workers=4,
    )
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque
from pathlib import Path

from knee_nlp.atomic import atomic_directory
from knee_nlp.child_process import dies_with_parent
from knee_nlp.data.files import sha256_file
from knee_nlp.data.parallel import check_parallel
from knee_nlp.state_files import read_json

MANIFEST_NAME = "knee_nlp_preprocess.json"


def _run_streaming(command: list[str], keep: int = 30) -> tuple[int, list[str]]:
    """Run ``command``, echoing its output to stderr; returns its exit code and last lines."""
    tail: deque[str] = deque(maxlen=keep)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, preexec_fn=dies_with_parent()) as process:
        for line in process.stdout:
            sys.stderr.write(line)
            tail.append(line)
    return process.returncode, list(tail)


def _split_files(prefix: Path, languages: tuple[str, str]) -> list[Path]:
    return [Path(f"{prefix}.{lang}") for lang in languages]


def _manifest(source_lang: str, target_lang: str, splits: dict[str, Path],
              joined_dictionary: bool, srcdict: Path | None) -> dict:
    """What a finished result was built from: file digests and every option that changes it."""
    languages = (source_lang, target_lang)
    return {
        "source_lang": source_lang,
        "target_lang": target_lang,
        "joined_dictionary": joined_dictionary,
        "srcdict_sha256": sha256_file(srcdict) if srcdict is not None else None,
        "inputs": {
            split: {path.name: sha256_file(path) for path in _split_files(prefix, languages)}
            for split, prefix in splits.items()
        },
    }


def fairseq_preprocess(
    source_lang: str,
    target_lang: str,
    destdir: Path,
    *,
    trainpref: Path,
    validpref: Path,
    testpref: Path | None = None,
    joined_dictionary: bool = True,
    workers: int = 1,
    srcdict: Path | None = None,
) -> Path:
    """Run ``fairseq-preprocess`` on ``{train,valid,test}pref.{source_lang,target_lang}``.

    Returns ``destdir``, which then holds ``dict.{lang}.txt`` and
    ``{split}.{src}-{tgt}.{lang}.{bin,idx}``; fairseq's log is echoed to stderr.
    Raises ``FileNotFoundError`` naming any missing input, ``ValueError`` for the two sides of a
    split with different line counts (naming both) or bad options, ``FileExistsError`` if
    ``destdir`` exists but holds a different result (or not one made here), and ``RuntimeError``
    with fairseq's output if preprocessing fails.
    """
    destdir = Path(destdir)
    if source_lang == target_lang:
        raise ValueError(f"source_lang and target_lang must differ, got {source_lang!r} for both")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    splits = {"train": Path(trainpref), "valid": Path(validpref)}
    if testpref is not None:
        splits["test"] = Path(testpref)
    languages = (source_lang, target_lang)
    required = [f for prefix in splits.values() for f in _split_files(prefix, languages)]
    if srcdict is not None:
        required.append(Path(srcdict))
    missing = [str(path) for path in required if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"fairseq_preprocess: missing input file(s): {', '.join(missing)}")
    for prefix in splits.values():  # fairseq binarizes each side alone: compare them first
        check_parallel(_split_files(prefix, languages))

    manifest = _manifest(source_lang, target_lang, splits, joined_dictionary, srcdict)
    manifest_path = destdir / MANIFEST_NAME
    if destdir.exists():
        if manifest_path.is_file() and read_json(manifest_path, f"remove {destdir} to build it again") == manifest:
            return destdir
        reason = ("was built from other inputs or options" if manifest_path.is_file()
                  else f"has no {MANIFEST_NAME} (not a finished result of this tool)")
        raise FileExistsError(f"fairseq_preprocess: destdir {destdir} exists and {reason}; "
                              "remove it or choose another destdir")

    with atomic_directory(destdir) as workdir:
        command = [
            sys.executable, "-m", "fairseq_cli.preprocess",
            "--source-lang", source_lang, "--target-lang", target_lang,
            "--destdir", str(workdir), "--workers", str(workers),
            *(arg for split, prefix in splits.items() for arg in (f"--{split}pref", str(prefix))),
        ]
        if joined_dictionary:
            command.append("--joined-dictionary")
        if srcdict is not None:
            command += ["--srcdict", str(srcdict)]
        returncode, tail = _run_streaming(command)
        if returncode != 0:
            raise RuntimeError(f"fairseq-preprocess failed (exit {returncode}):\n{''.join(tail)}")
        (workdir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return destdir
