"""Coding-stage scaling of GOP-parallel workers at 1080p (bikes, 36 frames, gop 3): the entropy
coding of precomputed latents and the symbol decoding, in one process against two worker
processes (vidcodec.gopencode / gopdecode), medians of 3.

    LD_PRELOAD=libtcmalloc_minimal.so.4 python docs/eval/gop-workers/scale.py
"""
import statistics
import time

from vidcodec import api, container, gopdecode, gopencode
from vidcodec.codec.vaegan import FrameEncoder, to_tensor
from vidcodec.evaluate.bench import load_frames
from vidcodec.models import zoo

if __name__ == "__main__":
    import tempfile
    tmp = tempfile.mkdtemp(prefix="vidcodec-scale-")
    reps = 3
    ref, rate, name = load_frames("samples/bikes.mp4", 36, (1920, 1080))
    m = zoo.load("vaegan-g")
    ys = [m.analyze(to_tensor(f, m.downscale))[0] for f in ref]
    q = m.default_quality - 1
    def make():
        return FrameEncoder(m, q, gop=3, predictor=m.subpel)

    enc1, enc2 = [], []
    with gopencode.ChunkEncoder(make, 3, 2) as chunks:
        for _ in range(reps):
            t = time.perf_counter(); e = make(); [e.encode_latent(y) for y in ys]; enc1.append(time.perf_counter() - t)
            t = time.perf_counter(); list(chunks.code(((i, 0), y) for i, y in enumerate(ys))); enc2.append(time.perf_counter() - t)
    from vidcodec.evaluate.rd import write_y4m_clip
    write_y4m_clip(ref, rate, f"{tmp}/b.y4m")
    api.encode(f"{tmp}/b.y4m", f"{tmp}/b.gvc", overwrite=True, gop=3)
    with container.GvcReader(f"{tmp}/b.gvc") as r:
        hdr = r.header
        pk = [("key" if p.kind == container.PacketType.KEY else "delta", p.payload) for p in r]
    dec1, dec2 = [], []
    with gopdecode.RunDecoder(hdr, 2) as runs:
        for _ in range(reps):
            t = time.perf_counter(); d = api._frame_decoder(m, hdr); [d.decode_symbols(k, p) for k, p in pk]
            dec1.append(time.perf_counter() - t)
            t = time.perf_counter()
            with container.GvcReader(f"{tmp}/b.gvc") as r:
                for item, fut, j in runs.results(iter(r)):
                    if fut is not None: gopdecode.result(fut, j)
            dec2.append(time.perf_counter() - t)
    n = len(ys)
    def f(v):
        return f"{statistics.median(v) / n * 1e3:.1f}"
    print(f"1920x1080 bikes, {n} frames, gop 3, medians of {reps}, ms a frame: entropy coding one process {f(enc1)}, "
          f"two workers {f(enc2)}; symbol decoding one process {f(dec1)}, two workers {f(dec2)}")
    print("raw", enc1, enc2, dec1, dec2)
