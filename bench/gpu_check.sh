#!/usr/bin/env bash
# One-shot check of knee-nlp's GPU-only paths, made to run unattended on a fresh machine with one
# NVIDIA GPU and no package registry. It installs the wheels of .gpu_bundle/ (made where pip
# reaches PyPI by bench/gpu_bundle.sh; torch and transformers are left as they are), imports the
# repo through PYTHONPATH and fairseq's plugin through --user-dir, then runs each check of
# bench/gpu_check.py under a time limit. Every step's result is recorded even when one fails;
# the exit status is 0 only when all passed.
#
#   bash bench/gpu_check.sh [--out DIR] [--work DIR] [--bundle DIR] [--budget-s S]
#                           [--with-multi30k-full] [--check-only]
#
#   --out DIR       where summary.json and the logs go, 8 files at most (default: $OUT, else
#                   /tmp/gpu_check/out)
#   --work DIR      scratch space; each run works in DIR/run-<UTC time> (default /tmp/gpu_check)
#   --bundle DIR    the bundle (default: .gpu_bundle in the repo root)
#   --budget-s S    stop starting steps past S seconds in all (default 480); each step's limit
#                   is cut to what is left
#   --with-multi30k-full  also run the Multi30k full preset, inverse_sqrt and knee (50 epochs
#                   each: far longer than one 10-minute device command; give --budget-s)
#   --check-only    check the inputs and print the plan; no install, no CUDA
#
# Checks: fairseq --fp16 knee on Multi30k (300 updates; the loss scale overflows before and
# during training); the HF Trainer under bf16 and fp16 (fp16 skips steps on purpose); the BERT
# launcher under bf16 on WikiText-2 (60 + 20 updates). About 3-4 minutes on an H200 after install.
# The device tool runs it as:
#   run(command='bash bench/gpu_check.sh --out "$OUT"', carry=[".gpu_bundle"], timeout_s=540)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
OUT_DIR=${OUT:-/tmp/gpu_check/out}
WORK_ROOT=/tmp/gpu_check
BUNDLE=$ROOT/.gpu_bundle
BUDGET_S=480
RESERVE_S=15     # kept for the summary after the last step
MIN_STEP_S=30    # a step that would get less is skipped
FULL=0
CHECK_ONLY=0
# shellcheck disable=SC2016  # $OUT is for the device machine's shell
RUN_COMMAND='run(command='\''bash bench/gpu_check.sh --out "$OUT"'\'', carry=[".gpu_bundle"], timeout_s=540)'

usage() { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
        --out) OUT_DIR=$2; shift 2 ;;
        --work) WORK_ROOT=$2; shift 2 ;;
        --bundle) BUNDLE=$2; shift 2 ;;
        --budget-s) BUDGET_S=$2; shift 2 ;;
        --with-multi30k-full) FULL=1; shift ;;
        --check-only) CHECK_ONLY=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

[[ $BUDGET_S =~ ^[0-9]+$ ]] || { echo "error: --budget-s takes whole seconds, got $BUDGET_S" >&2; exit 2; }
cd "$ROOT" || exit 2
BUNDLE=$(realpath -m "$BUNDLE")
OUT_DIR=$(realpath -m "$OUT_DIR")
WORK=$(realpath -m "$WORK_ROOT/run-$(date -u +%Y%m%dT%H%M%SZ)")
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export KNEE_NLP_NO_FAIRSEQ_HOOK=1  # knee reaches fairseq through --user-dir, not a .pth hook
CHECK=("$PY" bench/gpu_check.py)

# record NAME STATUS RC WALL_S LIMIT_S LOG [REASON]: one line of steps.jsonl
record() {
    printf '{"step": "%s", "status": "%s", "rc": %s, "wall_s": %s, "timeout_s": %s, "log": "%s"%s}\n' \
        "$1" "$2" "$3" "$4" "$5" "$6" "${7:+, \"reason\": \"$7\"}" >>"$WORK/steps.jsonl"
}

# publish [--print]: (re)write summary.json and copy the logs into OUT_DIR
publish() {
    "${CHECK[@]}" summary --work-dir "$WORK" --out "$OUT_DIR" --bundle "$BUNDLE" "$@"
}

