"""Measured and dropped (2026-12-05): the fine-delta decisions' two syntheses in 8 bits (runs/int8-analysis/README.md).

ConvTranspose -> Conv + DepthToSpace in ONNX (numpy), the IGDN stages equalized, the last layer in float32;
PSNR against float32 and time. python runs/int8-analysis/decisions/synthesis.py [CAP] (writes /tmp/syn_q.onnx)."""
import contextlib
import glob
import io
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from vidcodec import runtime
from vidcodec.codec.vaegan import to_tensor
from vidcodec.evaluate.bench import load_frames
from vidcodec.models import zoo

m = zoo.load()
src = runtime.cached_export(m)['synthesis']
CAP = float(sys.argv[1]) if len(sys.argv) > 1 else 8

def d2s(model):
    g = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    idx = {0: [4, 2, 0], 1: [None, 3, 1]}
    new_nodes = []
    for n in list(g.node):
        if n.op_type != 'ConvTranspose':
            new_nodes.append(n); continue
        w = inits[n.input[1]]; b = inits[n.input[2]]
        cin, cout = w.shape[:2]
        k = np.zeros((cout, 2, 2, cin, 3, 3), np.float32)
        for r in (0, 1):
            for s in (0, 1):
                for a, ia in enumerate(idx[r]):
                    for c, ic in enumerate(idx[s]):
                        if ia is not None and ic is not None:
                            k[:, r, s, :, a, c] = w[:, :, ia, ic].T
        wn, bn = n.name + '_w', n.name + '_b'
        g.initializer.extend([numpy_helper.from_array(k.reshape(4 * cout, cin, 3, 3), wn),
                              numpy_helper.from_array(np.repeat(b, 4).astype(np.float32), bn)])
        mid = n.output[0] + '_phases'
        new_nodes.append(helper.make_node('Conv', [n.input[0], wn, bn], [mid], name=n.name + '_conv', pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        new_nodes.append(helper.make_node('DepthToSpace', [mid], [n.output[0]], name=n.name + '_d2s', blocksize=2, mode='CRD'))
    del g.node[:]
    g.node.extend(new_nodes)
    return model

photos = sorted(glob.glob('data/photos/*.jpg'))
cal = [p for i, p in enumerate(photos) if i % 12][:24]
def lat(rgb, lv):
    y = m.analyze(to_tensor(rgb, 16))
    g = m.gains[lv][:, None, None]; k = m.level_channels[lv]
    q = np.rint(y[0] * g); q[k:] = 0
    return (q / g)[None].astype(np.float32)
pics = [cv2.cvtColor(cv2.resize(cv2.imread(f), (384, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for f in cal]
feed = [{'y': lat(p, lv)} for p in pics for lv in (1, 4, 7)]

def quant(model, exclude=()):
    tmp = tempfile.mkdtemp()
    onnx.save(model, f'{tmp}/f.onnx')
    class R(CalibrationDataReader):
        def __init__(s): s.it = iter(feed)
        def get_next(s): return next(s.it, None)
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(f'{tmp}/f.onnx', f'{tmp}/q.onnx', R(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=['Conv'],
            nodes_to_exclude=list(exclude), calibrate_method=CalibrationMethod.Percentile)
    return f'{tmp}/q.onnx'

def sess(p):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.log_severity_level = 3
    return ort.InferenceSession(p if isinstance(p, str) else p.SerializeToString(), o, providers=['CPUExecutionProvider'])

frames = []
for clip in ('samples/bikes.mp4', '/work/ocv/x/usr/share/doc/opencv-doc/examples/data/Megamind.avi', 'data/videos/diver.mov'):
    fr, _, _ = load_frames(clip, 2, (640, 360)); frames += fr
ys = [lat(f, 4) for f in frames]
ref = sess(str(src)); want = [np.clip(ref.run(None, {'y': y})[0], 0, 1) for y in ys]
def score(name, p):
    s = sess(p)
    got = [np.clip(s.run(None, {'y': y})[0], 0, 1) for y in ys]
    ts = []
    for i in range(6):
        t = time.perf_counter(); s.run(None, {'y': ys[i % len(ys)]}); ts.append(time.perf_counter() - t)
    ps = [10 * np.log10(1 / np.mean((a - b) ** 2)) for a, b in zip(want, got)]
    print(f'{name:30s} {1000*np.median(ts):5.1f} ms  psnr vs float {np.mean(ps):.2f} dB (min {np.min(ps):.2f})', flush=True)

base = d2s(onnx.load(str(src)))
g = base.graph
made = {o: n for n in g.node for o in n.output}
users = {}
for n in g.node:
    for i in n.input: users.setdefault(i, []).append(n)
inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
stages = []
for mul in (n for n in g.node if n.op_type == 'Mul'):
    a, b = made.get(mul.input[0]), made.get(mul.input[1])
    if a is None or b is None or a.op_type != 'DepthToSpace' or b.op_type != 'Conv': continue
    gam = made[b.input[1]]
    conv = made[a.input[0]]
    nxt = users[mul.output[0]][0]
    stages.append((conv, a, gam, nxt, mul))
print(len(stages))
names = [t for conv, a, gam, nxt, mul in stages for t in (a.output[0], mul.output[0])]
probe = onnx.ModelProto(); probe.CopyFrom(base)
probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names)
s = sess(probe)
vals = {n: [] for n in names}
for item in feed:
    for n, v in zip(names, s.run(names, item)):
        vals[n].append(np.abs(v[0]).reshape(v.shape[1], -1))
r = {n: np.percentile(np.concatenate(v, 1), 99.99, axis=1) for n, v in vals.items()}
def setinit(name, val):
    inits[name] = val.astype(np.float32)
    for i in g.initializer:
        if i.name == name: i.CopyFrom(numpy_helper.from_array(val.astype(np.float32), name))
for conv, a, gam, nxt, mul in stages:
    x, y = r[a.output[0]], r[mul.output[0]]
    sc = np.clip(np.minimum(x.max() / x, y.max() / y), 1, CAP).astype(np.float32)
    print('scales', sc.min(), np.median(sc), sc.max())
    s4 = np.repeat(sc, 4)
    setinit(conv.input[1], inits[conv.input[1]] * s4[:, None, None, None])
    setinit(conv.input[2], inits[conv.input[2]] * s4)
    gi = gam.input[0]; inits[gi] = inits[gi] / sc[None, :, None, None]; setinit(gi, inits[gi])
    setinit(nxt.input[1], inits[nxt.input[1]] / sc[None, :, None, None])
score('d2s eq float', base)
last = [n.name for n in base.graph.node if n.op_type == 'Conv' and 'ConvTranspose' in n.name][-1]
q = quant(base, [last])
score('d2s eq int8, last float', q)
shutil.copy(q, '/tmp/syn_q.onnx')
