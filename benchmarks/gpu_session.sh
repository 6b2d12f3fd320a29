#!/usr/bin/env bash
# The checks of issue 18 that need a GPU, prepared for a session whose task is lent a GPU machine (the `device`
# tool). Two steps:
#
#   bash benchmarks/gpu_session.sh prepare     # here, with network: the wheels the GPU machine lacks -> .whl/
#   device run, carry [".whl"] (git-ignored), timeout_s 590:
#       bash benchmarks/gpu_session.sh run     # there: install them, CUDA tests, then the benchmark
#
# The GPU machine (see the device tool's KINDS.md) has Python 3.12 with a CUDA torch, triton, numba, pandas, scipy,
# matplotlib and tqdm; it lacks snnTorch, SpikingJelly and SpikingJelly's loguru and SciencePlots, carried as wheels
# and installed with --no-deps. spikeloc runs from the working tree (PYTHONPATH). Everything printed goes to
# $OUT/gpu_session.log too, so it comes back even when the run is cut off at its limit; copy its lines into the
# issue's note. Sized for about 8 minutes: the CUDA tests, the benchmark's sections 1-3, then the two seed-preset
# studies and competing_units.py's quick preset on the GPU (SKIP_STUDIES=1 skips those if time is short).
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform any -d .whl \
        snntorch==1.0.0 spikingjelly==2.0.0 loguru==0.7.3 scienceplots==2.2.2
    ls -l .whl
    ;;
run)
    log="${OUT:-/tmp}/gpu_session.log"
    exec > >(tee "$log") 2>&1
    export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:/tmp/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())"
    # the CUDA tests: the Triton kernel compiled for the GPU against numba, auto picking it, training on CUDA
    timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_fused_triton.py tests/test_devices.py -rs \
        || echo "CUDA TESTS FAILED (exit $?)"
    timeout 400 python3 benchmarks/bench_gpu.py --repeats 5 ${SKIP_STUDIES:+--skip-studies} \
        || echo "BENCHMARK FAILED OR CUT OFF (exit $?)"
    ;;
*)
    echo "usage: bash benchmarks/gpu_session.sh prepare|run" >&2
    exit 2
    ;;
esac
