#!/usr/bin/env bash
# The NVML path with a real GPU (issue 11): a real `jupyter server` with swan_ml_ext and a
# real kernel that allocates GPU memory with whatever is installed (torch, else cupy, else
# numba) plus a child process of that kernel that allocates too; then GET swan-ml-ext/gpu
# must name that kernel (and its notebook) as the user of both processes' memory. Prints the
# figures. Exits 0 with "skipped: ..." where there is no GPU (or nothing to allocate with),
# 1 when the mapping is wrong, 2 when the environment cannot run the check.
#
#   bench/gpu_device_check.sh            # PYTHON=/path/to/python to choose the interpreter
#
# On a machine whose Python lacks jupyter_server/ipykernel (e.g. this workplace's GPU image),
# carry wheels in .whl/ (Python 3.12, manylinux x86-64), e.g. from the repo root:
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#     jupyter_server ipykernel nbformat pyyaml anyio nvidia-ml-py
# and the script installs them into /tmp/site first (no index, no network).
set -u
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-compile --no-cache-dir --upgrade \
    --find-links .whl --target /tmp/site .whl/*.whl || { echo "error: wheels in .whl/ did not install"; exit 2; }
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

# No GPU: skip, calmly (NVML's own answer, or no nvidia-smi and no pynvml at all).
if ! "$PY" - <<'EOF'
import sys
try:
    import pynvml
    pynvml.nvmlInit()
    n = pynvml.nvmlDeviceGetCount()
except Exception as e:  # noqa: BLE001 - any NVML failure means: no GPU here
    print(f"skipped: no GPU ({type(e).__name__}: {e})")
    sys.exit(1)
if n == 0:
    print("skipped: no GPU (NVML sees no device)")
    sys.exit(1)
EOF
then
  exit 0
fi

exec "$PY" bench/_gpu_device_check.py
