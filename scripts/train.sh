#!/usr/bin/env bash
# One node, N GPUs, through the DeepSpeed launcher.
#   scripts/train.sh [--gpus N] [--dry-run] [--skip-plan] [--config FILE] [key.path=value ...]
# Before launching on GPUs it runs the memory plan (`turnrl plan`) for N GPUs of this machine's memory and
# refuses a config that does not fit (--skip-plan launches anyway).
# The log goes to <run folder>/launcher.log (the run folder comes from the config).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() {
  cat <<'USAGE'
usage: scripts/train.sh [--gpus N] [--dry-run] [--skip-plan] [--config FILE] [key.path=value ...]
  --gpus N      GPUs (ranks) on this node (default: every GPU nvidia-smi lists, else 1)
  --dry-run     print the launch command and exit
  --skip-plan   launch even when the memory plan says the config does not fit (see `turnrl plan --help`);
                without it a config that does not fit on N GPUs of this machine's memory is refused (exit 1)
USAGE
}
GPUS=$(nvidia-smi -L 2>/dev/null | wc -l || true); GPUS=${GPUS:-1}; [ "$GPUS" -gt 0 ] || GPUS=1
DRY_RUN=0; SKIP_PLAN=0; ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpus) GPUS=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --skip-plan) SKIP_PLAN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PY=${PYTHON:-python3}; [ -x .venv/bin/python ] && PY=.venv/bin/python
RUN_DIR=$("$PY" -m trainer config run-dir "${ARGS[@]}")
# The smallest GPU's memory in MiB (GPU_MEMORY_MIB stands in for nvidia-smi, e.g. to check a plan elsewhere).
GPU_MIB=${GPU_MEMORY_MIB:-$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | sort -n | head -1 || true)}
if [ "$SKIP_PLAN" = 0 ] && [ -n "$GPU_MIB" ]; then
  GIB=$(awk "BEGIN { print $GPU_MIB / 1024 }")
  if ! "$PY" -m trainer plan --gpus "$GPUS" --gpu-memory-gib "$GIB" "${ARGS[@]}"; then
    echo "scripts/train.sh: the memory plan says this config does not fit on $GPUS x $GIB GiB (above);" \
      "change it, or launch anyway with --skip-plan" >&2
    exit 1
  fi
fi
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
