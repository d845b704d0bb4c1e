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
from knee_nlp.data.parallel import read_lines
from knee_nlp.data.recipe import MANIFEST_NAME, load_prepared
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
    if not directory.exists():
        raise DataError(f"data directory {directory} does not exist")
    if not directory.is_dir():
        raise DataError(f"data directory {directory} is a file, not a directory")
    languages = _languages_in(directory)
    if set(languages) - {src, tgt} and not {src, tgt} <= set(languages):
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


def _read_lines(path: Path) -> list[str]:
    """Every line of ``path`` (UTF-8, split on ``\\n`` only; a CRLF ending is dropped).

    A carriage return inside a line is refused: fairseq-preprocess reads it as a line break, so
    that side would gain a line and every later pair would shift.
    """
    lines = [line.removesuffix("\r") for line in read_lines(path)]
    for number, line in enumerate(lines, 1):
        if "\r" in line:
            raise DataError(f"{path}, line {number}: holds a carriage return (\\r) inside the line, "
                            "which fairseq reads as a line break; remove it")
    return lines


def _text_subset(directory: Path, out: Path, src: str, tgt: str,
                 limits: dict[str, int | None]) -> dict[str, int]:
    """Copy the first ``limit`` pairs of each split into ``out``, after checking that the whole
    files of each split align (same line count), so that a missing line is never cut away."""
    sides = {split: {lang: _read_lines(directory / f"{split}.{lang}") for lang in (src, tgt)}
             for split in SPLITS}
    for split, lines in sides.items():
        counts = {lang: len(side) for lang, side in lines.items()}
        if counts[src] != counts[tgt]:
            raise DataError(f"parallel files differ in length: {directory / f'{split}.{src}'} has "
                            f"{counts[src]:,} lines, {directory / f'{split}.{tgt}'} has "
                            f"{counts[tgt]:,}; line i of each side must translate line i of the other")
        if not counts[src]:
            raise DataError(f"{directory / f'{split}.{src}'} is empty")
    out.mkdir(parents=True, exist_ok=True)
    pairs = {}
    for split, lines in sides.items():
        limit = limits.get(_LIMIT_KEYS[split])
        for lang, side in lines.items():
            _write_if_changed(out / f"{split}.{lang}", "".join(line + "\n" for line in side[:limit]))
        pairs[split] = len(lines[src][:limit])
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
    """Sentence pairs per split of a data-bin; ``DataError`` when the two sides differ in size."""
    with quiet():
        from fairseq.data import data_utils

        pairs = {}
        for split in SPLITS:
            prefix = directory / _bin_prefix(directory, split, src, tgt)
            sizes = {lang: len(data_utils.load_indexed_dataset(f"{prefix}.{lang}", None))
                     for lang in (src, tgt)}
            if sizes[src] != sizes[tgt]:
                raise DataError(f"parallel files differ in length: {prefix}.{src}.bin holds "
                                f"{sizes[src]:,} sentences, {prefix}.{tgt}.bin holds {sizes[tgt]:,}")
            pairs[split] = sizes[src]
        return pairs


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


def data_origin(spec: ExperimentSpec, data_dir: Path | None, cwd: Path | None = None) -> str:
    """Where :func:`resolve_data` will take the data from, found without reading or writing it:
    the absolute data folder (a ``knee-nlp data`` output folder stands for its ``data-bin/``, also
    before a recipe has prepared it), or ``"synthetic"`` when no data is found and none is
    prepared. Recorded in the run directory's manifest, so that a re-run with other data is
    refused before anything in the run directory is rewritten.

    >>> data_origin(load_experiment("iwslt14"), Path("/data/iwslt14.tokenized.de-en/data-bin"))  # doctest: +SKIP
    '/data/iwslt14.tokenized.de-en'
    """
    cwd = cwd or Path.cwd()
    found = data_dir if data_dir is not None else find_data_dir(spec, cwd)
    if found is None and spec.prepare_recipe is not None:
        found = cwd / spec.data_search_dirs[-1]
    if found is None:
        return "synthetic"
    folder = (cwd / found).resolve()
    if folder.name == "data-bin" and (folder.parent / MANIFEST_NAME).is_file():
        folder = folder.parent
    return str(folder)


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
    if (data_dir / MANIFEST_NAME).is_file():  # the output folder of `knee-nlp data`
        try:
            prepared = load_prepared(data_dir)
        except RuntimeError as error:  # an unfinished (or interrupted) preparation
            raise DataError(str(error)) from None
        data_dir = prepared.bin_dir or data_dir
    elif (data_dir / "data-bin").is_dir():
        data_dir = data_dir / "data-bin"
    layout = detect_layout(data_dir, src, tgt)
    wants_subset = any(value is not None for value in limits.values())
    if layout == "data-bin":
        pairs = _bin_pairs(data_dir, src, tgt)  # the whole data-bin aligns, before any subset
        if not wants_subset:
            return DataSource("data-bin", str(data_dir), data_dir, False, pairs)
    subset = work_dir / "text"
    if layout == "data-bin":
        _decode_bin(data_dir, subset, src, tgt, limits)
        _text_subset(subset, subset, src, tgt, {})
    else:
        _text_subset(data_dir, subset, src, tgt, limits)
    bin_dir = _binarize(subset, work_dir / "bin", src, tgt)
    return DataSource(layout, str(data_dir), bin_dir, False, _bin_pairs(bin_dir, src, tgt))
