"""Train a tiny GPT-2 with the Hugging Face Trainer and the Knee schedule (runs on CPU in seconds).

    python train_knee.py --output_dir knee-out --use_cpu --max_steps 40 --learning_rate 1e-3 --logging_steps 1 \
        --lr_scheduler_type knee --explore_ratio 0.5 --warmup_steps 0.1
"""

from transformers import GPT2Config, GPT2LMHeadModel, HfArgumentParser, default_data_collator

from hf_integration import KneeTrainer, KneeTrainingArguments

(args,) = HfArgumentParser(KneeTrainingArguments).parse_args_into_dataclasses()

# Any text will do: bytes are the tokens. Here, this file itself, so nothing is downloaded.
with open(__file__, encoding="utf-8") as source:
    ids = list(source.read().encode("utf-8"))
block = 32
dataset = [{"input_ids": ids[i : i + block], "labels": ids[i : i + block]} for i in range(0, len(ids) - block, block)]
model = GPT2LMHeadModel(GPT2Config(vocab_size=256, n_positions=block, n_embd=32, n_layer=1, n_head=2))

trainer = KneeTrainer(model=model, args=args, train_dataset=dataset, data_collator=default_data_collator)
trainer.train()
print("lr per step:", [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry])
