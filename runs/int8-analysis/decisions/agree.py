"""Measured and dropped (2026-12-05): how often the fine-delta decision made with an 8-bit synthesis
(decisions/synthesis.py's graph) agrees with float32's, and the two's relative MSE and 1-SSIM margins.

    python runs/int8-analysis/decisions/agree.py GRAPH.onnx CLIP..."""
import sys

import onnxruntime as ort

from vidcodec import api
from vidcodec.codec import vaegan as V

o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.log_severity_level = 3
S8 = ort.InferenceSession(sys.argv[1], o, providers=['CPUExecutionProvider'])
orig = V.FrameEncoder._fine_or_whole
rec = []
def patched(self, ys, x, fine, whole):
    def bits(c): return c[2][0] + 8 * len(c[4]) + 8
    def err(c, f):
        st = c[0] + c[1] * self.unit
        return V.picture_errors(f(V.state_latent(st, self.unit, self.model.gains[self.level])), x)
    f8 = lambda y: S8.run(None, {'y': y})[0]
    rate = self.fine_kappa * (bits(fine) - bits(whole)) / max(self._gop_bits / self._since_key, bits(whole))
    out = []
    for f in (self.model.synthesize, f8):
        mf, sf = err(fine, f); mw, sw = err(whole, f)
        out.append(((mf - mw) / mw, (sf - sw) / sw, mw))
    r = orig(self, ys, x, fine, whole)
    rec.append((rate, out))
    return r
V.FrameEncoder._fine_or_whole = patched
for clip in sys.argv[2:]:
    rec.clear()
    api.encode(clip, '/tmp/agree.gvc', overwrite=True, max_frames=40)
    for rate, ((a1, b1, m1), (a2, b2, m2)) in rec[:25]:
        print(f'rate {rate:+.4f}  fp32 mse {a1:+.4f} ssim {b1:+.4f} (mw {m1:.2e})   int8 mse {a2:+.4f} ssim {b2:+.4f} (mw {m2:.2e})')
