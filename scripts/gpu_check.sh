#!/usr/bin/env bash
# The GPU path in one command on a bare GPU node (preflight, doctor, a short training run from
# configs/alfworld_gpu.yaml, the engine cycle, throughput ratios, peak GPU memory per phase); see
# scripts/gpu_check.py. Flags: --wheelhouse DIR (first install turnrl from a carried wheelhouse, no index:
# scripts/install.sh --offline DIR, seeing the image's own CUDA torch), --gpus 2 (through scripts/train.sh: ZeRO-3, tensor parallelism 2),
# --cpu (tiny model, what CI runs), --dry-run (preflight + plan only), --write-docs, --out DIR.
# Uses .venv's interpreter when there is one, else $PYTHON or python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheelhouse)
      [ -d "${2:-}" ] || { echo "gpu_check: --wheelhouse needs a folder (got '${2:-}')" >&2; exit 2; }
      SYSTEM_SITE_PACKAGES=1 bash scripts/install.sh --offline "$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PY=${PYTHON:-python3}; [ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled
# GPU: the sampler that returns processed log-probs, and the in-process engine the colocated path needs
export VLLM_USE_FLASHINFER_SAMPLER=0 VLLM_ENABLE_V1_MULTIPROCESSING=0
exec "$PY" scripts/gpu_check.py "${ARGS[@]}"
