#!/usr/bin/env bash
# One node, N GPUs, through the DeepSpeed launcher.
#   scripts/train.sh [--gpus N] [--dry-run] [--config FILE] [key.path=value ...]
# The log goes to <run folder>/launcher.log (the run folder comes from the config).
set -euo pipefail
cd "$(dirname "$0")/.."
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l || true); GPUS=${GPUS:-1}; [ "$GPUS" -gt 0 ] || GPUS=1
DRY_RUN=0; ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) GPUS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PY=${PYTHON:-python3}; [ -x .venv/bin/python ] && PY=.venv/bin/python
RUN_DIR=$("$PY" -m trainer config run-dir "${ARGS[@]}")
# The launcher runs from the venv's interpreter (not a `deepspeed` found on PATH), so every rank runs with
# the versions installed here.
CMD=("$PY" -m deepspeed.launcher.runner --num_gpus "$GPUS" --no_local_rank --module trainer train "${ARGS[@]}")
if [ "$DRY_RUN" = 1 ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
mkdir -p "$RUN_DIR"
# Ctrl-C and SIGTERM reach the ranks once, from here (scripts/signal_ranks.sh): the launcher runs in its own
# session, so neither the terminal nor a scheduler's SIGTERM to this script reaches it or the env workers.
# The ranks checkpoint, print one line and exit 130 / 143; a second Ctrl-C stops them at once.
setsid "${CMD[@]}" > >(trap '' INT TERM; exec tee -a "$RUN_DIR/launcher.log") 2>&1 &
LAUNCHER=$!
trap 'scripts/signal_ranks.sh INT "$LAUNCHER"' INT
trap 'scripts/signal_ranks.sh TERM "$LAUNCHER"' TERM
STATUS=0
while :; do
  STATUS=0; wait "$LAUNCHER" || STATUS=$?  # (set -e must not end this script while the ranks stop)
  kill -0 "$LAUNCHER" 2>/dev/null || break  # wait returns early when a trapped signal arrives
done
exit "$STATUS"
