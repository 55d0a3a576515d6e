#!/usr/bin/env bash
# Send a signal once to every training rank on this node (the processes running `-m trainer train`), not to the
# launchers around them (the DeepSpeed launcher and torchrun would turn it into SIGTERM + SIGKILL 30 s later)
# nor to the env workers (the ranks close those themselves): a rank stops cleanly on it (trainer/stop.py).
#   scripts/signal_ranks.sh SIGNAL [SESSION_ID]    (only ranks in that session, when given)
set -uo pipefail
SIGNAL=$1; SESSION=${2:-}
for pid in $(pgrep -f -- "-m trainer train" || true); do
  [ -r "/proc/$pid/cmdline" ] || continue
  cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline")
  case "$cmdline" in *deepspeed.launcher*|*torch.distributed.run*|*torchrun*) continue ;; esac
  if [ -n "$SESSION" ] && [ "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$SESSION" ]; then continue; fi
  kill -s "$SIGNAL" "$pid" 2>/dev/null || true
done
