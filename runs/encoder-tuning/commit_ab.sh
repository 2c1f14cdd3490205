#!/bin/sh
# CLI encode speed of an earlier commit against the working tree, alternating, on y4m clips:
#   sh runs/encoder-tuning/commit_ab.sh COMMIT ROUNDS CLIP.y4m... [-- encode options]
# The commit is checked out in a git worktree (/tmp/commit-ab-COMMIT) and its C++ core built there
# with the same compiler (cmake + ninja, nanobind from this venv: `pip install nanobind`); its Python
# runs with the editable install's finder taken off sys.meta_path, so the two share nothing but the
# venv and the exported ONNX cache. Prints clip, which, frames, seconds, fps, bytes. Session 47 timed
# its nine clips against 5c65ef6 this way (docs/RESULTS.md). fps counts the clip's frames: cut
# clips with ffmpeg, not with --frames. Run with
# LD_PRELOAD=libtcmalloc_minimal.so.4 as every benchmark here. Against a commit before 6665b72 (2026-12-07)
# on a CPU without AMX or GPU, pass `-- --preset medium`: the default preset became auto, fast there.
set -e
REPO=$(cd "$(dirname "$0")/../.." && pwd)
COMMIT=$1; ROUNDS=$2; shift 2
CLIPS=""; while [ $# -gt 0 ] && [ "$1" != "--" ]; do CLIPS="$CLIPS $1"; shift; done
[ "${1:-}" = "--" ] && shift
OLD=/tmp/commit-ab-$COMMIT
PY=${PYTHON:-python}
if [ ! -d "$OLD" ]; then
  git -C "$REPO" worktree add -q "$OLD" "$COMMIT"
  cmake -S "$OLD" -B "$OLD/build-ab" -G Ninja -DPython_EXECUTABLE="$(command -v "$PY")" -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$OLD/build-ab" >/dev/null
  cp "$OLD"/build-ab/_native*.so "$OLD/vidcodec/"
fi
cat > "$OLD/run_old.py" <<PYEOF
import sys
sys.meta_path = [f for f in sys.meta_path if "skbc" not in type(f).__module__ and "editable" not in type(f).__module__]
sys.path.insert(0, "$OLD")
import vidcodec
assert vidcodec.__file__.startswith("$OLD"), vidcodec.__file__
from vidcodec.cli import main
sys.exit(main())
PYEOF
TMP=$(mktemp -d)
r=0
while [ $r -lt "$ROUNDS" ]; do
  r=$((r + 1))
  for clip in $CLIPS; do
    frames=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
    for which in old new; do
      s=$(date +%s.%N)
      if [ $which = old ]; then "$PY" "$OLD/run_old.py" encode "$clip" "$TMP/$which.gvc" -y -q "$@"
      else "$PY" -m vidcodec encode "$clip" "$TMP/$which.gvc" -y -q "$@"; fi
      e=$(date +%s.%N)
      echo "$(basename "$clip" .y4m) $which $frames $(echo "$e - $s" | bc -l | cut -c1-6) s" \
           "$(echo "$frames / ($e - $s)" | bc -l | cut -c1-5) fps $(stat -c %s "$TMP/$which.gvc") bytes"
    done
  done
done
rm -rf "$TMP"
