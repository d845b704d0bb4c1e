"""Find the data for an experiment, cut the preset's subset and binarize it for fairseq.

Accepted inputs, checked before anything trains:

* a fairseq data-bin (``dict.<lang>.txt`` and ``{train,valid,test}.<src>-<tgt>.<lang>.{bin,idx}``),
* a folder of tokenized, BPE'd text (``{train,valid,test}.<lang>``, one sentence per line),
* the output folder of ``knee-nlp data`` (its ``data-bin/`` is used),
* nothing: an experiment with ``data.prepare_recipe`` prepares its data on first use (by
  download, or from ``--raw-dir``); a preset in ``data.synthetic_fallback`` (iwslt14/wmt14
  ``tiny``) writes the synthetic corpus of :mod:`.synthetic`; others refuse and say how to
  prepare the real data.

Everything derived goes under ``<run-dir>/data`` and is built once (``fairseq_preprocess`` is
idempotent), so a re-run reuses it.

Example::

    source = resolve_data(spec, Path("runs/tiny"), data_dir=None, limits=run.data, preset="tiny")
    source.bin_dir, source.synthetic
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.errors import UserError
from knee_nlp.reproduce.config import ExperimentSpec
from knee_nlp.reproduce.quiet import quiet
from knee_nlp.reproduce.synthetic import MARKER, write_synthetic_corpus

SPLITS = ("train", "valid", "test")
_LIMIT_KEYS = {"train": "max_train_pairs", "valid": "max_valid_pairs", "test": "max_test_pairs"}


class DataError(UserError, ValueError):
    """The data folder is missing, incomplete or for another language pair."""


@dataclass(frozen=True)
class DataSource:
    """Where a run's data came from and the data-bin it trains on."""

    kind: str  # "data-bin", "text" or "synthetic"
    origin: str
    bin_dir: Path
    synthetic: bool
    pairs: dict[str, int]

    def to_json(self) -> dict:
        record = asdict(self)
        record["bin_dir"] = str(self.bin_dir)
        return record


def _bin_prefix(directory: Path, split: str, src: str, tgt: str) -> str | None:
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        if all((directory / f"{split}.{pair}.{lang}.{ext}").is_file()
               for lang in (src, tgt) for ext in ("bin", "idx")):
            return f"{split}.{pair}"
    return None


def _languages_in(directory: Path) -> list[str]:
    names = [p.name for p in directory.iterdir() if p.is_file()]
    found = {n.split(".")[1] for n in names if n.startswith("dict.") and n.endswith(".txt")}
    found |= {n.split(".")[-1] for n in names if n.split(".")[0] in SPLITS and n.count(".") == 1}
    return sorted(found)


def detect_layout(directory: Path, src: str, tgt: str) -> str:
    """``"data-bin"`` or ``"text"``; ``DataError`` naming what is missing or mismatched."""
    if not directory.is_dir():
        raise DataError(f"data directory {directory} does not exist")
    languages = _languages_in(directory)
    if languages and not {src, tgt} <= set(languages):
        raise DataError(f"{directory} holds languages {languages}, but this experiment "
                        f"translates {src}->{tgt}")
    if (directory / f"dict.{src}.txt").is_file() or (directory / f"dict.{tgt}.txt").is_file():
        missing = [f"dict.{lang}.txt" for lang in (src, tgt)
                   if not (directory / f"dict.{lang}.txt").is_file()]
        missing += [f"{split}.{src}-{tgt}.{{{src},{tgt}}}.{{bin,idx}}" for split in SPLITS
                    if _bin_prefix(directory, split, src, tgt) is None]
        if missing:
            raise DataError(f"{directory} looks like a fairseq data-bin but lacks {missing}")
        return "data-bin"
    missing = [f"{split}.{lang}" for split in SPLITS for lang in (src, tgt)
               if not (directory / f"{split}.{lang}").is_file()]
    if missing:
        raise DataError(f"{directory} is neither a fairseq data-bin nor a text corpus: missing "
                        f"{missing} (expected {{train,valid,test}}.{{{src},{tgt}}} text files "
                        f"or dict.{src}.txt, dict.{tgt}.txt and binarized splits)")
    return "text"


def _read_lines(path: Path, limit: int | None) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    return lines if limit is None else lines[:limit]


def _text_subset(directory: Path, out: Path, src: str, tgt: str,
                 limits: dict[str, int | None]) -> dict[str, int]:
    """Copy the first ``limit`` pairs of each split into ``out``; check the sides align."""
    out.mkdir(parents=True, exist_ok=True)
    pairs = {}
    for split in SPLITS:
        sides = {lang: _read_lines(directory / f"{split}.{lang}", limits.get(_LIMIT_KEYS[split]))
                 for lang in (src, tgt)}
        if len(sides[src]) != len(sides[tgt]):
            raise DataError(f"{directory}: {split}.{src} has {len(sides[src])} lines but "
                            f"{split}.{tgt} has {len(sides[tgt])}")
        if not sides[src]:
            raise DataError(f"{directory}: {split}.{src} is empty")
        for lang, lines in sides.items():
            _write_if_changed(out / f"{split}.{lang}", "".join(line + "\n" for line in lines))
        pairs[split] = len(sides[src])
    return pairs


def _write_if_changed(path: Path, text: str) -> None:
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _decode_bin(directory: Path, out: Path, src: str, tgt: str,
                limits: dict[str, int | None]) -> None:
    """Write a data-bin's splits back as text (BPE pieces intact), to re-binarize a subset."""
    out.mkdir(parents=True, exist_ok=True)
    with quiet():
        from fairseq.data import Dictionary, data_utils

        for lang in (src, tgt):
            dictionary = Dictionary.load(str(directory / f"dict.{lang}.txt"))
            for split in SPLITS:
                prefix = _bin_prefix(directory, split, src, tgt)
                dataset = data_utils.load_indexed_dataset(str(directory / f"{prefix}.{lang}"),
                                                          dictionary)
                limit = limits.get(_LIMIT_KEYS[split])
                count = len(dataset) if limit is None else min(limit, len(dataset))
                lines = (dictionary.string(dataset[i]) for i in range(count))
                _write_if_changed(out / f"{split}.{lang}", "".join(f"{line}\n" for line in lines))


