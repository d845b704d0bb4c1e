"""What the translation recipes share: the output directory contract, BPE and binarization steps.

An output directory holds ``prep.json`` (recipe, options, and once finished the results), the
BPE'd text ``{train,valid,test}.{src,tgt}`` with its ``code`` file (the layout of fairseq's
``prepare-*.sh``), intermediate files under ``tmp/`` and the binarized ``data-bin/``.
:func:`load_prepared` is how a consumer checks that a directory is finished.

Example::

    data = load_prepared(Path("iwslt14.tokenized.de-en"))
    data.bin_dir            # pass to fairseq-train
    data.text_file("test", "en")
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knee_nlp.data.binarize import fairseq_preprocess
from knee_nlp.data.bpe import apply_bpe, learn_joint_bpe
from knee_nlp.data.clean import clean_pairs
from knee_nlp.atomic import atomic_file
from knee_nlp.data.parallel import count_lines, map_lines, read_lines, write_columns, write_lines
from knee_nlp.data.steps import Steps
from knee_nlp.run_lock import LOCK_NAME, acquire, held, holds_other_files, release
from knee_nlp.state_files import read_json

MANIFEST_NAME = "prep.json"
DAMAGED_MANIFEST = "delete its folder to prepare the data again, or choose another --output-dir"
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class PreparedData:
    """A finished preparation: where its text and binarized data are, and its pair counts."""

    recipe: str
    source_lang: str
    target_lang: str
    text_dir: Path
    bin_dir: Path | None
    pairs: dict[str, int] = field(default_factory=dict)

    @property
    def codes(self) -> Path:
        """The joint BPE merges file."""
        return self.text_dir / "code"

    def text_file(self, split: str, lang: str) -> Path:
        """The BPE'd text of one side of one split."""
        return self.text_dir / f"{split}.{lang}"


def open_output_dir(output_dir: Path, recipe: str, options: dict[str, Any], *,
                    overwrite: bool = False, inputs: tuple[Path | None, ...] = ()) -> Steps:
    """Create ``output_dir`` (or resume it) for ``recipe`` with ``options`` (those that change
    the result; binarizing later is not a change), and lock it until :func:`finish`
    (:mod:`knee_nlp.run_lock`: a second preparation of the same directory stops at once).

    Raises ``FileExistsError`` if it holds other files, or a preparation with other options
    (unless ``overwrite``, which deletes that earlier preparation, but never one holding the
    recipe's ``inputs``: the raw files or archive); such a directory is left untouched.
    """
    output_dir = Path(output_dir)
    request = {"recipe": recipe, "options": options}
    if _replaces(output_dir, request, overwrite):  # refusals leave the directory untouched
        inside = [str(path) for path in inputs
                  if path is not None and path.resolve().is_relative_to(output_dir.resolve())]
        if inside:
            raise FileExistsError(f"--overwrite would delete {', '.join(inside)}, inside {output_dir}: "
                                  "move the raw files out of the output folder first, or choose another --output-dir")
    lock = held(output_dir) or acquire(output_dir)  # held: an earlier attempt here stopped
    try:
        if _replaces(output_dir, request, overwrite):  # again, now that it is ours alone
            for path in output_dir.iterdir():  # all but the lock this process holds
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.name != LOCK_NAME:
                    path.unlink()
        _write_manifest(output_dir / MANIFEST_NAME, {**request, "complete": False})  # until finish()
    except BaseException:
        release(lock)
        raise
    return Steps(output_dir)


def _replaces(output_dir: Path, request: dict[str, Any], overwrite: bool) -> bool:
    """Whether ``output_dir`` holds another preparation that ``overwrite`` replaces; raises
    ``FileExistsError`` for one it may not replace and for files not made by a recipe."""
    manifest = output_dir / MANIFEST_NAME
    if not manifest.is_file():
        if holds_other_files(output_dir):
            raise FileExistsError(f"{output_dir} is not empty and has no {MANIFEST_NAME} (it was "
                                  "not made by knee-nlp data); choose another --output-dir")
        return False
    existing = read_json(manifest, DAMAGED_MANIFEST)
    if {"recipe": existing.get("recipe"), "options": existing.get("options")} == request:
        return False
    if not overwrite:
        raise FileExistsError(
            f"{output_dir} holds a {existing.get('recipe')} preparation with options "
            f"{existing.get('options')}, not {request['recipe']} with {request['options']}; "
            "choose another --output-dir or pass --overwrite to replace it")
    return True


def _write_manifest(path: Path, content: dict[str, Any]) -> None:
    with atomic_file(path) as work:
        work.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def finish(data: PreparedData, options: dict[str, Any]) -> PreparedData:
    """Mark the preparation of ``data`` complete in its ``prep.json`` and release the directory's
    lock taken by :func:`open_output_dir`; returns ``data``."""
    _write_manifest(data.text_dir / MANIFEST_NAME, {
        "recipe": data.recipe, "options": options, "complete": True,
        "source_lang": data.source_lang, "target_lang": data.target_lang,
        "bin_dir": data.bin_dir.name if data.bin_dir else None, "pairs": data.pairs,
    })
    lock = held(data.text_dir)
    if lock is not None:
        release(lock)
    return data


