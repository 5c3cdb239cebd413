#!/usr/bin/env bash
# GPU check for sklearn_meta: one script to run on a machine with a CUDA GPU.
#
#   1. nvidia-smi line (GPU, driver, memory);
#   2. the whole test suite (pytest -x -q) under `timeout $TEST_TIMEOUT`;
#   3. the few-shot Omniglot benchmark (benchmarks/fewshot_omniglot.py) with a
#      budget that fits ~5 minutes on an H100 (default 3000 meta-updates per
#      model, 600 test episodes per setting);
#   4. benchmarks/finetune_overhead.py --device cuda, when that file exists;
#   5. benchmarks/protonet_defaults.py --configs defaults --device cuda: the
#      ProtoNetClassifier defaults (early stopping included) fitted on the
#      Omniglot background set, scored on Lake's one-shot runs and on
#      evaluation-set episodes;
#   6. benchmarks/domain_digits.py --device cuda: MNIST <-> USPS domain
#      adaptation, every DomainAdaptedClassifier method and skada's DANN (when
#      installed), 3 seeds, and the label-free selection of DANN's trade_off;
#   7. benchmarks/maml_omniglot.py --device cuda: MAMLClassifier against
#      learn2learn's MAML (when installed) on the same Omniglot episodes,
#      5-way and 20-way 1-shot: tasks/s, peak memory, meta-gradient
#      differences, accuracy ± 95 % CI beside Finn et al. (the MAML CUDA
#      tests run in step 2).
#   8. benchmarks/images_finetune_files.py --device cuda: fine-tuning from
#      JPEG files against an ImageFolder + DataLoader + hand loop (step
#      "images", IMG_TIMEOUT).
#   9. benchmarks/speed.py --device cuda: each estimator against its peer
#      (easyfsl, a hand loop and skorch, skada) in float32 and bf16,
#      alternating rounds (step "speed", SPEED_TIMEOUT; only when named in
#      ONLY, as its own call: ONLY=speed). easyfsl and skada come from .whl/
#      or PYTHONPATH.
# A short summary table is printed at the end. Every step runs even when an
# earlier one fails; the exit status is non-zero if any step failed.
#
# Run it from the repository root:
#
#   bash benchmarks/gpu_check.sh
#
# Data: the device machine gets a copy of the repository only (not ../shared),
# so the caller copies omniglot.npz into ./.bench_data/ first:
#
#   mkdir -p .bench_data && cp ../shared/data/omniglot.npz \
#       ../shared/data/omniglot_oneshot_runs.npz \
#       ../shared/data/mnist.npz ../shared/data/usps.npz .bench_data/
#
# (about 25 MB; keep .bench_data/ out of commits, e.g. `echo /.bench_data/ >> .git/info/exclude`
# and carry it explicitly.) DATA_HOME overrides the folder.
#
# Packages: the repository root is put on PYTHONPATH (no install needed). If a
# folder .whl/ holds wheels (skorch and easyfsl are not in every GPU image,
# nor are dask and distributed with tornado, tblib, zict, partd and locket,
# which tests/test_dask.py and the scale step need), they are installed into
# /tmp/site first and put on PYTHONPATH as well.
#
# Outputs: when $OUT is set, logs and JSON results go there
# ($OUT/gpu_check_*.log, $OUT/fewshot_omniglot.json, ...); else to
# bench_results/ (git-ignored).
#
# Environment knobs (defaults): PYTHON (python3), DATA_HOME (.bench_data),
# BENCH_ITERS (2000), BENCH_EPISODES (600), TEST_TIMEOUT (200),
# BENCH_TIMEOUT (100), FT_TIMEOUT (40), DEF_TIMEOUT (80), DA_TIMEOUT (100),
# MAML_ITERS (1500), MAML_TIMEOUT (150), SCALE_TIMEOUT (60), IMG_TIMEOUT (90),
# SPEED_TIMEOUT (300);
# the default timeouts add up to about 10 minutes. ONLY="tests maml" runs just the steps
# named (tests, fewshot, finetune, defaults, domain, maml, images, scale, speed), to split
# the check over two calls; "scale" (Dask, 1/2/4 workers) and "speed" run only when named.
set -euo pipefail
export PYTHONUNBUFFERED=1

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
DATA_HOME=${DATA_HOME:-.bench_data}
BENCH_ITERS=${BENCH_ITERS:-2000}
BENCH_EPISODES=${BENCH_EPISODES:-600}
TEST_TIMEOUT=${TEST_TIMEOUT:-120}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-100}
FT_TIMEOUT=${FT_TIMEOUT:-40}
DEF_TIMEOUT=${DEF_TIMEOUT:-80}
DA_TIMEOUT=${DA_TIMEOUT:-100}
MAML_ITERS=${MAML_ITERS:-1500}
MAML_TIMEOUT=${MAML_TIMEOUT:-150}
SCALE_TIMEOUT=${SCALE_TIMEOUT:-60}
IMG_TIMEOUT=${IMG_TIMEOUT:-90}
SPEED_TIMEOUT=${SPEED_TIMEOUT:-300}
ONLY=${ONLY:-tests fewshot finetune defaults domain maml images}
RESULTS=${OUT:-bench_results}
mkdir -p "$RESULTS"

