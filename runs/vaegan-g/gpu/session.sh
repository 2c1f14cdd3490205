#!/bin/sh
# One device call: resume vaegan-g's training on a lent GPU for MINUTES, bring the checkpoints back.
#
# A session with a GPU has 15 minutes of device time in all (the machine's start, the transfer and
# the idle wait included), so this is one call, prepared and tested on the CPU beforehand:
#
#   here (once):   python runs/vaegan-g/gpu/make_pack.py data .gpu/data --format webp --quality 70   # 13 MB
#   device call:   run(command="sh runs/vaegan-g/gpu/session.sh 7", carry=[".gpu"], timeout_s=600)
#   here, after:   mkdir -p /tmp/run && tar xzf FILES_AT/run.tgz -C /tmp/run
#                  python -m vidcodec.train.package /tmp/run/best.safetensors /tmp/wi \
#                      --name vaegan-i --default-quality 5       (vaegan-h, the default, is this run's step 41100)
#                  VIDCODEC_MODEL_PATH=/tmp/wi python -m vidcodec.train.subpel vaegan-i data/photos /tmp/wi/vaegan-i.subpel.safetensors
#                  VIDCODEC_MODEL_PATH=/tmp/wi python -m vidcodec.evaluate.compare --models vaegan-h vaegan-i --clips \
#                      DATA/videos/diver.mov samples/bikes.mp4 samples/vtest.mp4 --frames 30 --out docs/eval/i-vs-h
#                  (copy last/disc checkpoints and logs into runs/vaegan-g as the next resume point, last.json's
#                  paths rewritten; ship a new model only if it wins there, see docs/eval/vaegan-h)
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
# its validation crops differ again, see above) On the device the
# run continues from runs/vaegan-g/last.safetensors in a copy (the tracked files are not touched);
# it writes $OUT/run.tgz (last, best and disc checkpoints, configs, logs) and $OUT/train.log.
# BATCH (default 64 crops of 256², vaegan-g was trained with 32) and LR (default 5e-5) override.
#
# Test here on the CPU, with PyAV, constriction and pytorch-msssim hidden as on the device machine:
#   mkdir -p /tmp/hide /tmp/out && echo 'import sys; sys.modules.update(dict.fromkeys(["av", "constriction",
#     "pytorch_msssim"]))' > /tmp/hide/sitecustomize.py
#   PYTHONPATH=/tmp/hide PYTHON=python DEVICE=cpu BATCH=8 CROP=64 OUT=/tmp/out sh runs/vaegan-g/gpu/session.sh 0.3
set -eu
MINUTES=${1:-7}
: "${OUT:?set OUT (the device machine sets it)}"
PACK=${VIDCODEC_PACK:-.gpu/data}
RUN=$(mktemp -d)/vaegan-g
PY=${PYTHON:-python3}
[ -d "$PACK/photos" ] || { echo "no data pack at $PACK: carry .gpu (make_pack.py, above)"; exit 2; }
cp -r runs/vaegan-g "$RUN"
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$OUT/train.log" 2>&1
set +e
PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" VIDCODEC_PACK="$PACK" PYTHONUNBUFFERED=1 $PY runs/vaegan-g/gpu/train_gpu.py \
  --config runs/vaegan-g/last.toml --out "$RUN" --data "$PACK/photos" "$PACK/videos" --resume \
  --device "${DEVICE:-cuda}" --batch "${BATCH:-64}" --crop "${CROP:-256}" --lr "${LR:-5e-5}" \
  --max-minutes "$MINUTES" --val-every 500 --log-every 100 --threads 8 >>"$OUT/train.log" 2>&1
rc=$?
set -e
tail -n 5 "$OUT/train.log"
tar czf "$OUT/run.tgz" -C "$RUN" --exclude=./gpu .
ls -l "$OUT"
exit $rc
