"""BD-rate of the int8 analysis network (quantize.py's /tmp/a_q8.onnx) against fp32: every level,
20 frames, the encoder otherwise unchanged. python runs/int8-analysis/bdrate.py CLIP...
"""
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vidcodec.evaluate import rd
from vidcodec.models import zoo

so = ort.SessionOptions(); so.intra_op_num_threads = 1
q8 = ort.InferenceSession("/tmp/a_q8.onnx", so, providers=["CPUExecutionProvider"])
name = q8.get_inputs()[0].name
orig = zoo.CodecModel.analyze
def analyze_q8(self, x):
    return np.concatenate([q8.run(None, {name: np.ascontiguousarray(x[i:i+1], dtype=np.float32)})[0] for i in range(len(x))])
for clip in sys.argv[1:]:
    ref, rate = rd.read_frames(Path(clip), 20)
    curves = {}
    for mode in ("fp32", "int8"):
        zoo.CodecModel.analyze = analyze_q8 if mode == "int8" else orig
        with tempfile.TemporaryDirectory() as d:
            curves[mode] = list(rd.vidcodec_points(Path(clip), ref, rate, 250, Path(d), range(1, 9)))
    zoo.CodecModel.analyze = orig
    psnr = rd.bd_rate([(p.bpp, p.psnr) for p in curves["fp32"]], [(p.bpp, p.psnr) for p in curves["int8"]])
    ms = rd.bd_rate([(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["fp32"]], [(p.bpp, rd.ms_ssim_db(p.ms_ssim)) for p in curves["int8"]])
    print(Path(clip).name, f"int8 analysis against fp32, PSNR / MS-SSIM BD-rate: {psnr:+.2f} / {ms:+.2f} %", flush=True)