def _bin_pairs(directory: Path, src: str, tgt: str) -> dict[str, int]:
    with quiet():
        from fairseq.data import data_utils

        return {split: len(data_utils.load_indexed_dataset(
            str(directory / f"{_bin_prefix(directory, split, src, tgt)}.{src}"), None))
            for split in SPLITS}


def _binarize(text_dir: Path, bin_dir: Path, src: str, tgt: str) -> Path:
    with quiet():
        return fairseq_preprocess(src, tgt, bin_dir, trainpref=text_dir / "train",
                                  validpref=text_dir / "valid", testpref=text_dir / "test")


def find_data_dir(spec: ExperimentSpec, cwd: Path) -> Path | None:
    """The first of the experiment's ``data.search_dirs`` that exists under ``cwd``."""
    for candidate in spec.data_search_dirs:
        if (cwd / candidate).is_dir():
            return cwd / candidate
    return None


def _prepare_multi30k(output_dir: Path, raw_dir: Path | None) -> Path:
    # one worker: by now this process has imported torch (its threads), and forked workers of
    # a threaded process can deadlock (seen in the BPE step)
    from knee_nlp.data.multi30k import prepare_multi30k

    if raw_dir is None:
        return prepare_multi30k(output_dir, download=True).text_dir
    return prepare_multi30k(output_dir, raw_dir=Path(raw_dir)).text_dir


#: ``data.prepare_recipe`` of an experiment.yaml -> ``(output_dir, raw_dir or None) -> data dir``:
#: run on first use when no data is found (``raw_dir`` from ``--raw-dir``, else download)
PREPARE_RECIPES: dict[str, Callable[[Path, Path | None], Path]] = {
    "multi30k": _prepare_multi30k,
}


def resolve_data(spec: ExperimentSpec, work_dir: Path, data_dir: Path | None,
                 limits: dict[str, int | None], preset: str, cwd: Path | None = None,
                 raw_dir: Path | None = None) -> DataSource:
    """Pick, check, subset and binarize the data for every run of one ``reproduce`` call.

    With no data found, an experiment whose ``data.prepare_recipe`` is set prepares it into its
    first search dir (from ``raw_dir``, else by download); a preset listed in
    ``data.synthetic_fallback`` trains on the synthetic corpus; anything else is an error.
    """
    src, tgt = spec.source_lang, spec.target_lang
    cwd = cwd or Path.cwd()
    if raw_dir is not None and spec.prepare_recipe is None:
        raise DataError(f"--raw-dir prepares the data of experiments with a data recipe; "
                        f"{spec.name} has none: prepare it with: {spec.prepare_hint}")
    if raw_dir is not None and data_dir is not None:
        raise DataError("give --data-dir (prepared data) or --raw-dir (release files to "
                        "prepare), not both")
    if data_dir is None:
        data_dir = find_data_dir(spec, cwd)
    if data_dir is None and spec.prepare_recipe is not None:
        if spec.prepare_recipe not in PREPARE_RECIPES:
            raise DataError(f"{spec.name}: data.prepare_recipe {spec.prepare_recipe!r} is not "
                            f"one of {sorted(PREPARE_RECIPES)}")
        output = cwd / Path(spec.data_search_dirs[-1])
        how = f"from {raw_dir}" if raw_dir is not None else "by download"
        print(f"No {spec.name} data found (looked for {list(spec.data_search_dirs)}): preparing "
              f"it {how} into {output} (once; later runs find it there)", flush=True)
        data_dir = PREPARE_RECIPES[spec.prepare_recipe](output, raw_dir)
    elif raw_dir is not None:  # a repeated first-use command resumes on the prepared data
        print(f"{spec.name} data found at {data_dir}: --raw-dir is not needed", flush=True)
    if data_dir is None:
        if preset not in spec.synthetic_fallback:
            raise DataError(f"no {spec.name} data found (looked for {list(spec.data_search_dirs)}); "
                            f"prepare it with: {spec.prepare_hint}")
        text = write_synthetic_corpus(work_dir / "synthetic", src, tgt, {
            split: limits.get(_LIMIT_KEYS[split]) or 200 for split in SPLITS})
        bin_dir = _binarize(text, work_dir / "synthetic-bin", src, tgt)
        return DataSource("synthetic", f"synthetic corpus ({MARKER} in {text})", bin_dir, True,
                          _bin_pairs(bin_dir, src, tgt))
    data_dir = Path(data_dir).resolve()
    if (data_dir / "data-bin").is_dir():  # the output folder of `knee-nlp data`
        data_dir = data_dir / "data-bin"
    layout = detect_layout(data_dir, src, tgt)
    wants_subset = any(value is not None for value in limits.values())
    if layout == "data-bin" and not wants_subset:
        return DataSource("data-bin", str(data_dir), data_dir, False, _bin_pairs(data_dir, src, tgt))
    subset = work_dir / "text"
    if layout == "data-bin":
        _decode_bin(data_dir, subset, src, tgt, limits)
        _text_subset(subset, subset, src, tgt, {})
    else:
        _text_subset(data_dir, subset, src, tgt, limits)
    bin_dir = _binarize(subset, work_dir / "bin", src, tgt)
    return DataSource(layout, str(data_dir), bin_dir, False, _bin_pairs(bin_dir, src, tgt))
