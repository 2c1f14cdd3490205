#!/bin/sh
# One device call for issue 4's 1080p rates (about 5 minutes on the H200 machine): builds the C++
# core there (its Python is 3.12), installs constriction from .whl, stands avstub/ in for PyAV,
# and runs speed.py on runs/gpu-speed/bikes1080.gvc for 1, 4, 8 and 15 workers (WORKERS), torch on
# CUDA (BACKEND), with speed.py's other options in SPEED_ARGS (e.g. "--repeat 4 --analysis host,device").
#
# Here, before the call (the wheel is not committed; .whl is ignored):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl constriction==0.5.0
# The call:
#   run(command="sh runs/gpu-speed/device.sh", carry=[".whl"], timeout_s=600)
# Back here: $OUT/speed.json, speed.log, build.log, gpu.txt (copy them to docs/eval/gpu-speed/).
# Tested on the 2-core VM with its own Python (PYTHON=... SITE=... OUT=/tmp/o sh runs/gpu-speed/device.sh)
# except for the GPU.
set -eu
: "${OUT:?set OUT (the device machine sets it)}"
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/site}
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl
export PYTHONPATH="$SITE:$(pwd)/runs/gpu-speed/avstub:$(pwd)"
[ -f /tmp/vidcodec-build/build.ninja ] || cmake -S . -B /tmp/vidcodec-build -G Ninja -DPython_EXECUTABLE="$(command -v $PY)" -DCMAKE_BUILD_TYPE=Release \
    > "$OUT/build.log" 2>&1
cmake --build /tmp/vidcodec-build >> "$OUT/build.log" 2>&1
cp /tmp/vidcodec-build/_native*.so vidcodec/
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true) > "$OUT/gpu.txt" 2>&1
nproc >> "$OUT/gpu.txt"
NAME=${NAME:-speed}  # the files it writes: $OUT/$NAME.json and $NAME.log
PYTHONUNBUFFERED=1 $PY runs/gpu-speed/speed.py runs/gpu-speed/bikes1080.gvc "$OUT/$NAME.json" \
    --workers "${WORKERS:-1,4,8,15}" --backend "${BACKEND:-torch}" ${SPEED_ARGS:-} 2>&1 | tee "$OUT/$NAME.log"
