#!/usr/bin/env bash
# The GPU path in one command (doctor, 3 training steps with vLLM + sleep mode + DeepSpeed + KL + EPO, the
# engine cycle, throughput ratios); see scripts/gpu_check.py. Flags: --cpu (tiny model, what CI runs),
# --dry-run (plan only), --out DIR. Uses .venv's interpreter when there is one, else $PYTHON or python3.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}; [ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=disabled
exec "$PY" scripts/gpu_check.py "$@"