# step NAME LIMIT_S LOG COMMAND...: run COMMAND under `timeout` (LIMIT_S, cut to the budget left),
# its output appended to logs/LOG; record the result and publish. --check-only prints the plan.
step() {
    local name=$1 limit=$2 log=$3; shift 3
    if ((CHECK_ONLY)); then
        printf '  %-14s <= %4s s  %s\n' "$name" "$limit" "$*"
        return 0
    fi
    local left=$((BUDGET_S - SECONDS - RESERVE_S))
    ((left < limit)) && limit=$left
    if ((limit < MIN_STEP_S)); then
        echo "== $name: skipped, ${left} s left of --budget-s $BUDGET_S"
        record "$name" skipped null null null "$log" "out of time budget"
        publish >/dev/null
        return 1
    fi
    local file=$WORK/logs/$log
    echo "== $name (at most $limit s, $(date -u +%H:%M:%S) UTC)" | tee -a "$file"
    local first=$(($(wc -l <"$file") + 1)) start=$EPOCHREALTIME rc=0
    timeout --kill-after=10 "$limit" "$@" >>"$file" 2>&1 || rc=$?
    local wall status=pass
    wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if ((rc == 124 || rc == 137)); then status=timeout; elif ((rc)); then status=fail; fi
    record "$name" "$status" "$rc" "$wall" "$limit" "$log"
    echo "   $status in $wall s $(tail -n "+$first" "$file" | grep -E '^(PASS|FAIL): ' | tail -n 1 | cut -c1-300)"
    ((rc)) && tail -n "+$first" "$file" | tail -n 5 | sed 's/^/   | /'
    publish >/dev/null
    return "$rc"
}

# skip_rest REASON NAME...: record steps that cannot run
skip_rest() {
    local reason=$1 name; shift
    for name in "$@"; do record "$name" skipped null null null "$name.log" "$reason"; done
}

echo "knee-nlp GPU check: repo $ROOT, bundle $BUNDLE, work $WORK, out $OUT_DIR, python $PY"
DATA_BIN=$BUNDLE/multi30k/data-bin
WIKITEXT=$BUNDLE/wikitext-2/tokens
CHECKS=(fairseq_fp16 trainer_bf16 trainer_fp16 bert_bf16)
((FULL)) && CHECKS+=(multi30k_full)

# 1. the inputs (bundle and data), before anything is installed or CUDA is touched
if ((CHECK_ONLY)); then
    "${CHECK[@]}" inputs --bundle "$BUNDLE" || exit 2
    echo "plan (each limit is cut to what is left of --budget-s $BUDGET_S):"
else
    mkdir -p "$WORK/logs" "$WORK/results" || exit 2
    if ! "${CHECK[@]}" inputs --bundle "$BUNDLE" 2>&1 | tee -a "$WORK/logs/setup.log"; then
        record inputs fail 2 null null setup.log
        skip_rest "inputs missing" install imports cuda "${CHECKS[@]}"
        publish --print
        exit 2
    fi
    record inputs pass 0 null null setup.log
fi

# 2. install the bundled wheels (no index, no dependencies: the machine's torch and transformers
#    stay as they are) and import every module the checks need
failed=0
step install 120 setup.log "$PY" -m pip install --no-index --no-deps --no-compile \
    --disable-pip-version-check -q "$BUNDLE"/wheels/*.whl || failed=1
step imports 120 setup.log "${CHECK[@]}" imports --work-dir "$WORK" || failed=1
# 3. the GPU: without one, nothing else can run
if ! step cuda 60 setup.log "${CHECK[@]}" cuda --work-dir "$WORK"; then
    skip_rest "the cuda step did not pass" "${CHECKS[@]}"
    publish --print
    exit 1
fi

# 4. the checks: each records its result whatever the others do
step fairseq_fp16 150 fairseq_fp16.log "${CHECK[@]}" fairseq-fp16 --data-bin "$DATA_BIN" --work-dir "$WORK" || failed=1
for precision in bf16 fp16; do
    step "trainer_$precision" 90 "trainer_$precision.log" \
        "${CHECK[@]}" trainer --precision "$precision" --work-dir "$WORK" || failed=1
done
step bert_bf16 180 bert_bf16.log "${CHECK[@]}" bert-bf16 --wikitext "$WIKITEXT" --work-dir "$WORK" || failed=1
if ((FULL)); then
    step multi30k_full "$BUDGET_S" multi30k_full.log \
        "${CHECK[@]}" multi30k-full --data-dir "$BUNDLE/multi30k" --work-dir "$WORK" || failed=1
fi

if ((CHECK_ONLY)); then
    echo "inputs OK. On the GPU machine: $RUN_COMMAND"
    exit 0
fi
publish --print
exit $((failed))
