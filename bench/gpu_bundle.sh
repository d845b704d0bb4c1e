#!/usr/bin/env bash
# Make .gpu_bundle/ in the repo root: what bench/gpu_check.sh needs on a GPU machine that cannot
# reach a package registry (the device tool's H200: Python 3.12, torch, transformers, accelerate,
# pandas and pyarrow already there). Run it here, where pip reaches PyPI.
#
#   bash bench/gpu_bundle.sh [--multi30k DIR] [--wikitext DIR]
#
#   --multi30k DIR  the output of `knee-nlp data multi30k` (its data-bin/ is copied)
#                   (default: ../multi30k.de-en beside the repo)
#   --wikitext DIR  WikiText-2's tokens/ folder (test.txt and valid.txt are copied)
#                   (default: $KNEE_NLP_SHARED_DATA/wikitext-2/tokens, else ../shared/data/...)
#
# The bundle holds:
#   wheels/     for CPython 3.12, Linux x86_64, no dependencies: each distribution of
#               `bench/gpu_check.py requirements` (the project's needs the machine lacks) at the
#               version installed in .venv (the tested one); one with no such wheel on PyPI is
#               built here, and must then be pure Python. knee-nlp itself is not bundled: the
#               check imports the repo through PYTHONPATH.
#   multi30k/data-bin/, wikitext-2/tokens/{test,valid}.txt   the data of the checks
#   SOURCE      the git revision bundled from; SHA256SUMS of every file; a .gitignore of `*`
# It is checked with `bench/gpu_check.py inputs` and must stay under 50 MB (the device tool
# carries 64 MiB in all). The device tool then runs the check as:
#   run(command='bash bench/gpu_check.sh --out "$OUT"', carry=[".gpu_bundle"], timeout_s=540)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_PY=$ROOT/.venv/bin/python
MULTI30K=$ROOT/../multi30k.de-en
WIKITEXT=${KNEE_NLP_SHARED_DATA:-$ROOT/../shared/data}/wikitext-2/tokens
BUNDLE=$ROOT/.gpu_bundle
MAX_MB=50
PLATFORMS=(--python-version 3.12 --implementation cp --platform manylinux2014_x86_64
           --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64)

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --multi30k) MULTI30K=$2; shift 2 ;;
        --wikitext) WIKITEXT=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
fail() { echo "error: $*" >&2; exit 2; }
[[ -d $MULTI30K/data-bin ]] || fail "$MULTI30K/data-bin not found: give --multi30k (the output of \`knee-nlp data multi30k\`)"
for split in test valid; do
    [[ -s $WIKITEXT/$split.txt ]] || fail "$WIKITEXT/$split.txt not found: give --wikitext (WikiText-2's tokens/)"
done
[[ -x $VENV_PY ]] || fail "$VENV_PY not found: the versions to bundle are read from the repo's .venv"

cd "$ROOT"
STAGE=$(mktemp -d /tmp/gpu_bundle.XXXXXX)
chmod 755 "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/wheels" "$STAGE/multi30k" "$STAGE/wikitext-2/tokens"

# pip_quiet ARGS...: pip, its output shown only when it fails
pip_quiet() {
    "$VENV_PY" -m pip --disable-pip-version-check "$@" >"$STAGE/pip.log" 2>&1 || { cat "$STAGE/pip.log" >&2; return 1; }
}

mapfile -t PINS < <("$VENV_PY" bench/gpu_check.py requirements)
for pin in "${PINS[@]}"; do
    if pip_quiet download --no-deps --only-binary=:all: "${PLATFORMS[@]}" -d "$STAGE/wheels" "$pin" 2>/dev/null; then
        echo "wheel  $pin"
    else  # an sdist only (antlr4-python3-runtime): build it; gpu_check.py inputs refuses a non-pure one
        pip_quiet wheel --no-deps -w "$STAGE/wheels" "$pin"
        echo "built  $pin"
    fi
done
rm -f "$STAGE/pip.log"

cp -r "$MULTI30K/data-bin" "$STAGE/multi30k/data-bin"
cp "$WIKITEXT/test.txt" "$WIKITEXT/valid.txt" "$STAGE/wikitext-2/tokens/"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
[[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]] && revision+="+dirty"
echo "$revision, bundled $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STAGE/SOURCE"
echo '*' >"$STAGE/.gitignore"  # git ignores the bundle wherever it lies
# shellcheck disable=SC2094  # find skips the SHA256SUMS being written
(cd "$STAGE" && find . -type f ! -name SHA256SUMS -printf '%P\n' | sort | xargs -d '\n' sha256sum >SHA256SUMS)

"$VENV_PY" bench/gpu_check.py inputs --bundle "$STAGE"
size_mb=$(du -sm "$STAGE" | cut -f1)
((size_mb <= MAX_MB)) || fail "the bundle is $size_mb MB, over $MAX_MB MB"
rm -rf "$BUNDLE"
mv "$STAGE" "$BUNDLE"
trap - EXIT
echo "bundle: $BUNDLE, $(du -sh "$BUNDLE" | cut -f1) ($(find "$BUNDLE/wheels" -name '*.whl' | wc -l) wheels)"
echo "check it here: bash bench/gpu_check.sh --check-only"
echo "on the GPU machine: run(command='bash bench/gpu_check.sh --out \"\$OUT\"', carry=[\".gpu_bundle\"], timeout_s=540)"
