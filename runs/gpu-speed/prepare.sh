#!/bin/sh
# Here, before a device call: a 1080p stream of real frames for runs/gpu-speed/speed.py to decode
# (and whose frames it encodes again): samples/bikes.mp4 (640x272, 250 frames) scaled to
# 1920x1080, 240 frames, GOPs of 20 (12 GOPs: work for 8 workers), default quality. ~3 min here.
#
#   sh runs/gpu-speed/prepare.sh    # writes runs/gpu-speed/bikes1080.gvc (committed; device.sh reads it)
#   then see device.sh
set -eu
PY=${PYTHON:-python}
mkdir -p runs/gpu-speed
TMP=$(mktemp -d)
$PY - "$TMP/bikes1080.y4m" <<'PYEOF'
import sys
from fractions import Fraction
from vidcodec.evaluate.bench import load_frames
from vidcodec.evaluate.rd import write_y4m_clip
frames, rate, _ = load_frames("samples/bikes.mp4", 240, (1920, 1080))
write_y4m_clip(frames, rate, sys.argv[1])
PYEOF
$PY -m vidcodec encode "$TMP/bikes1080.y4m" runs/gpu-speed/bikes1080.gvc --gop 20 -y -q
rm -rf "$TMP"
ls -l runs/gpu-speed/bikes1080.gvc
