"""How tests/data/vaegan-tiny.* was made: a tiny VAE-GAN (8 channels, 3 levels) trained for a minute.

    python -m vidcodec.train.vaegan --data DATA/photos --out /tmp/tinyrun --name vaegan-tiny \\
        --enc-channels 8 --dec-channels 8 --latent-channels 8 --lambdas 8 32 128 --steps 600 \\
        --batch 6 --crop 64 --lr 1e-3 --val-every 300 --val-crops 4 --threads 1
    python -m vidcodec.train.package /tmp/tinyrun/best.safetensors tests/data

(DATA is the corpus of ../shared/data/fetch.sh.) The committed files are what the golden
stream tests/data/golden.gvc names by hash: regenerating them breaks that test on purpose.

The golden stream and its expected frames were made with :func:`make_golden` (``python
tests/tiny_model.py``), once, with format version 1.0; the GAN-mode model ``pgan-tiny`` and its
golden stream with :func:`make_tiny_gan` (``python tests/tiny_model.py gan``), format 1.1; the
format 2.0 golden stream with motion-compensated deltas with :func:`make_golden_pan` (``python
tests/tiny_model.py motion``, at commit 999de94: the writer writes the newest format), and the format
3.0 one with context-coded deltas with the same function (``python tests/tiny_model.py context``), and
the format 4.0 one with a context-coded key with it too, on larger windows (``python tests/tiny_model.py
keycontext``), and the format 5.0 one (deltas coded with the format's residual tables) likewise
(``python tests/tiny_model.py residual``), and the format 7.0 one (varint lengths, coded delta
selectors) likewise (``python tests/tiny_model.py compact``), and the format 8.0 one (temporal residual
contexts) likewise (``python tests/tiny_model.py temporal``), and the format 9.0 one (oriented residuals)
likewise (``python tests/tiny_model.py oriented``), and the format 10.0 one (learned sub-pixel
prediction with the table tests/data/vaegan-tiny.subpel.safetensors, made with ``python -m
vidcodec.train.subpel vaegan-tiny DATA/photos tests/data/vaegan-tiny.subpel.safetensors`` and
VIDCODEC_MODEL_PATH=tests/data) on 256×192 windows at quality 2 (``python tests/tiny_model.py subpel``), and the
format 11.0 one (a keyframe with a colour correction) likewise (``python tests/tiny_model.py colour``), and the
format 12.0 one (packet headers with a packet byte and stepped pts, payloads without lengths) likewise but
from a Matroska file (``python tests/tiny_model.py lean``), and the format 13.0 one (16-bit payload checks,
deltas timed from the frame before, selectors coded by the previous delta's) the same way (``python
tests/tiny_model.py terse``; its symbols and frames are golden_lean's, so its .npz is not kept), and the
format 14.0 one (deltas keeping the learned prediction's fraction, the state in sixteenths) the same way
(``python tests/tiny_model.py fine``), and the format 15.0 one (the learned predictor's integer weights
from exactly rounded gains) the same way (``python tests/tiny_model.py exact``; its payloads, symbols and
frames are golden_fine's, so its .npz is not kept). The format 6.0 GAN stream in feature space (the 8x8
feature map of ``pgan-tiny``) with :func:`make_golden_gan_features` (``python tests/tiny_model.py
gan-features``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def make_golden() -> None:
    """Encode a 6-frame testsrc2 clip with vaegan-tiny into tests/data/golden.gvc + golden_frames.npz."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["VIDCODEC_MODEL_PATH"] = str(DATA)
    from conftest import write_testsrc

    import vidcodec

    with tempfile.TemporaryDirectory() as d:
        clip = write_testsrc(Path(d) / "src.mp4", frames=6, size=(62, 46))
        vidcodec.encode(clip, DATA / "golden.gvc", model="vaegan-tiny", quality=2, gop=3, overwrite=True)
    frames = list(vidcodec.frames(DATA / "golden.gvc"))
    np.savez_compressed(DATA / "golden_frames.npz", rgb=np.stack([f.rgb for f in frames]),
                        pts=np.array([f.pts for f in frames]), key=np.array([f.key for f in frames]))


