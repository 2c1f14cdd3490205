"""The source's chroma subsampling rides in the stream header (format 11.1, extension tag 4), and a
decode writes it back by default, as FFmpeg keeps its input's pixel format."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
from conftest import DATA, write_testsrc

import vidcodec
from vidcodec import container, media
from vidcodec.cli import main as cli_main


def y4m_chroma(path) -> str:
    head = path.read_bytes()[:100].split(b"\n")[0].decode()
    return next(f for f in head.split() if f.startswith("C"))


def write_frames(path, pix_fmt: str, codec: str = "ffv1", size=(64, 48), n: int = 4):
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=10)
        s.width, s.height, s.pix_fmt = size[0], size[1], pix_fmt
        for i in range(n):
            rgb = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize(("pix_fmt", "chroma", "name"), [
    ("yuv420p", (1, 1), "4:2:0"),
    ("yuv422p", (1, 0), "4:2:2"),
    ("yuv444p", (0, 0), "4:4:4"),
    ("bgr0", (0, 0), "4:4:4"),  # RGB: full chroma
    ("pal8", (0, 0), "4:4:4"),  # a colour a pixel (a GIF, a PNG of 256 colours): had been none, and 4:2:0 out
    ("gray", None, None),  # no chroma to keep: no entry
])
def test_the_header_records_the_sources_chroma(tmp_path, tiny_model_dir, pix_fmt, chroma, name):
    if pix_fmt == "pal8":  # PNG frames of 256 colours
        from PIL import Image

        rng = np.random.default_rng(1)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).convert("P").save(tmp_path / f"p{i}.png")
        src = tmp_path / "p%d.png"
    else:
        src = write_frames(tmp_path / "s.mkv", pix_fmt)
    gvc = tmp_path / "s.gvc"
    vidcodec.encode(src, gvc, model="vaegan-tiny", quality=2)
    with container.GvcReader(gvc) as r:
        assert container.source_chroma(r.header) == chroma
        assert (container.EXT_CHROMA in r.header.extensions) == (chroma is not None)
    assert container.probe(gvc)["header"]["source_chroma"] == name


def test_decode_keeps_the_sources_chroma_unless_told(tmp_path, tiny_model_dir):
    s420 = tmp_path / "a.gvc"
    vidcodec.encode(write_testsrc(tmp_path / "a.mp4"), s420, model="vaegan-tiny", quality=2)  # yuv420p
    s444 = tmp_path / "b.gvc"
    vidcodec.encode(write_frames(tmp_path / "b.mkv", "yuv444p"), s444, model="vaegan-tiny", quality=2)
    s422 = tmp_path / "c.gvc"
    vidcodec.encode(write_frames(tmp_path / "c.mkv", "yuv422p"), s422, model="vaegan-tiny", quality=2)
    for stream, y4m, mp4 in ((s420, "C420jpeg", "yuv420p"), (s444, "C444", "yuv444p"), (s422, "C444", "yuv420p")):
        vidcodec.decode(stream, tmp_path / "o.y4m", overwrite=True)
        assert y4m_chroma(tmp_path / "o.y4m") == y4m, stream
        vidcodec.decode(stream, tmp_path / "o.mp4", overwrite=True)
        with av.open(str(tmp_path / "o.mp4")) as c:
            assert c.streams.video[0].codec_context.pix_fmt == mp4, stream
    # asked for: the asked format wins
    assert cli_main(["decode", str(s420), str(tmp_path / "p.y4m"), "--pix-fmt", "yuv444p"]) == 0
    assert y4m_chroma(tmp_path / "p.y4m") == "C444"
    assert cli_main(["play", str(s444), "--to", str(tmp_path / "q.y4m"), "--pix-fmt", "yuv420p"]) == 0
    assert y4m_chroma(tmp_path / "q.y4m") == "C420jpeg"
    assert cli_main(["play", str(s420), "--to", str(tmp_path / "r.y4m")]) == 0
    assert y4m_chroma(tmp_path / "r.y4m") == "C420jpeg"


def test_streams_without_the_entry_decode_as_before(tmp_path, tiny_model_dir):
    vidcodec.decode(DATA / "golden.gvc", tmp_path / "g.y4m")  # format 1.0: 4:4:4 y4m, as always
    assert y4m_chroma(tmp_path / "g.y4m") == "C444"


def test_odd_sizes_and_damaged_entries_fall_back(caplog):
    assert media.default_pix_fmt((1, 1), 64, 48) == "yuv420p"
    assert media.default_pix_fmt((1, 1), 63, 48) is None  # 4:2:0 needs even sides: the sink's default
    assert media.default_pix_fmt((0, 0), 63, 47) == "yuv444p"
    assert media.default_pix_fmt(None, 64, 48) is None
    header = container.StreamHeader(width=64, height=48, time_base=(1, 10), model_name="m", model_hash=bytes(32),
                                    quality=1, latent_shape=(8, 3, 4), gop=1,
                                    extensions={container.EXT_CHROMA: b"\x09\x01"})
    with caplog.at_level(logging.WARNING):
        assert container.source_chroma(header) is None
    assert "source chroma entry is damaged" in caplog.text
