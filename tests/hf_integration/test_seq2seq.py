"""KneeSeq2SeqTrainer on a real translation fine-tune (the README's ``translate_knee.py``: a tiny BART,
random init, Multi30k DE-EN, ``predict_with_generate``), and KneeTrainerMixin on any Trainer class."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Seq2SeqTrainer, Trainer

from hf_integration import KneeSeq2SeqTrainer, KneeTrainerMixin, KneeTrainingArguments
from knee_nlp import KneeLR
from knee_nlp.schedule import KneeSchedule

EXAMPLE = Path(__file__).with_name("readme_examples") / "translate_knee.py"
PEAK, EPOCHS, PAIRS, BATCH = 3e-3, 2, 320, 16


def test_translation_fine_tune_follows_knee_and_evaluates_by_generating(shared_data: Path, tmp_path: Path) -> None:
    argv = [
        "--data", str(shared_data / "multi30k" / "tok"), "--pairs", str(PAIRS), "--output_dir", "knee-mt",
        "--use_cpu", "--lr_scheduler_type", "knee", "--lr_scheduler_kwargs", '{"explore_ratio": 0.5}',
        "--warmup_steps", "0.1", "--learning_rate", str(PEAK), "--num_train_epochs", str(EPOCHS),
        "--per_device_train_batch_size", str(BATCH), "--logging_steps", "1", "--predict_with_generate",
        "--generation_max_length", "24", "--eval_strategy", "epoch", "--save_strategy", "no",
        "--report_to", "none", "--disable_tqdm", "true", "--seed", "3",
    ]
    completed = subprocess.run(
        [sys.executable, str(EXAMPLE), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lrs = json.loads(completed.stdout.split("lr per step:")[1].splitlines()[0])
    evals = json.loads(completed.stdout.split("eval:")[1].splitlines()[0])
    losses = json.loads(completed.stdout.split("train loss per step:")[1].splitlines()[0])

    total = EPOCHS * math.ceil(PAIRS / BATCH)
    schedule = KneeSchedule(peak_lr=PEAK, total_steps=total, warmup_steps=math.ceil(0.1 * total), explore_ratio=0.5)
    # The Trainer's convention: the value logged for update k is the LR update k used, lr(k - 1).
    assert lrs == pytest.approx([schedule(k - 1) for k in range(1, total + 1)], rel=1e-12, abs=1e-18)
    assert {"warmup", "explore", "exploit"} == {schedule.phase(k - 1) for k in range(1, total + 1)}
    # One generating evaluation per epoch (BLEU is computed from generated token ids).
    assert [entry["step"] for entry in evals] == [total // 2, total]
    assert all(entry["eval_bleu"] >= 0 for entry in evals)
    # The model learns: from a uniform guess over the ~2,000-word vocabulary (loss ~7.6) the training
    # loss of the last epoch is 2 nats lower, and held-out loss sits well below a uniform guess over
    # 1,000 words. (Held-out loss between the two epochs is not compared: 320 pairs leave it flat, and
    # its last digits differ between CPUs.)
    assert sum(losses[-total // 2 :]) / (total // 2) < losses[0] - 2
    assert all(entry["eval_loss"] < math.log(1000) for entry in evals)


class ThirdPartyTrainer(Trainer):
    """Stands for a third-party Trainer subclass with its own behaviour."""

    def compute_loss(self, model, inputs, *args, **kwargs):  # noqa: ANN001, ANN201, ANN002, ANN003
        self.calls = getattr(self, "calls", 0) + 1
        return super().compute_loss(model, inputs, *args, **kwargs)


class KneeThirdPartyTrainer(KneeTrainerMixin, ThirdPartyTrainer):
    pass


def tiny_lm_dataset() -> list[dict[str, list[int]]]:
    ids = list(EXAMPLE.read_bytes())
    return [{"input_ids": ids[i : i + 16], "labels": ids[i : i + 16]} for i in range(0, 16 * 40, 16)]


def test_the_mixin_gives_knee_to_a_third_party_trainer(tmp_path: Path) -> None:
    args = KneeTrainingArguments(
        tmp_path, use_cpu=True, lr_scheduler_type="knee", learning_rate=1.0, warmup_steps=2, max_steps=10,
        lr_scheduler_kwargs={"num_explore_steps": 3}, per_device_train_batch_size=4, report_to=[],
        save_strategy="no", logging_steps=1, disable_tqdm=True, optim="sgd",
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=16, n_embd=8, n_layer=1, n_head=1))
    trainer = KneeThirdPartyTrainer(model=model, args=args, train_dataset=tiny_lm_dataset())
    trainer.train()
    assert isinstance(trainer.lr_scheduler, KneeLR) and trainer.calls == 10
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    assert logged == pytest.approx([0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2])


def test_seq2seq_trainer_class_and_mixin_order() -> None:
    assert issubclass(KneeSeq2SeqTrainer, Seq2SeqTrainer) and issubclass(KneeSeq2SeqTrainer, KneeTrainerMixin)
    with pytest.raises(TypeError, match=r"list KneeTrainerMixin before the Trainer class"):
        type("Misordered", (Seq2SeqTrainer, KneeTrainerMixin), {})