def binarize_and_finish(steps: Steps, *, recipe: str, output_dir: Path, langs: tuple[str, str],
                        binarize: bool, joined_dictionary: bool, workers: int,
                        options: dict[str, Any]) -> PreparedData:
    """The last steps every recipe shares: optional ``data-bin/`` of the BPE text, then
    :func:`finish`."""
    bin_dir = output_dir / "data-bin" if binarize else None
    if bin_dir is not None:
        binarize_step(steps, text_dir=output_dir, bin_dir=bin_dir, langs=langs,
                      joined_dictionary=joined_dictionary, workers=workers)
    elif (output_dir / "data-bin").exists() and not steps.is_done(
            "binarize", **_binarize_request(output_dir, output_dir / "data-bin", langs, joined_dictionary)):
        shutil.rmtree(output_dir / "data-bin")  # binarized from text this run has changed
    data = PreparedData(recipe=recipe, source_lang=langs[0], target_lang=langs[1],
                        text_dir=output_dir, bin_dir=bin_dir, pairs=pair_counts(output_dir, langs))
    return finish(data, options)


def load_prepared(output_dir: Path) -> PreparedData:
    """The finished preparation in ``output_dir``; raises if it is absent or unfinished."""
    output_dir = Path(output_dir)
    manifest = output_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise FileNotFoundError(f"{output_dir} is not a prepared data directory (no {MANIFEST_NAME}); "
                                "run `knee-nlp data iwslt14` or `knee-nlp data wmt14` first")
    content = read_json(manifest, DAMAGED_MANIFEST)
    if not content.get("complete"):
        raise RuntimeError(f"the {content.get('recipe')} preparation in {output_dir} did not finish; "
                           f"re-run `knee-nlp data {content.get('recipe')}` with the same arguments "
                           "to resume it")
    bin_name = content["bin_dir"]
    return PreparedData(
        recipe=content["recipe"], source_lang=content["source_lang"],
        target_lang=content["target_lang"], text_dir=output_dir,
        bin_dir=output_dir / bin_name if bin_name else None, pairs=content["pairs"],
    )


def transform_step(steps: Steps, name: str, *, inputs: Sequence[Path], output: Path,
                   lines: Callable[[], Iterable[str]], function: Callable[[str], str],
                   options: dict[str, Any], workers: int = 1, total: int | None = None) -> None:
    """A step writing ``function(line)`` for every line of ``lines()`` (``total`` of them, if
    known, for the progress bar) to ``output``."""
    def action() -> None:
        write_lines(output, map_lines(function, lines(), workers=workers, desc=name, total=total))

    steps.run(name, inputs=inputs, outputs=[output], options=options, action=action)


def bpe_steps(steps: Steps, *, train: Sequence[Path], codes: Path, bpe_tokens: int,
              apply: dict[str, tuple[Path, Path]], workers: int = 1) -> None:
    """Learn joint BPE on ``train`` (concatenated in order) into ``codes``, then for each
    ``name: (source, target)`` of ``apply`` write ``source`` segmented into ``target``."""
    steps.run("learn-bpe", inputs=train, outputs=[codes], options={"bpe_tokens": bpe_tokens},
              action=lambda: learn_joint_bpe(train, codes, bpe_tokens, workers=workers))
    for name, (source, target) in apply.items():
        steps.run(f"apply-bpe-{name}", inputs=[codes, source], outputs=[target], options={},
                  action=lambda s=source, t=target: apply_bpe(codes, s, t, workers=workers))


def binarize_step(steps: Steps, *, text_dir: Path, bin_dir: Path, langs: tuple[str, str],
                  joined_dictionary: bool, workers: int = 1) -> None:
    """``fairseq-preprocess`` of ``text_dir/{train,valid,test}`` into ``bin_dir``."""
    def action() -> None:
        if bin_dir.exists():  # an earlier result from other inputs, made by this recipe
            shutil.rmtree(bin_dir)
        fairseq_preprocess(langs[0], langs[1], bin_dir, trainpref=text_dir / "train",
                           validpref=text_dir / "valid", testpref=text_dir / "test",
                           joined_dictionary=joined_dictionary, workers=workers)

    steps.run("binarize", **_binarize_request(text_dir, bin_dir, langs, joined_dictionary), action=action)


def _binarize_request(text_dir: Path, bin_dir: Path, langs: tuple[str, str],
                      joined_dictionary: bool) -> dict[str, Any]:
    return {"inputs": [text_dir / f"{split}.{lang}" for split in SPLITS for lang in langs],
            "outputs": [bin_dir], "options": {"joined_dictionary": joined_dictionary}}


def clean_files(sources: Sequence[Path], targets: Sequence[Path], **rules: Any) -> int:
    """``clean-corpus-n.perl`` on the pair of files ``sources`` into ``targets``; returns pairs kept."""
    pairs = clean_pairs(read_lines(sources[0]), read_lines(sources[1]), **rules)
    try:
        return write_columns(targets, pairs)
    except ValueError as error:
        raise ValueError(f"cleaning {sources[0]} and {sources[1]}: {error}") from None


def split_every(source: Path, *, every: int, rest: Path, held_out: Path) -> None:
    """Lines ``every``, ``2*every``, ... (1-based) of ``source`` to ``held_out``, the others to
    ``rest`` (``awk 'NR%every == 0'`` and ``'NR%every != 0'``)."""
    rows = ((line, None) if number % every else (None, line)
            for number, line in enumerate(read_lines(source), 1))
    write_columns([rest, held_out], rows)


def pair_counts(text_dir: Path, langs: tuple[str, str]) -> dict[str, int]:
    """Sentence pairs per split; raises ``RuntimeError`` if the two sides differ."""
    counts = {}
    for split in SPLITS:
        source, target = (count_lines(text_dir / f"{split}.{lang}") for lang in langs)
        if source != target:
            raise RuntimeError(f"{split}: {source} {langs[0]} lines but {target} {langs[1]} lines")
        counts[split] = source
    return counts
