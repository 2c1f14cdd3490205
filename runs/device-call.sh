#!/bin/sh
# The whole device session in one call (15 minutes of device time per session, the machine's start
# and the transfers included, so one call of under 10 minutes, then give_back):
#
#   1. issue 4's 1080p rates: runs/gpu-speed/device.sh (C++ core built there, torch on CUDA), at most
#      SPEED_S seconds (default 240): 15 GOP workers on the stream 4 times over (960 frames: the
#      rates of a long video, not of a pool filling and draining), the encodes with the frames' bytes
#      converted on the GPU, with the learned sub-pixel prediction and with bilinear (`--subpel
#      bilinear`, about half the delta coder's CPU time at 1080p on the 2-core VM: 97 -> 51 ms a frame,
#      for 12 % more bytes on 40 frames of bikes; since session 37 the default is `--colour on,off`
#      instead: the encodes with colour corrections, as `vidcodec encode --workers` now makes them,
#      and without, as measured before; the bilinear runs are in docs/eval/gpu-speed-h200-steady).
#      The 2026-12-04 calls: 1/4/8/15 workers on the 240
#      frames (docs/eval/gpu-speed-h200), then 15 workers on 960 (docs/eval/gpu-speed-h200-steady:
#      decode 161.5 fps, encode 56.6).
#   2. issue 3: a training run resumed (runs/vaegan-g/gpu/session.sh; RUNDIR, default runs/vaegan-w,
#      the wider synthesis, whose first call starts from vaegan-g's resume point) for what is left of
#      BUDGET_S seconds (default 540), less a minute for its start, last validation and tar.
#
# To check the wave model of GOP-parallel encoding (runs/gpu-speed/speed.py's docstring: GOPs of
# 16 fill 15 workers' waves on the 960 frames, about 70 fps end to end against 56.6 with GOPs of 20),
# give SPEED_ARGS="--repeat 4 --analysis device --colour off --encode-gop 20,16" (2026-12-05, not run yet).
#
# Here, before the call (both folders are ignored):
#   python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 70     # 13 MB (the 64 MiB: session.sh)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl constriction==0.5.0
#   sh runs/device-slim.sh .gpu .whl      # docs/eval, docs/ablation out of the tree: 65.6 -> 57.2 MiB
# The call:
#   run(command="sh runs/device-call.sh", carry=[".gpu", ".whl"], timeout_s=590)
# Then `sh runs/device-slim.sh --restore` (the call refuses a tree of more than 64 MiB with the
# carried paths; without the slimming the 2026-12-07 tree was over it).
# Back: speed.json, speed.log, build.log, gpu.txt (-> docs/eval/gpu-speed-*/), run.tgz, train.log
# (-> runs/vaegan-g/gpu/session.sh's header says what to do with them, into RUNDIR).
# Dry run on the 2-core VM, 2026-12-06 (session 54, to check sessions 43-53 broke nothing on the way):
#   PYTHON=venv/bin/python SITE=/tmp/site OUT=/tmp/o WORKERS=1 SPEED_S=200 BUDGET_S=420 DEVICE=cpu BATCH=4 \
#       CROP=64 COMPILE=0 sh runs/device-call.sh      (a cp311 constriction wheel in .whl; PyAV stood in by avstub)
# the speed check built the core and ran until its timeout (1080p on 2 cores), training started vaegan-w
# from vaegan-g's resume point (--init) and ran 600 steps, run.tgz came back, and
# `sh runs/vaegan-w/trial.sh /tmp/o 3` brought it back, packaged it and compared it (bdrate.csv written).
# Ran 2026-12-04 as `LR=5e-6 WORKERS=15 SPEED_S=240 BUDGET_S=540 sh runs/device-call.sh` (then with
# vaegan-g's run; 502 s, 548 s held): speed check 122 s (docs/eval/gpu-speed-h200-steady), training
# 6 minutes (runs/vaegan-g.gpu7.log).
set -u
: "${OUT:?set OUT (the device machine sets it)}"
T0=$(date +%s)
WORKERS=${WORKERS:-15} SPEED_ARGS=${SPEED_ARGS:---repeat 4 --analysis device --colour on,off} \
    timeout "${SPEED_S:-240}" sh runs/gpu-speed/device.sh
echo "speed check: rc $? after $(( $(date +%s) - T0 )) s"
LEFT=$(( ${BUDGET_S:-540} - ($(date +%s) - T0) - 60 ))
MIN=$(awk -v s="$LEFT" 'BEGIN { printf "%.2f", (s < 60 ? 1 : s / 60) }')
echo "training for $MIN minutes"
RUNDIR=${RUNDIR:-runs/vaegan-w} sh runs/vaegan-g/gpu/session.sh "$MIN"
echo "training: rc $? after $(( $(date +%s) - T0 )) s in all"
