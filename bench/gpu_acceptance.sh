#!/usr/bin/env bash
# One command on a GPU machine: every CUDA test and GPU benchmark, logs + JSON in OUTDIR.
#
#   bench/gpu_acceptance.sh [--dry-run] OUTDIR
#
# Installs nothing and needs no network: run it where cupy, torch and pytest are installed
# and the repository is installed with `pip install --no-deps --no-build-isolation -e .`.
# Each step has its own log in OUTDIR/logs and a time limit (under 10 minutes in all on an
# H100); a failing step does not stop the next one.  The benchmark JSON lands in
# OUTDIR/results (copy it to bench/results/ to commit it).  On a machine without a CUDA
# device, or with --dry-run, it prints the command lines it would run, writes nothing and
# exits 0.  Set PYTHON to choose the interpreter (default: python).
set -u

usage() {
    echo "usage: bench/gpu_acceptance.sh [--dry-run] OUTDIR" >&2
    exit 2
}

dry=0
outdir=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry=1 ;;
        -h|--help) usage ;;
        -*) echo "unknown option: $arg" >&2; usage ;;
        *)
            if [ -n "$outdir" ]; then usage; fi
            outdir="$arg"
            ;;
    esac
done
if [ -z "$outdir" ]; then usage; fi

# OUTDIR is taken relative to the caller's directory; the steps run from the repo root.
case "$outdir" in
    /*) ;;
    *) outdir="$PWD/$outdir" ;;
esac
here="$(cd "$(dirname "$0")" && pwd)" || exit 2
root="$(cd "$here/.." && pwd)" || exit 2
cd "$root" || exit 2

py="${PYTHON:-python}"
q_py="$(printf '%q' "$py")"

if [ "$dry" -eq 0 ]; then
    if ! "$py" -c "import gpugrad; import sys; sys.exit(0 if gpugrad.cuda.is_available() else 1)" \
        >/dev/null 2>&1; then
        echo "no CUDA device here: dry run (nothing is run or written)"
        dry=1
    fi
fi

# Steps: name, time limit in seconds, command line (run by bash -c from the repo root).
# The limits sum to 570 s (under 10 minutes).
q_out="$(printf '%q' "$outdir")"
names=()
limits=()
cmds=()
step() {
    names+=("$1")
    limits+=("$2")
    cmds+=("$3")
}
# the GPU's cases only (their ids say cuda; the backend's and the gpu tests too): CI runs the
# CPU ones, and the whole suite would not fit the limit on one process
step pytest 170 "$q_py -m pytest -q -m 'slow or not slow' -k 'cuda or gpu or backend' -p no:cacheprovider --junitxml $q_out/junit.xml"
step no-sync 30 "$q_py -m pytest -q -p no:cacheprovider tests/test_gpu_no_sync.py"
step bench-kernels 75 "$q_py bench/bench_kernels.py --out $q_out/results"
step bench-mlp 45 "$q_py bench/bench_mlp.py --device cuda --out $q_out/results"
step bench-cnn 45 "$q_py bench/bench_cnn.py --device cuda --out $q_out/results"
# five variants (gpugrad eager/compiled/graph, torch eager/graph), one worker process each
step bench-compile 120 "$q_py bench/bench_compile.py --device cuda --only chain20,mlp --rounds 1 --out $q_out/results"
# the MLP trained through one CUDA graph per step; the CNN eagerly
step train-mlp 40 "$q_py -m gpugrad train --device cuda --compile --cuda-graph --out $q_out/train-mlp --no-progress"
step train-cnn 45 "$q_py -m gpugrad train --device cuda --model cnn --out $q_out/train-cnn --no-progress"

n=${#names[@]}

if [ "$dry" -eq 1 ]; then
    echo "would run, from the repository root, with logs in $outdir/logs:"
    echo "  nvidia-smi -L; $py -m gpugrad info"
    i=0
    while [ "$i" -lt "$n" ]; do
        printf '  [%s, %ss] timeout %s %s\n' "${names[$i]}" "${limits[$i]}" "${limits[$i]}" "${cmds[$i]}"
        i=$((i + 1))
    done
    exit 0
fi

mkdir -p "$outdir/logs" "$outdir/results" || exit 2

{
    echo "gpugrad acceptance run, $(date -u '+%Y-%m-%dT%H:%M:%SZ'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi -L
    fi
    "$py" -m gpugrad info
} 2>&1 | tee "$outdir/logs/0-gpu.log"

status=()
secs=()
logs=()
failed=0
i=0
while [ "$i" -lt "$n" ]; do
    log="logs/$((i + 1))-${names[$i]}.log"
    logs+=("$log")
    echo
    echo "== ${names[$i]} (limit ${limits[$i]} s): ${cmds[$i]}"
    start=$(date +%s)
    timeout --kill-after=10 "${limits[$i]}" bash -c "${cmds[$i]}" >"$outdir/$log" 2>&1
    rc=$?
    end=$(date +%s)
    secs+=("$((end - start))")
    if [ "$rc" -eq 0 ]; then
        status+=("ok")
    elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        status+=("FAILED (timeout)")
        failed=$((failed + 1))
    else
        status+=("FAILED (rc $rc)")
        failed=$((failed + 1))
    fi
    tail -n 3 "$outdir/$log"
    i=$((i + 1))
done

summary="$outdir/summary.txt"
{
    echo
    echo "== summary ($outdir)"
    printf '%-14s %-18s %6s  %s\n' step result seconds log
    i=0
    while [ "$i" -lt "$n" ]; do
        printf '%-14s %-18s %6s  %s\n' "${names[$i]}" "${status[$i]}" "${secs[$i]}" "${logs[$i]}"
        i=$((i + 1))
    done
    echo "JSON results: results/ ($(ls "$outdir/results" 2>/dev/null | tr '\n' ' '))"
    if [ "$failed" -eq 0 ]; then
        echo "all $n steps ok"
    else
        echo "$failed of $n steps FAILED"
    fi
} | tee "$summary"

[ "$failed" -eq 0 ]
