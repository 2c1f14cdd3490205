"""Global-motion canvas alignment (2026-12-04; an experiment, not in the format: measured and dropped).

    python runs/encoder-tuning/canvas.py FRAMES MIN_RESPONSE CLIP[:SKIP]...

runs/subpel/pan.py shows a pan of one pixel a frame costing 10-20 times what a pan of one latent
pixel (16) costs. Here each frame is placed in a canvas 16 pixels wider and taller at the integer
offset o_t = round(-accumulated global motion) mod 16 (global motion: OpenCV's phase correlation of
consecutive frames' luma, used when its response is at least MIN_RESPONSE), so that panned content
stays put in the canvas and moves by whole latent pixels when the offset wraps; canvas pixels the
frame does not cover keep the previous canvas's (the first canvas: edge-replicated). The canvas is
coded with the default encoder and the window cropped back after decoding (what a decoder would do
with a per-packet offset). BD-rate of the canvas against coding the frames as they are, every level:

    synthetic pan (Megamind frame 120, 704x512, 1 px a frame, 20 frames)  -73.98 / -73.15 %
    OpenCV Megamind frames 120-149 (30 frames; motion 1-2.7 px a frame)   +40.32 / +47.26 %
    bikes (30 frames; no reliable global motion: offsets stay 0)           +21.41 / +19.99 %

PSNR / MS-SSIM. The mechanism works on a pure translation, but in real footage the phase-correlation
peak follows whatever dominates (Megamind's vertical offset swings 4 px a frame with the characters
and camera shake), the rest of the picture moves against it, and the 16-pixel margin alone costs a
fifth more bits (bikes, zero offsets: the replicated border's streaks are coded in every keyframe).
"""

import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from vidcodec import api
from vidcodec.evaluate import rd

M = 16
def global_motion(a, b):
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float32)
    win = cv2.createHanningWindow(ga.shape[::-1], cv2.CV_32F)
    (dx, dy), resp = cv2.phaseCorrelate(ga, gb, win)
    return dx, dy, resp

def canvases(frames, min_resp):
    h, w = frames[0].shape[:2]
    acc = np.zeros(2); offs = []; out = []
    canvas = None
    for i, f in enumerate(frames):
        if i:
            dx, dy, resp = global_motion(frames[i-1], f)
            if resp >= min_resp:
                acc -= (dx, dy)  # content moved by +(dx, dy) (phaseCorrelate's sign): the frame goes the other way
        ox, oy = int(np.round(acc[0])) % M, int(np.round(acc[1])) % M
        if canvas is None:
            canvas = cv2.copyMakeBorder(f, M, M, M, M, cv2.BORDER_REPLICATE)[M - oy:M - oy + h + M, M - ox:M - ox + w + M].copy()
        c = canvas.copy()
        c[oy:oy + h, ox:ox + w] = f
        canvas = c
        offs.append((ox, oy)); out.append(c)
    return out, offs

def score_points(clip, ref, rate, frames_in, crop_offs, tmp, tag):
    src = tmp / f"{tag}.y4m"; rd.write_y4m_clip(frames_in, rate, src)
    h, w = ref[0].shape[:2]
    pts = []
    for q in range(1, 9):
        out = tmp / f"{tag}{q}.gvc"
        api.encode(src, out, quality=q, overwrite=True)
        dec = [f.rgb for f in api.frames(out)]
        if crop_offs is not None:
            dec = [d[oy:oy + h, ox:ox + w] for d, (ox, oy) in zip(dec, crop_offs)]
        pts.append(rd.score(clip.name, tag, f"q={q}", ref, dec, out.stat().st_size, rate))
    return pts

frames_n = int(sys.argv[1]); min_resp = float(sys.argv[2])
for spec in sys.argv[3:]:
    clip, _, skip = spec.partition(":")
    clip = Path(clip)
    ref, rate = rd.read_frames(clip, frames_n, int(skip or 0))
    cv, offs = canvases(ref, min_resp)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base = score_points(clip, ref, rate, ref, None, tmp, "base")
        gmc = score_points(clip, ref, rate, cv, offs, tmp, "gmc")
    ps = rd.bd_rate([(p.bpp, p.psnr) for p in base], [(p.bpp, p.psnr) for p in gmc])
    ms = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in base], [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in gmc])
    print(f"{clip.name}:{skip} offsets {offs[:12]}... ; canvas vs plain PSNR / MS-SSIM BD-rate {ps:+.2f} / {ms:+.2f} %", flush=True)
    print("   base", [(round(p.bpp,4), round(p.psnr,2)) for p in base][::2])
    print("   gmc ", [(round(p.bpp,4), round(p.psnr,2)) for p in gmc][::2], flush=True)
