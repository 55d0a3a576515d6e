#!/usr/bin/env bash
# Several nodes. Two ways, same code and config:
#   --hostfile FILE            DeepSpeed launcher from one node (passwordless ssh/pdsh to the others);
#   --nnodes N [--rdzv HOST:PORT] [--nproc-per-node G]
#                              torchrun with c10d rendezvous, started once on EVERY node (no ssh needed;
#                              this is also what slurm/train.sbatch runs under srun).
#   scripts/train_multinode.sh (--hostfile F | --nnodes N --rdzv H:P) [--dry-run] [--config FILE] [k=v ...]
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTFILE=""; NNODES=""; RDZV=${RDZV:-127.0.0.1:29500}; NPROC=""; DRY_RUN=0; ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --hostfile) HOSTFILE=$2; shift 2 ;;
    --nnodes) NNODES=$2; shift 2 ;;
    --rdzv) RDZV=$2; shift 2 ;;
    --nproc-per-node) NPROC=$2; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [ -z "$NPROC" ]; then NPROC=$(nvidia-smi -L 2>/dev/null | wc -l || true); [ "${NPROC:-0}" -gt 0 ] || NPROC=1; fi
PY=${PYTHON:-python3}; [ -x .venv/bin/python ] && PY=.venv/bin/python
RUN_DIR=$("$PY" -m trainer config run-dir "${ARGS[@]}")
if [ -n "$HOSTFILE" ]; then
  # launchers from the venv's interpreter, never from PATH: every rank then runs the versions installed here
  CMD=("$PY" -m deepspeed.launcher.runner --hostfile "$HOSTFILE" --no_local_rank --module trainer train "${ARGS[@]}")
elif [ -n "$NNODES" ]; then
  CMD=("$PY" -m torch.distributed.run --nnodes "$NNODES" --nproc-per-node "$NPROC" --rdzv-backend c10d --rdzv-endpoint "$RDZV"
       --rdzv-id "${RDZV_ID:-turnrl}" -m trainer train "${ARGS[@]}")
else
  echo "train_multinode.sh: give --hostfile FILE or --nnodes N" >&2; exit 2
fi
if [ "$DRY_RUN" = 1 ]; then printf '%q ' "${CMD[@]}"; echo; exit 0; fi
mkdir -p "$RUN_DIR"
"${CMD[@]}" 2>&1 | tee -a "$RUN_DIR/launcher-$(hostname).log"
