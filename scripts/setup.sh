#!/usr/bin/env bash
# Set up everything on a fresh machine: system packages, a virtualenv in .venv,
# the CPU build of torch first (so nothing pulls CUDA packages), then the project.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # Build tools for packages that compile (llama-cpp-python for the local LLM server),
  # and the headless Chromium the browser tests drive (never `playwright install`).
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential cmake chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Every version is pinned by requirements.lock (used as constraints), so a fresh machine gets
# the versions the tests ran with.
LOCK=()
[ -f requirements.lock ] && LOCK=(-c requirements.lock)
.venv/bin/python -m pip install -q "${LOCK[@]}" torch==2.13.0
# llama-cpp-python compiles llama.cpp; its default -march=native build uses every
# instruction the CPU lists, AMX included, which a VM may refuse at run time
# (SIGILL on the first completion). A portable build (AVX2/FMA, runtime-detected
# extras) runs everywhere; --no-cache-dir keeps pip from reusing a native wheel.
if ! .venv/bin/python -c "import llama_cpp" >/dev/null 2>&1; then
  CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/python -m pip install -q --no-cache-dir "${LOCK[@]}" "llama-cpp-python[server]>=0.3"
fi
.venv/bin/python -m pip install -q "${LOCK[@]}" -e '.[dev,local]'
echo "Set up: .venv ready ($(.venv/bin/python --version))."