if compgen -G ".whl/*.whl" > /dev/null; then
    echo "== installing wheels from .whl/ into /tmp/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

declare -A STATUS
declare -A SECONDS_TAKEN
STEPS=()

# run_step NAME TIMEOUT CMD...: run with a timeout, log to $RESULTS, keep going.
run_step() {
    local name=$1 limit=$2
    shift 2
    case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    STEPS+=("$name")
    echo
    echo "== $name: $* (timeout ${limit}s)"
    local start=$SECONDS rc=0
    timeout "$limit" "$@" 2>&1 | tee "$RESULTS/gpu_check_${name}.log" || rc=$?
    SECONDS_TAKEN[$name]=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        STATUS[$name]=ok
    elif [ "$rc" -eq 124 ]; then
        STATUS[$name]="TIMEOUT"
    else
        STATUS[$name]="FAILED (rc=$rc)"
    fi
}

echo "== nvidia-smi"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu \
    --format=csv,noheader || echo "nvidia-smi failed"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'available', torch.cuda.is_available())"

run_step tests "$TEST_TIMEOUT" "$PYTHON" -m pytest tests -x -q -p no:cacheprovider

if [ -f "$DATA_HOME/omniglot.npz" ]; then
    run_step fewshot "$BENCH_TIMEOUT" "$PYTHON" benchmarks/fewshot_omniglot.py \
        --device cuda --iters "$BENCH_ITERS" --test-episodes "$BENCH_EPISODES" \
        --data-home "$DATA_HOME" --out "$RESULTS/fewshot_omniglot.json"
else
    STEPS+=(fewshot)
    STATUS[fewshot]="SKIPPED (no $DATA_HOME/omniglot.npz; see the header)"
    SECONDS_TAKEN[fewshot]=0
fi

if [ -f benchmarks/finetune_overhead.py ]; then
    run_step finetune "$FT_TIMEOUT" "$PYTHON" benchmarks/finetune_overhead.py --device cuda
else
    STEPS+=(finetune)
    STATUS[finetune]="SKIPPED (benchmarks/finetune_overhead.py not present)"
    SECONDS_TAKEN[finetune]=0
fi

if [ -f "$DATA_HOME/omniglot.npz" ] && [ -f "$DATA_HOME/omniglot_oneshot_runs.npz" ]; then
    run_step defaults "$DEF_TIMEOUT" "$PYTHON" benchmarks/protonet_defaults.py \
        --configs defaults --device cuda --threads 4 --data-home "$DATA_HOME" \
        --out "$RESULTS/protonet_defaults.json"
else
    STEPS+=(defaults)
    STATUS[defaults]="SKIPPED (no omniglot.npz / omniglot_oneshot_runs.npz in $DATA_HOME)"
    SECONDS_TAKEN[defaults]=0
fi

if [ -f "$DATA_HOME/mnist.npz" ] && [ -f "$DATA_HOME/usps.npz" ]; then
    run_step domain "$DA_TIMEOUT" "$PYTHON" benchmarks/domain_digits.py \
        --device cuda --seeds 0 1 2 --select --data-home "$DATA_HOME" \
        --out "$RESULTS/domain_digits.json"
else
    STEPS+=(domain)
    STATUS[domain]="SKIPPED (no mnist.npz / usps.npz in $DATA_HOME)"
    SECONDS_TAKEN[domain]=0
fi

