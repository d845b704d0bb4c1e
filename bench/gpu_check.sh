#!/usr/bin/env bash
# The GPU-only paths in one short run, on a machine with one NVIDIA GPU and the README's setup
# done (a CUDA build of torch). Writes logs and results under OUT (default gpu_check_out/).
#
#   bench/gpu_check.sh MULTI30K_DIR WIKITEXT_DIR [OUT]
#
# MULTI30K_DIR: the output of `knee-nlp data multi30k` (its data-bin/ is used);
# WIKITEXT_DIR: WikiText-2's tokens folder (test.txt trains, valid.txt is held out).
# Checks: fairseq knee with --fp16 (LR exact across updates skipped on overflow), the HF
# Trainer with fp16 and bf16, the BERT launcher with bf16, and the Multi30k full preset with
# inverse_sqrt and knee (1 seed, the longest part).
set -euo pipefail
multi30k=$(realpath "${1:?usage: bench/gpu_check.sh MULTI30K_DIR WIKITEXT_DIR [OUT]}")
wikitext=$(realpath "${2:?usage: bench/gpu_check.sh MULTI30K_DIR WIKITEXT_DIR [OUT]}")
out=$(realpath -m "${3:-gpu_check_out}")
cd "$(dirname "$0")/.."
mkdir -p "$out"
python -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.cuda.get_device_name(0), "torch", torch.__version__)'

step() { echo "== $1 ($(date -u +%H:%M:%S))"; }
step "fairseq --lr-scheduler knee --fp16"
python bench/gpu_check.py fairseq-fp16 --data-bin "$multi30k/data-bin" --work-dir "$out"
for precision in fp16 bf16; do
    step "Hugging Face Trainer --$precision"
    python bench/gpu_check.py trainer --precision "$precision" --work-dir "$out"
done
step "BERT launcher, bf16"
python -m hf_integration.pretrain_bert --config tiny mixed_precision=bf16 \
    run_dir="$out/bert-bf16" "data.train_files=[$wikitext/test.txt]" \
    "data.validation_files=[$wikitext/valid.txt]" 2>&1 | tail -n 5
step "Multi30k full preset: inverse_sqrt and knee, seed 1"
knee-nlp reproduce multi30k --preset full --data-dir "$multi30k" --run-dir "$out/multi30k-full" \
    --schedules inverse_sqrt knee --budgets 50ep --seeds 1
cat "$out/multi30k-full/results.md"
step "done"