def make_tiny_gan() -> None:
    """Train tests/data/pgan-tiny.* (a 16×16 PGAN with encoder, 40 steps on samples/vtest.mp4) and
    encode tests/data/golden_gan.gvc + golden_gan_latents.npz with it (format 1.1, GAN mode)."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["VIDCODEC_MODEL_PATH"] = str(DATA)
    from conftest import write_testsrc

    import vidcodec
    from vidcodec.codec.gan import GanFrameDecoder
    from vidcodec.container import GvcReader
    from vidcodec.models import zoo
    from vidcodec.train.config import GanTrainConfig
    from vidcodec.train.pgan import export_generator, train

    with tempfile.TemporaryDirectory() as d:
        cfg = GanTrainConfig(data=[str(Path(__file__).parents[1] / "samples" / "vtest.mp4")], out=d,
                             name="pgan-tiny", domain="test model: nothing", latent=16, depths=[8, 8, 8],
                             steps_per_scale=10, final_steps=20, log_every=10, val_every=10, threads=1)
        export_generator(train(cfg, progress=False), DATA / "pgan-tiny.safetensors")
        clip = write_testsrc(Path(d) / "src.mp4", frames=6, size=(62, 46))
        vidcodec.encode(clip, DATA / "golden_gan.gvc", mode="gan", model="pgan-tiny", gop=3, search_iters=10,
                        overwrite=True)
    with open(DATA / "golden_gan.gvc", "rb") as f:
        reader = GvcReader(f)
        dec = GanFrameDecoder(zoo.load("pgan-tiny"), tuple(reader.header.latent_shape))
        latents = [dec.decode_symbols("key" if p.kind == 1 else "delta", p.payload)[0] for p in reader]
    np.savez_compressed(DATA / "golden_gan_latents.npz", z=np.stack(latents))


def make_golden_gan_features() -> None:
    """Encode tests/data/golden_gan_features.gvc (6 testsrc2 frames, GOP 3, pgan-tiny's 8x8 feature
    map, 20 corrected values a delta) + golden_gan_features.npz: each frame's latent (keys), its
    correction levels, and its decoded state."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["VIDCODEC_MODEL_PATH"] = str(DATA)
    from conftest import write_testsrc

    import vidcodec
    from vidcodec.codec import gan
    from vidcodec.container import GvcReader
    from vidcodec.models import zoo

    with tempfile.TemporaryDirectory() as d:
        clip = write_testsrc(Path(d) / "src.mp4", frames=6, size=(62, 46))
        vidcodec.encode(clip, DATA / "golden_gan_features.gvc", mode="gan", model="pgan-tiny", gop=3,
                        search_iters=10, gan_layer=8, coeffs=20, overwrite=True)
    m = zoo.load("pgan-tiny")
    with open(DATA / "golden_gan_features.gvc", "rb") as f:
        reader = GvcReader(f)
        dec = gan.GanFrameDecoder(m, tuple(reader.header.latent_shape), major=reader.header.version[0])
        states, corrections, latents = [], [], []
        for p in reader:
            kind = "key" if p.kind == 1 else "delta"
            states.append(dec.decode_symbols(kind, p.payload)[0])
            head, corr = gan.split_key(p.payload) if kind == "key" else (b"", p.payload)
            if head:
                latents.append(gan.unpack_payload(head, m.latent))
            corrections.append(gan.unpack_correction(corr, dec.shape))
    np.savez_compressed(DATA / "golden_gan_features.npz", state=np.stack(states), correction=np.stack(corrections),
                        z=np.stack(latents))


def make_golden_pan(name: str, width: int = 128, height: int = 96, quality: int = 3, container: str = "y4m") -> None:
    """Encode a 6-frame pan across a frame of samples/bikes.mp4 (``width``×``height`` windows, 12 pixels
    per frame) with vaegan-tiny into tests/data/golden_{name}.gvc + golden_{name}.npz (the writer's
    format). ``container`` "mkv": the pan goes through a lossless FFV1 Matroska file (time base 1/1000,
    so 12.0 packet headers count its 40-unit frames in steps) instead of a y4m."""
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["VIDCODEC_MODEL_PATH"] = str(DATA)
    import av

    import vidcodec
    from vidcodec.api import _colour_section
    from vidcodec.codec.vaegan import FrameDecoder
    from vidcodec.container import GvcReader
    from vidcodec.models import zoo

    with av.open(str(Path(__file__).parents[1] / "samples" / "bikes.mp4")) as c:
        big = next(c.decode(video=0)).to_ndarray(format="rgb24")
    with tempfile.TemporaryDirectory() as d:
        clip = Path(d) / f"pan.{container}"
        with av.open(str(clip), "w") as out:
            s = out.add_stream("rawvideo" if container == "y4m" else "ffv1", rate=25)
            s.width, s.height, s.pix_fmt = width, height, "yuv420p"
            for i in range(6):
                crop = np.ascontiguousarray(big[100 : 100 + height, 200 + 12 * i : 200 + 12 * i + width])
                for p in s.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                    out.mux(p)
            for p in s.encode():
                out.mux(p)
        vidcodec.encode(clip, DATA / f"golden_{name}.gvc", model="vaegan-tiny", quality=quality, gop=6,
                        overwrite=True)
    symbols, colours = [], []
    with GvcReader(DATA / f"golden_{name}.gvc") as r:
        m = zoo.load("vaegan-tiny")
        dec = FrameDecoder(m, tuple(r.header.latent_shape),
                           predictor=m.subpel if 3 in r.header.extensions else None)
        for p in r:
            correction, body = _colour_section(p, r.header)  # format 11.0: a key's colour correction
            colours.append(np.zeros((3, 4), np.int16) if correction is None else correction.terms)
            symbols.append(dec.decode_symbols("key" if p.kind == 1 else "delta", body)[0])
    frames = list(vidcodec.frames(DATA / f"golden_{name}.gvc"))
    np.savez_compressed(DATA / f"golden_{name}.npz", symbols=np.stack(symbols), rgb=np.stack([f.rgb for f in frames]),
                        **({"colour": np.stack(colours)} if any(c.any() for c in colours) else {}))


if __name__ == "__main__":
    if sys.argv[1:] == ["gan"]:
        make_tiny_gan()
    elif sys.argv[1:] == ["gan-features"]:
        make_golden_gan_features()
    elif sys.argv[1:] in (["motion"], ["context"]):
        make_golden_pan(sys.argv[1])
    elif sys.argv[1:] in (["subpel"], ["colour"]):
        make_golden_pan(sys.argv[1], width=256, height=192, quality=2)
    elif sys.argv[1:] in (["lean"], ["terse"], ["fine"], ["exact"]):
        make_golden_pan(sys.argv[1], width=256, height=192, quality=2, container="mkv")
    elif sys.argv[1:] in (["keycontext"], ["residual"], ["compact"], ["temporal"], ["oriented"]):
        make_golden_pan(sys.argv[1], width=192, height=128)
    else:
        make_golden()
