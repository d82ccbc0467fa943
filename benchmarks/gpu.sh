#!/usr/bin/env bash
# The GPU check, prepared for a CUDA machine (at most about 10 minutes): the speed table,
# a 1-GPU torchrun (DDP) run, a bf16 run, and the digits time-to-quality, written to
# benchmarks/results/gpu.md. Run from the repository root after
#   pip install -e ".[test,bench]"
# and commit what it writes. Each part has its own time limit, so one slow part cannot
# take the others' time; a part that fails is reported, and the rest still run.
set -uo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/gpu.md
work=$(mktemp -d)
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'" || exit 1
{
  echo "# GPU check ($(date -u +%Y-%m-%d))"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'bf16', torch.cuda.is_bf16_supported())"
  echo '```'
} > "$out"

part() {  # part TITLE SECONDS COMMAND...: runs COMMAND under a limit, appends its output
  local title=$1 limit=$2
  shift 2
  local started=$SECONDS
  echo "== $title"
  { echo; echo "## $title"; echo; echo '```'; } >> "$out"
  timeout "$limit" "$@" > "$work/part.log" 2>&1
  local rc=$?
  tail -n 40 "$work/part.log" >> "$out"
  { echo '```'; echo; echo "exit status $rc, $((SECONDS - started)) s"; } >> "$out"
}

cat > "$work/tiny.yaml" <<'YAML'
name: gpu-tiny
data: {name: moons, noise: 0.05}
model: {name: nsf, transforms: 5, bins: 8, hidden: [128, 128]}
train: {steps: 1000, batch: 512, lr: 0.001, schedule: cosine, eval_every: 250, device: cuda}
YAML

part "speed table (CUDA), 3 processes" 240 \
  python benchmarks/speed.py --device cuda --rounds 3 --name speed_gpu
part "torchrun, 1 GPU (DDP on nccl)" 60 \
  torchrun --standalone --nproc_per_node=1 -m bijective train "$work/tiny.yaml" --out "$work/ddp"
part "bf16 training (autocast on the GPU)" 60 \
  bijective train "$work/tiny.yaml" --out "$work/bf16" --set train.precision=bf16
part "fp32 training, same config" 60 \
  bijective train "$work/tiny.yaml" --out "$work/fp32"
part "time to quality, digits MAF, equal recipe" 150 \
  python benchmarks/time_to_quality.py --tasks digits-maf --recipes equal --seeds 0 --device cuda
echo "written: $out"
