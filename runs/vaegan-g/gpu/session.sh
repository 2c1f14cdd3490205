#!/bin/sh
# One device call: resume vaegan-g's training on a lent GPU for MINUTES, bring the checkpoints back.
#
# A session with a GPU has 15 minutes of device time in all (the machine's start, the transfer and
# the idle wait included), so this is one call, prepared and tested on the CPU beforehand:
#
#   here (once):   python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 70   # 13 MB
#   device call:   run(command="sh runs/vaegan-g/gpu/session.sh 8", carry=[".gpu"], timeout_s=590)
#                  (2026-12-04: 8 minutes took 506 s of command and 551 s of device time with the start)
#   here, after:   python runs/vaegan-g/gpu/bring_back.py FILES_AT/run.tgz RUNDIR --log FILES_AT/train.log RUNDIR.gpuN.log
#                  (last/disc checkpoints, log.csv, val.csv, ranks.json, curves.png into RUNDIR as the next
#                  resume point, last.json's "out" and data paths rewritten, moments compacted to bfloat16;
#                  git add -f RUNDIR/*.safetensors and commit, so that the trial below can be packaged from it)
#                  python -m vidcodec.train.package runs/vaegan-g/last.safetensors /tmp/wj \
#                      --name vaegan-j --default-quality 5       (vaegan-i, the default, is this run's step 52300)
#                  VIDCODEC_MODEL_PATH=/tmp/wj python -m vidcodec.train.subpel vaegan-j data/photos /tmp/wj/vaegan-j.subpel.safetensors
#                  VIDCODEC_MODEL_PATH=/tmp/wj python -m vidcodec.evaluate.compare --models vaegan-i vaegan-j --clips \
#                      DATA/videos/diver.mov samples/bikes.mp4 samples/vtest.mp4 --frames 100 --out /tmp/jvi
#                  (27 minutes here; ship a new model only if it wins there and on the unseen clips, see
#                  docs/eval/vaegan-i, whose merge.py reuses the x264 points)
#
# At lr 1.5e-5 the run had levelled off by step 52300-55300 (validation 0.7560-0.7574 on the WebP-70
# pack; 5e-5 had been going down by ~0.001 per 1000 steps): another session of the same buys little.
# A lower rate (LR=5e-6) is the last cheap step; after that, capacity (a wider synthesis) or a
# conditional model of the deltas is what the numbers ask for (README, "Where the gap is").
#
# 2026-12-04, later: 5e-6 tried (steps 55300 -> 66900, runs/vaegan-g.gpu7.log, gpu8.log): validation
# 0.7560 -> 0.7542-0.7554, levelled off too. The next run is capacity: RUNDIR=runs/vaegan-w (its
# config.toml: the synthesis's first two hidden layers 48 -> 64 channels, widened from vaegan-g's resume
# point without changing its output, lr 3e-5) -- `RUNDIR=runs/vaegan-w sh runs/vaegan-g/gpu/session.sh 8`.
# Its first call starts from runs/vaegan-g/last.safetensors (--init); bring run.tgz back into
# runs/vaegan-w as above. Its checkpoints add about 7 MB (compacted) to a tree that carried 61 MiB of
# 64 with the pack and the wheel on 2026-12-04: commit them in place of vaegan-g's resume point
# (git rm runs/vaegan-g/last.safetensors runs/vaegan-g/disc.safetensors: vaegan-w has started from it,
# and it stays in history at commit f65de55 for vaegan-j's trial and a rerun of vaegan-w from scratch).
#
# Validation crops come from the pack: WebP decodes them a little smoother than the JPEG pack of
# vaegan-g's GPU run (the same weights score 0.7965 against 0.8084), so the first validation here
# becomes the run's "best" and the losses are comparable within the run only.
#
# The tree (about 43 MiB on 2026-12-03) and the pack must stay under the 64 MiB a call carries; check before the call:
#   echo $(( ($(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + $(du -sb .gpu | cut -f1)) / 1048576 )) MiB
# (with the quality-90 pack, 28 MB: 61 MiB early on 2026-12-02, 63.7 MiB by its end, 0.3 MiB under the
# limit; hence --quality 85, 21.1 MB; on 2026-12-03 the tree was 42.9 MiB and that pack left 0.9 MiB, so
# --quality 80, 17.0 MB, 59.1 MiB in all; on 2026-12-04 vaegan-h's 5 MB made the tree 49.7 MiB, so --quality 70
# above, 13.3 MB, 63.3 MiB in all with the constriction wheel of runs/device-call.sh and the day's docs;
# then the 53 tracked plots were saved in 256 colours (vidcodec/figures.py, 6.4 -> 2.2 MB): 59.3 MiB;
# its validation crops differ again, see above); later that day vaegan-i came in (+5.1 MB) and the resume
# point's optimizer moments went to bfloat16 (python -m vidcodec.train.checkpoint compact, -3.4 MB): 61.2 MiB
# with the pack and the wheel; on 2026-12-07 65.6 MiB with them (docs/eval had grown): runs/device-slim.sh
# takes docs/eval and docs/ablation out of the working tree for the call (57.2 MiB) and checks the size. Compact the checkpoints brought back before committing them. On the device the
# run continues from runs/vaegan-g/last.safetensors in a copy (the tracked files are not touched);
# it writes $OUT/run.tgz (last, best and disc checkpoints, configs, logs) and $OUT/train.log.
# BATCH (default 64 crops of 256², vaegan-g was trained with 32), LR (default 1.5e-5 since 2026-12-04, 5e-5
# before) and COMPILE (default 1; 0 trains eagerly) override.
#
# Test here on the CPU, with PyAV, constriction and pytorch-msssim hidden as on the device machine:
#   mkdir -p /tmp/hide /tmp/out && echo 'import sys; sys.modules.update(dict.fromkeys(["av", "constriction",
#     "pytorch_msssim"]))' > /tmp/hide/sitecustomize.py
#   PYTHONPATH=/tmp/hide PYTHON=python DEVICE=cpu BATCH=8 CROP=64 OUT=/tmp/out sh runs/vaegan-g/gpu/session.sh 0.3
set -eu
MINUTES=${1:-7}
: "${OUT:?set OUT (the device machine sets it)}"
PACK=${VIDCODEC_PACK:-.gpu/data}
RUNDIR=${RUNDIR:-runs/vaegan-g}  # the run to go on with (runs/vaegan-w: the wider synthesis, below)
RUN=$(mktemp -d)/$(basename "$RUNDIR")
PY=${PYTHON:-python3}
[ -d "$PACK/photos" ] || { echo "no data pack at $PACK: carry .gpu (make_pack.py, above)"; exit 2; }
cp -r "$RUNDIR" "$RUN"
# a run that has not started yet has only its config.toml (and an --init checkpoint in it)
CONFIG=$RUNDIR/last.toml
[ -f "$CONFIG" ] || CONFIG=$RUNDIR/config.toml
# --resume where there is a resume point (since session 52 `--resume` with none is refused)
RESUME_FLAG=
[ -f "$RUNDIR/last.safetensors" ] && RESUME_FLAG=--resume
# vaegan-g goes on at 1.5e-5 unless LR says otherwise; any other run at its config's rate
[ "$RUNDIR" = runs/vaegan-g ] && LR=${LR:-1.5e-5}
# COMPILE=1 (the default): torch.compile the step (`vidcodec train --compile`, 2026-12-05, not yet run on
# a GPU: eager steps there were bound by the kernels they launch, 43 ms at batch 64 x 256^2; the log's
# ms/step after the compile line says what it gives; it falls back to eager if compiling fails)
COMPILE_FLAG=--compile
[ "${COMPILE:-1}" = 0 ] && COMPILE_FLAG=--no-compile
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$OUT/train.log" 2>&1
set +e
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" VIDCODEC_PACK="$PACK" PYTHONUNBUFFERED=1 $PY runs/vaegan-g/gpu/train_gpu.py \
  --config "$CONFIG" --out "$RUN" --data "$PACK/photos" "$PACK/videos" $RESUME_FLAG \
  --device "${DEVICE:-cuda}" --batch "${BATCH:-64}" --crop "${CROP:-256}" ${LR:+--lr "$LR"} \
  --max-minutes "$MINUTES" --val-every 500 --log-every 100 --threads 8 $COMPILE_FLAG >>"$OUT/train.log" 2>&1
rc=$?
set -e
tail -n 5 "$OUT/train.log"
tar czf "$OUT/run.tgz" -C "$RUN" --exclude=./gpu .
ls -l "$OUT"
exit $rc
