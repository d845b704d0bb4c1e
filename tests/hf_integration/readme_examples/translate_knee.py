"""Fine-tune a tiny BART for German -> English on Multi30k with Seq2SeqTrainer and the Knee schedule.

Nothing is downloaded: the model is built from a config (random init) and the word-level tokenizer
is trained on the training slice. Runs on CPU in seconds:

    python translate_knee.py --data multi30k.tokenized.de-en/tmp --pairs 320 --output_dir knee-mt --use_cpu \
        --lr_scheduler_type knee --lr_scheduler_kwargs '{"explore_ratio": 0.5}' --warmup_steps 0.1 \
        --learning_rate 3e-3 --num_train_epochs 2 --per_device_train_batch_size 16 --logging_steps 1 \
        --predict_with_generate --generation_max_length 24 --eval_strategy epoch
"""

import json
from dataclasses import dataclass
from pathlib import Path

import sacrebleu
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import BartConfig, BartForConditionalGeneration, DataCollatorForSeq2Seq, HfArgumentParser
from transformers import PreTrainedTokenizerFast

from hf_integration import KneeSeq2SeqTrainer, KneeSeq2SeqTrainingArguments


@dataclass
class DataArguments:
    data: str  # train/val.lc.norm.tok.{de,en}: <output-dir>/tmp of `knee-nlp data multi30k`
    pairs: int = 320  # training pairs (the first ones); 64 validation pairs
    max_length: int = 24


data, args = HfArgumentParser((DataArguments, KneeSeq2SeqTrainingArguments)).parse_args_into_dataclasses()


def read(split: str, lang: str, count: int) -> list[str]:
    with open(Path(data.data) / f"{split}.lc.norm.tok.{lang}", encoding="utf-8") as lines:
        return [next(lines).strip() for _ in range(count)]


train = {lang: read("train", lang, data.pairs) for lang in ("de", "en")}
valid = {lang: read("val", lang, 64) for lang in ("de", "en")}

# One word-level vocabulary for both languages; every sequence ends with </s>.
words = Tokenizer(models.WordLevel(unk_token="<unk>"))
words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
words.train_from_iterator(train["de"] + train["en"], trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>", "</s>"]))
words.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 3)])
tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>")


def encode(pairs: dict[str, list[str]]) -> list[dict]:
    features = tokenizer(pairs["de"], text_target=pairs["en"], truncation=True, max_length=data.max_length)
    return [dict(zip(features, values)) for values in zip(*features.values())]


model = BartForConditionalGeneration(
    BartConfig(
        vocab_size=len(tokenizer), d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
        pad_token_id=0, bos_token_id=2, eos_token_id=3, decoder_start_token_id=3, forced_eos_token_id=3,
    )
)


def bleu(prediction):
    ids = [[token for token in row if token >= 0] for row in prediction.predictions]  # -100: padding
    hypotheses = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return {"bleu": sacrebleu.corpus_bleu(hypotheses, [valid["en"]], tokenize="none").score}


trainer = KneeSeq2SeqTrainer(
    model=model, args=args, train_dataset=encode(train), eval_dataset=encode(valid), processing_class=tokenizer,
    data_collator=DataCollatorForSeq2Seq(tokenizer, model=model), compute_metrics=bleu,
)
trainer.train()
history = trainer.state.log_history
print("lr per step:", json.dumps([entry["learning_rate"] for entry in history if "learning_rate" in entry]))
print("train loss per step:", json.dumps([entry["loss"] for entry in history if "loss" in entry]))
print("eval:", json.dumps([entry for entry in history if "eval_bleu" in entry]))