if [ -f "$DATA_HOME/omniglot.npz" ]; then
    run_step maml "$MAML_TIMEOUT" "$PYTHON" benchmarks/maml_omniglot.py \
        --device cuda --ways 5 20 --iters "$MAML_ITERS" --episodes 600 \
        --data-home "$DATA_HOME" --out "$RESULTS/maml_omniglot.json"
else
    STEPS+=(maml)
    STATUS[maml]="SKIPPED (no $DATA_HOME/omniglot.npz; see the header)"
    SECONDS_TAKEN[maml]=0
fi

# Fine-tuning from JPEG files (made from mnist.npz) on the GPU: images per
# second of FineTuneClassifier.fit on the files against an ImageFolder +
# DataLoader + hand-written loop, same model; the CUDA tests of image inputs
# (storage="stream" against "device") run in step "tests".
if [ -f "$DATA_HOME/mnist.npz" ]; then
    run_step images "$IMG_TIMEOUT" "$PYTHON" benchmarks/images_finetune_files.py \
        --device cuda --repeats 3 --data-home "$DATA_HOME" \
        --out "$RESULTS/images_finetune_files.json"
else
    STEPS+=(images)
    STATUS[images]="SKIPPED (no $DATA_HOME/mnist.npz; see the header)"
    SECONDS_TAKEN[images]=0
fi

# Each estimator against its peer, float32 and bf16 (benchmarks/speed.py).
# Not in the default ONLY: run ONLY=speed as a call of its own.
if [ -f "$DATA_HOME/omniglot.npz" ] && [ -f "$DATA_HOME/mnist.npz" ] \
        && [ -f "$DATA_HOME/usps.npz" ]; then
    run_step speed "$SPEED_TIMEOUT" "$PYTHON" benchmarks/speed.py --device cuda --rounds 5 \
        --k1 20 --k2 60 --epochs 4 --threads 4 --data-home "$DATA_HOME" \
        --out "$RESULTS/speed.json"
else
    case " $ONLY " in *" speed "*)
        STEPS+=(speed)
        STATUS[speed]="SKIPPED (no omniglot.npz / mnist.npz / usps.npz in $DATA_HOME)"
        SECONDS_TAKEN[speed]=0 ;;
    esac
fi

# Dask scale-out on the machine's CPU cores (the GPU test of one worker per GPU
# is in tests/test_dask.py, step "tests"). Not in the default ONLY: the
# timeouts above already fill one 10-minute call; run ONLY=scale as a second.
run_step scale "$SCALE_TIMEOUT" "$PYTHON" benchmarks/scale_out.py --quick \
    --workers 1 2 4 --no-profiler

echo
echo "== gpu_check summary"
printf '| %-9s | %-60s | %7s |\n' step status seconds
printf '|%s|%s|%s|\n' "-----------" "--------------------------------------------------------------" "---------"
failed=0
for step in "${STEPS[@]}"; do
    printf '| %-9s | %-60s | %7s |\n' "$step" "${STATUS[$step]}" "${SECONDS_TAKEN[$step]}"
    case "${STATUS[$step]}" in ok | SKIPPED*) ;; *) failed=1 ;; esac
done
tests_tail=$(grep -E "passed|failed|error" "$RESULTS/gpu_check_tests.log" 2>/dev/null | tail -n 1 || true)
[ -n "$tests_tail" ] && echo "tests: $tests_tail"
if [ -f "$RESULTS/gpu_check_fewshot.log" ]; then
    echo "few-shot table:"
    grep -E '^\|' "$RESULTS/gpu_check_fewshot.log" || true
    grep -E '^peak GPU memory|^device:' "$RESULTS/gpu_check_fewshot.log" || true
fi
if [ -f "$RESULTS/gpu_check_defaults.log" ]; then
    echo "ProtoNet defaults:"
    grep -E '^\|' "$RESULTS/gpu_check_defaults.log" || true
fi
if [ -f "$RESULTS/gpu_check_domain.log" ]; then
    echo "domain adaptation (MNIST <-> USPS):"
    grep -E '^\|' "$RESULTS/gpu_check_domain.log" || true
fi
if [ -f "$RESULTS/gpu_check_maml.log" ]; then
    echo "MAML, Omniglot (ours vs learn2learn):"
    grep -E '^\||^device:' "$RESULTS/gpu_check_maml.log" || true
fi
echo "results in $RESULTS"
exit "$failed"
