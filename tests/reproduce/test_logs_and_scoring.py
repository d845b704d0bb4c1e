"""Parsing fairseq's JSON training log and fairseq-generate output."""

from __future__ import annotations

import json

import pytest

from knee_nlp.reproduce.logs import parse_training_log
from knee_nlp.reproduce.scoring import fairseq_bleu, read_hypotheses, score_generate_output


def _line(kind: str, **record) -> str:
    return f"2026-11-24 19:50:01 | INFO | {kind} | {json.dumps(record)}"


def test_training_log_keeps_the_last_record_per_update_after_a_resume() -> None:
    first_attempt = [
        _line("train_inner", epoch=1, num_updates="5", loss="9.0", lr="0.0005"),
        _line("valid", epoch=1, valid_loss="8.0", valid_bleu="0.5", valid_num_updates="6"),
        _line("train_inner", epoch=2, num_updates="10", loss="7.5", lr="0.001"),  # lost: no checkpoint
    ]
    second_attempt = [
        "2026-11-24 19:51:00 | INFO | fairseq.trainer | loaded checkpoint checkpoint_last.pt",
        _line("train_inner", epoch=2, num_updates="10", loss="7.4", lr="0.001"),
        _line("train", epoch=2, train_loss="7.3", train_num_updates="12", train_lr="0.001"),
        _line("valid", epoch=2, valid_loss="7.0", valid_bleu="1.5", valid_num_updates="12"),
        "| valid | {not json",
    ]
    curves = parse_training_log("\n".join(first_attempt + second_attempt))
    assert curves.lr_points() == [(5, 0.0005), (10, 0.001), (12, 0.001)]  # 12: epoch summary
    assert curves.train_loss_points() == [(5, 9.0), (10, 7.4)]
    assert curves.valid_points("loss") == [(6, 8.0), (12, 7.0)]
    assert curves.valid_points("bleu") == [(6, 0.5), (12, 1.5)]
    assert curves.last_update == 12


def test_empty_log_has_no_points() -> None:
    curves = parse_training_log("fairseq crashed before logging anything\n")
    assert curves.lr_points() == [] and curves.last_update == 0


GENERATE_OUTPUT = "\n".join([
    "S-1\tdas ist gut .",
    "T-1\tthat 's good .",
    "H-1\t-0.41\tthat 's good .",
    "D-1\t-0.41\tthat 's good .",
    "S-0\twir gehen .",
    "T-0\twe are going now .",
    "H-0\t-0.90\twe go now .",
    "2026-11-24 | INFO | fairseq_cli.generate | Generate test with beam=5: BLEU4 = 27.48, "
    "60.0/40.0/25.0/10.0 (BP=1.000, ratio=1.000, syslen=8, reflen=9)",
])


def test_generate_output_is_read_in_test_set_order() -> None:
    hypotheses, references = read_hypotheses(GENERATE_OUTPUT)
    assert hypotheses == ["we go now .", "that 's good ."]
    assert references == ["we are going now .", "that 's good ."]
    assert fairseq_bleu(GENERATE_OUTPUT) == 27.48


def test_scores_detokenize_before_sacrebleu() -> None:
    scores = score_generate_output(GENERATE_OUTPUT, target_lang="en")
    assert scores["bleu_tokenized"] == 27.48 and scores["sentences"] == 2
    assert 0 < scores["sacrebleu"] < 100
    assert scores["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    perfect = GENERATE_OUTPUT.replace("H-0\t-0.90\twe go now .", "H-0\t-0.9\twe are going now .")
    assert score_generate_output(perfect, target_lang="en")["sacrebleu"] == 100.0


def test_truncated_generate_output_is_an_error() -> None:
    with pytest.raises(ValueError, match="1 hypotheses and 2 references"):
        read_hypotheses(GENERATE_OUTPUT.replace("H-0\t-0.90\twe go now .", ""))
    with pytest.raises(ValueError, match="no 'Generate"):
        fairseq_bleu(GENERATE_OUTPUT.rsplit("\n", 1)[0])
