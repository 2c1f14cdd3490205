#!/bin/sh
# After a lent GPU's call (runs/device-call.sh): bring vaegan-w's run back and measure it against the
# shipped default, in one command, here on the CPU (about 45 minutes with FRAMES=100).
#
#   sh runs/vaegan-w/trial.sh FILES_AT [FRAMES]
#
# FILES_AT is the folder the call's files came back to (run.tgz, train.log). Steps:
#   1. runs/vaegan-g/gpu/bring_back.py: the run's resume point into RUNDIR (default runs/vaegan-w), its
#      log as RUNDIR.gpuN.log (N the next free number); commit them after (git add -f RUNDIR/*.safetensors;
#      RUNDIR/last.toml says device "cuda" and compile true: resume here with --device cpu --no-compile)
#   2. the trial model packaged from last.safetensors into TRIAL (default a new temporary folder), with
#      its sub-pixel predictor table (python -m vidcodec.train.subpel, ~5 min) and its int8 ranges
#      (python -m vidcodec.int8: the encoder's default backend uses them, as it does vaegan-i's; without
#      them the trial would be measured in float32 against vaegan-i's 8-bit analysis)
#   3. python -m vidcodec.evaluate.compare on the three held-out clips, FRAMES frames each (default 100,
#      the issue-3 comparison), against vaegan-i, into RUNDIR/trial-N/ (bdrate.csv: negative = the trial
#      needs fewer bits); ship only if it wins there and on the unseen clips (docs/eval/vaegan-i's
#      merge.py reuses the x264 points; docs/MODELS.md's shipping recipe)
#
# Checked 2026-12-05 (session 45) end to end on a CPU run.tgz of runs/vaegan-g/gpu/session.sh (300 steps of
# 8 x 64^2, DEVICE=cpu) with RUNDIR a copy of runs/vaegan-w and FRAMES=3.
set -eu
FILES=${1:?usage: sh runs/vaegan-w/trial.sh FILES_AT [FRAMES]}
FRAMES=${2:-100}
RUNDIR=${RUNDIR:-runs/vaegan-w}
NAME=${NAME:-vaegan-w}
PY=${PYTHON:-python}
[ -f "$FILES/run.tgz" ] || { echo "no run.tgz in $FILES"; exit 2; }
[ -d data/photos ] || { echo "no data/photos: fetch the corpus (README) and link it as data"; exit 2; }
N=1
while [ -e "$RUNDIR.gpu$N.log" ] || [ -e "$RUNDIR/trial-$N" ]; do N=$((N + 1)); done
LOG=""
[ -f "$FILES/train.log" ] && LOG="--log $FILES/train.log $RUNDIR.gpu$N.log"
# shellcheck disable=SC2086
$PY runs/vaegan-g/gpu/bring_back.py "$FILES/run.tgz" "$RUNDIR" $LOG
TRIAL=${TRIAL:-$(mktemp -d)}
$PY -m vidcodec.train.package "$RUNDIR/last.safetensors" "$TRIAL" --name "$NAME" --default-quality 5
VIDCODEC_MODEL_PATH=$TRIAL $PY -m vidcodec.train.subpel "$NAME" data/photos "$TRIAL/$NAME.subpel.safetensors"
VIDCODEC_MODEL_PATH=$TRIAL $PY -m vidcodec.int8 "$NAME" data/photos --count 24 --skip-every 12
CLIPS="samples/bikes.mp4 samples/vtest.mp4"
if [ -f data/videos/diver.mov ]; then CLIPS="data/videos/diver.mov $CLIPS"
else echo "warning: data/videos/diver.mov is missing: comparing on bikes and vtest only"; fi
# shellcheck disable=SC2086
VIDCODEC_MODEL_PATH=$TRIAL $PY -m vidcodec.evaluate.compare --models vaegan-i "$NAME" --clips $CLIPS \
    --frames "$FRAMES" --out "$RUNDIR/trial-$N"
echo "trial model in $TRIAL (VIDCODEC_MODEL_PATH=$TRIAL to use it); BD-rates against vaegan-i:"
cat "$RUNDIR/trial-$N/bdrate.csv"
