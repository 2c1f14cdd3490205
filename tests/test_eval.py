"""Rate–distortion evaluation: BD-rate arithmetic, the report files, the seed table, CLI errors."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from conftest import write_testsrc

from vidcodec.cli import main as cli_main
from vidcodec.errors import UsageError
from vidcodec.evaluate import rd
from vidcodec.evaluate.bdrate import bd_rate, ms_ssim_db


def _curve(scale: float = 1.0, shift: float = 0.0) -> list[tuple[float, float]]:
    rates = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])
    return [(r * scale, 30 + 3 * np.log2(r / 100) + shift) for r in rates]


def test_bd_rate_known_answers():
    assert bd_rate(_curve(), _curve()) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(_curve(), _curve(scale=0.5)) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(_curve(), _curve(scale=1.25)) == pytest.approx(25.0, abs=1e-6)
    # 3 dB better at every rate = the same quality at half the rate on this curve (3 dB per doubling)
    assert bd_rate(_curve(), _curve(shift=3.0)) == pytest.approx(-50.0, abs=1e-6)
    assert bd_rate(_curve()[:3], _curve()) is None  # too few points for a cubic
    assert bd_rate(_curve(), _curve(shift=100.0)) is None  # no overlap in quality
    assert ms_ssim_db(0.99) == pytest.approx(20.0)


def test_bd_rate_needs_four_distinct_qualities_on_each_curve():
    ref = [(100, 30), (200, 33), (400, 36), (800, 39)]
    # four points but two quality values: no cubic through them, no BD-rate (it came out arbitrary)
    assert bd_rate(ref, [(100, 30), (110, 30), (400, 36), (410, 36)]) is None
    assert bd_rate(ref, [(90, 30), (180, 33), (360, 36), (720, 39)]) == pytest.approx(-10.0, abs=1e-6)


def test_jpeg_points_use_optimised_huffman_tables(tmp_path):
    """The same pixels as libjpeg's standard tables give, in fewer bytes."""
    import cv2

    frames = rd.read_frames(write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48)), 2)[0]
    (p,) = rd.jpeg_points(tmp_path / "c.mp4", frames, 25, qualities=(20,))
    plain = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 20])[1] for f in frames]
    assert p.bytes < sum(len(b) for b in plain)
    decoded = [cv2.cvtColor(cv2.imdecode(b, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for b in plain]
    assert p.psnr == pytest.approx(rd.score("c", "jpeg", "", frames, decoded, 1, 25).psnr)


def test_bd_rate_pair_scores_psnr_and_ms_ssim_of_two_curves():
    from vidcodec.evaluate.rd import RDPoint, bd_rate_pair

    def curve(scale: float) -> list:
        return [RDPoint(clip="c", codec="x", setting=str(q), frames=1, width=16, height=16, bytes=1, bpp=scale * b,
                        kbps=1.0, ratio=1.0, psnr=p, psnr_y=p, ssim=0.9, ms_ssim=m)
                for q, (b, p, m) in enumerate([(0.01, 28.0, 0.90), (0.02, 31.0, 0.95), (0.04, 34.0, 0.98), (0.08, 37.0, 0.99)])]

    ps, ms = bd_rate_pair(curve(1.0), curve(1.1))  # every point 10 % more bits for the same quality
    assert abs(ps - 10.0) < 1e-6 and abs(ms - 10.0) < 1e-6
    assert bd_rate_pair(curve(1.0), curve(1.0)) == (0.0, 0.0)


def test_bd_rate_over_a_given_span():
    ref = _curve()  # 30 .. 42 dB, 3 dB per doubling
    test = [(r, 30 + 4 * np.log2(r / 100)) for r, _ in ref]  # 30 .. 46 dB, 4 dB per doubling: gains grow with q
    assert bd_rate(ref, test, span=(30.0, 42.0)) == pytest.approx(bd_rate(ref, test))
    assert bd_rate(ref, test, span=(36.0, 42.0)) < bd_rate(ref, test) < bd_rate(ref, test, span=(30.0, 36.0)) < 0
    assert bd_rate(_curve(), _curve(scale=0.5), span=(31.0, 35.0)) == pytest.approx(-50.0, abs=1e-6)


@pytest.fixture(scope="module")
def points(tmp_path_factory, tiny_model_dir):
    clip = write_testsrc(tmp_path_factory.mktemp("ev") / "clip.mp4", frames=4, size=(64, 48))
    return rd.evaluate_clip(clip, frames=4, gop=2, model="vaegan-tiny",
                            codecs=["vidcodec", "vidcodec-intra", "vidcodec-fast", "x264-veryfast-zl", "x264-intra",
                                    "jpeg"])


def test_evaluate_clip_measures_every_codec_from_file_sizes(points):
    by = {}
    for p in points:
        by.setdefault(p.codec, []).append(p)
    assert len(by["vidcodec"]) == 3 and len(by["vidcodec-intra"]) == 3  # the tiny model's 3 levels
    assert [p.setting for p in by["vidcodec-fast"]] == [p.setting for p in by["vidcodec"]] == [
        f"q={q} gop=2" for q in (1, 2, 3)]
    assert any(r["reference"] == "vidcodec-fast" and r["test"] == "vidcodec" for r in rd.all_bd_rates(points))
    assert len(by["x264-veryfast-zl"]) == len(rd.CRFS) and len(by["jpeg"]) == len(rd.JPEG_QUALITIES)
    assert [p.setting for p in by["x264-intra"]] == [f"crf={c} gop=1" for c in rd.CRFS]  # not the eval's gop 2
    for p in points:
        assert p.frames == 4 and p.bytes > 0
        assert p.bpp == pytest.approx(8 * p.bytes / (4 * p.width * p.height))
        assert p.ratio == pytest.approx(24 / p.bpp)
        assert 0 < p.ssim <= 1 and 0 < p.ms_ssim <= 1 and p.psnr > 5
    assert [p.channels for p in by["vidcodec"]] == [8, 8, 8]
    bpps = [p.bpp for p in sorted(by["jpeg"], key=lambda p: int(p.setting[2:]))]
    assert bpps == sorted(bpps)  # higher JPEG quality, more bytes


def test_reference_codec_uses_vidcodecs_keyframe_interval(tmp_path):
    frames = rd.read_frames(write_testsrc(tmp_path / "c.mp4", frames=12, size=(64, 48)), 12)[0]

    def slices(path):  # (IDR slices, all slices, SEI messages) of an H.264 elementary stream
        kinds = [k for k, _ in rd.nal_units(path.read_bytes())]
        return kinds.count(5), kinds.count(5) + kinds.count(1), kinds.count(6)

    for gop, keys in ((4, 3), (250, 1)):
        pts = rd.reference_points(tmp_path / "c.mp4", frames, 25, tmp_path, "x264-veryfast-zl", crfs=(30,), gop=gop)
        assert pts[0].setting == f"crf=30 gop={gop}"
        # one slice a frame (frame threads, as ffmpeg runs x264), no SEI text counted in the rate
        assert slices(tmp_path / "x264-veryfast-zl_30.h264") == (keys, 12, 0)
        # x264-intra is x264 medium with every frame a keyframe, whatever the gop
        pts = rd.reference_points(tmp_path / "c.mp4", frames, 25, tmp_path, "x264-intra", crfs=(30,), gop=gop)
        assert pts[0].codec == "x264-intra" and pts[0].setting == "crf=30 gop=1"
        assert slices(tmp_path / "x264-intra_30.h264") == (12, 12, 0)
        assert pts[0].bytes == (tmp_path / "x264-intra_30.h264").stat().st_size


def test_reference_streams_are_counted_without_their_sei_text(tmp_path):
    """x264 writes its version and settings as a 685-byte SEI message, x265 several kB: no decoded
    pixel depends on them, so the rate leaves them out (the stream still decodes every frame)."""
    frames = rd.read_frames(write_testsrc(tmp_path / "c.mp4", frames=6, size=(64, 48)), 6)[0]
    for codec in ("x264-medium", "x265-medium"):
        if not rd.available(codec):
            continue
        encoder, options = rd.REFERENCES[codec]
        path = tmp_path / f"r{rd.reference_suffix(encoder)}"
        rd.encode_reference(frames, 25, encoder, {**options, "crf": "30"}, path)
        hevc = encoder == "libx265"
        kinds = {k for k, _ in rd.nal_units(path.read_bytes(), hevc)}
        assert kinds.isdisjoint(rd.ELEMENTARY[encoder][1]) and kinds, (codec, kinds)
        assert len(rd.decode_rgb(path)) == 6
    stream = b"\x00\x00\x00\x01\x67AB\x00\x00\x01\x06text\x00\x00\x01\x65pic"
    assert [k for k, _ in rd.nal_units(stream)] == [7, 6, 5]
    assert rd.without_nal_units(stream, (6,)) == b"\x00\x00\x00\x01\x67AB\x00\x00\x01\x65pic"


def test_report_files_and_tables(points, tmp_path):
    paths = rd.save_report(points, tmp_path / "rep")
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    with paths["points_csv"].open() as f:
        assert len(list(csv.DictReader(f))) == len(points)
    assert len(json.loads(paths["points_json"].read_text())) == len(points)
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = rd.bd_rates(points)
    assert {r["reference"] for r in rows} == {"vidcodec-intra", "vidcodec-fast", "x264-veryfast-zl", "x264-intra", "jpeg"}
    assert all(r["bd_rate_psnr"] is None for r in rows)  # 3 vidcodec points: too few for a fit, not a guess
    assert rd.bd_note(rows) == rd.BD_MISSING and rd.bd_note([{"bd_rate_psnr": 1.0}]) is None  # "-" explained
    intra = rd.all_bd_rates(points)[len(rows):]  # then vidcodec-intra against the intra codecs only
    assert [(r["test"], r["reference"]) for r in intra] == [("vidcodec-intra", "x264-intra"),
                                                            ("vidcodec-intra", "jpeg")]
    with paths["bdrate_csv"].open() as f:
        assert len(list(csv.DictReader(f))) == len(rows) + len(intra)
    summary = rd.summarize(points)
    assert any("x264-intra psnr" in r for r in summary if r["what"].startswith("intra @"))
    seed = rd.seed_table(points)
    assert [r["method"] for r in seed if "jpeg" in r["method"]] == ["jpeg q=1"]
    assert any("(8 channels)" in r["method"] for r in seed)
    assert "SSIM" in rd.format_table(seed) and rd.format_table([]) == "(no rows)"


def test_skip_evaluates_the_frames_after_it(tmp_path, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=6, size=(64, 48))
    late, rate = rd.read_frames(clip, 2, skip=3)
    skipped = rd.evaluate_clip(clip, frames=2, codecs=["jpeg"], skip=3)
    assert [(p.bytes, p.psnr) for p in skipped] == [(p.bytes, p.psnr) for p in rd.jpeg_points(clip, late, rate)]
    first = rd.evaluate_clip(clip, frames=2, codecs=["jpeg"])
    assert [p.bytes for p in first] != [p.bytes for p in skipped]  # testsrc2 changes from frame to frame
    assert cli_main(["eval", str(clip), "--skip", "-1", "-q"]) == 2
    assert "--skip must be 0 or more" in capsys.readouterr().err


def test_a_clip_shorter_than_frames_is_measured_on_what_it_has_and_says_so(tmp_path, caplog, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    pts = rd.evaluate_clip(clip, frames=5, codecs=["jpeg"])
    assert {p.frames for p in pts} == {3} and "c.mp4 has 3 frames, fewer than --frames 5" in caplog.text
    rows = rd.summarize(rd.evaluate_clip(clip, frames=3, codecs=["vidcodec"], model="vaegan-tiny"))
    assert rows and not any("x264" in k for r in rows for k in r)  # no empty columns for a codec not run


def test_expand_clips_and_cli_errors(tmp_path, capsys, tiny_model_dir):
    (tmp_path / "a.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "a.gvc").write_bytes(b"")  # a stream beside its source: not a clip to measure
    assert rd.expand_clips([tmp_path]) == [tmp_path / "a.mp4"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.mp4").write_bytes(b"")
    with pytest.raises(UsageError, match="2 clips are named a.mp4"):  # their points would be pooled
        rd.expand_clips([tmp_path, tmp_path / "other" / "a.mp4"])
    with pytest.raises(UsageError, match="--codecs names jpeg more than once"):
        rd.check_codecs(["jpeg", "x264-medium", "jpeg"])
    for gop in ("0", "-5"):  # not 0 taken as the default, nor -5 given to x264
        assert cli_main(["eval", str(tmp_path / "a.mp4"), "--gop", gop, "--codecs", "x264-medium", "-q"]) == 2
        assert "--gop must be 1 to 4294967295" in capsys.readouterr().err
    with pytest.raises(UsageError, match="no video files"):
        rd.expand_clips([tmp_path / "empty"] if (tmp_path / "empty").mkdir() is None else [])
    assert cli_main(["eval", str(tmp_path / "missing.mp4"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "a.mp4"), "--frames", "0", "-q"]) == 2
    with pytest.raises(UsageError, match="unknown codec"):
        rd.evaluate_clip(tmp_path / "a.mp4", codecs=["vp8"])
    assert cli_main(["eval", str(tmp_path / "a.mp4"), "--codecs", "x264"]) == 2
    assert "unknown codec(s) x264" in (err := capsys.readouterr().err) and "[1/1]" not in err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anywhere permissions say no; a file under a file fails for all
        assert cli_main(["eval", str(tmp_path / "a.mp4"), "--json", str(locked / "p.json")]) == 2
        assert "cannot write there" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "a.mp4"), "--out", str(tmp_path / "notes.txt" / "o")]) == 2
    assert "cannot write there" in (err := capsys.readouterr().err) and "[1/1]" not in err
    assert cli_main(["eval", str(tmp_path / "a.mp4"), "--model", "vaegan-tiny", "--qualities", "2", "9"]) == 2
    assert "--qualities 9: vaegan-tiny has levels 1 to 3" in (err := capsys.readouterr().err) and "[1/1]" not in err


def test_compare_models_and_side_by_side(tmp_path, tiny_model_dir):
    from vidcodec.evaluate import compare

    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    points, rows = compare.compare(["vaegan-tiny", "vaegan-tiny"], [clip], frames=3, gop=2)
    assert len(points) == 6 and {p.codec for p in points} == {"vaegan-tiny"}
    assert rows == [{"clip": "c.mp4", "model": "vaegan-tiny", "against": "vaegan-tiny", "bd_rate_psnr": None,
                     "bd_rate_ms_ssim": None}]  # 3 levels: too few points for a BD fit
    png = compare.side_by_side(["vaegan-tiny"], clip, 1, 2, (8, 8, 32, 32), tmp_path / "crop.png")
    import cv2

    img = cv2.imread(str(png))
    assert img.shape == (32 + 22, 2 * 32, 3)


def test_compare_says_a_missing_clip_or_model_in_one_line(tmp_path, tiny_model_dir, capsys):
    """MODELS.md's comparison commands with a clip not there gave an InputError traceback."""
    from vidcodec.evaluate import compare

    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    for models, clips, said in ((["vaegan-tiny"], [tmp_path / "diver.mov"], "no such file"),
                                (["vaegan-none"], [clip], "model vaegan-none is not installed")):
        with pytest.raises(SystemExit) as e:
            compare.main(["--models", *models, "--clips", *map(str, clips), "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert e.value.code == 2 and said in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_compare_with_and_without_refinement_times_both(tmp_path, tiny_model_dir):
    from vidcodec.evaluate import compare

    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    points, rows = compare.compare(["vaegan-tiny"], [clip], frames=2, gop=2, refine=2)
    assert {p.codec for p in points} == {"vaegan-tiny", "vaegan-tiny refine=2"} and len(points) == 6
    (row,) = rows
    assert row["model"] == "vaegan-tiny refine=2" and row["against"] == "vaegan-tiny"
    assert row["encode_s_per_frame"] > 0 and row["reference_s_per_frame"] > 0
    assert row["encode_time_ratio"] == pytest.approx(row["encode_s_per_frame"] / row["reference_s_per_frame"])
    with pytest.raises(UsageError, match="one model"):
        compare.compare(["vaegan-tiny", "vaegan-tiny"], [clip], frames=2, refine=2)


def test_eval_runs_the_bfloat16_encoder_as_vidcodec_bf16_where_the_machine_has_it(tmp_path, tiny_model_dir,
                                                                                  monkeypatch):
    from vidcodec.models import zoo

    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    if zoo.torch_device().type == "cuda" or zoo.cpu_has_bf16():
        points = rd.evaluate_clip(clip, frames=3, codecs=["vidcodec-ort", "vidcodec-bf16"], model="vaegan-tiny",
                                  qualities=[2])
        assert sorted(p.codec for p in points) == ["vidcodec-bf16", "vidcodec-ort"]
    monkeypatch.setattr(zoo, "cpu_has_bf16", lambda: False)
    monkeypatch.setenv("VIDCODEC_TORCH_DEVICE", "cpu")
    zoo.torch_device.cache_clear()
    try:  # refused before any codec runs where bfloat16 would be emulated
        with pytest.raises(UsageError, match="AVX512-BF16 or AMX"):
            rd.check_codecs(["vidcodec", "vidcodec-bf16"], "vaegan-tiny")
        assert cli_main(["eval", str(clip), "--codecs", "vidcodec-bf16", "--model", "vaegan-tiny", "-q"]) == 2
    finally:
        zoo.torch_device.cache_clear()


def test_every_clip_is_checked_before_the_first_is_measured(tmp_path, capsys, tiny_model_dir):
    good = write_testsrc(tmp_path / "good.mp4", frames=2, size=(64, 48))
    small = write_testsrc(tmp_path / "small.mp4", frames=2, size=(10, 16))
    (tmp_path / "notes.mp4").write_text("not a video")
    out = tmp_path / "ev"
    for bad, says in ((small, "small.mp4 is 10x16: eval measures SSIM and MS-SSIM"),
                      (tmp_path / "notes.mp4", "cannot open")):
        assert cli_main(["eval", str(good), str(bad), "--codecs", "jpeg", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert says in err and "[1/2]" not in err and not out.exists()  # no clip measured, nothing written
    with pytest.raises(UsageError, match="at least 11x11"):
        rd.check_clips([small])
    rd.check_clips([good])


def test_eval_refuses_options_its_measurement_would_ignore(tmp_path, capsys, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    for args, says in ((["--bitrate", "100", "--qualities", "2"], "--qualities: not with --bitrate"),
                       (["--bitrate", "100", "--codecs", "jpeg"], "--codecs: not with --bitrate"),
                       (["--bitrate", "100", "--table", "seed"], "--table seed: not with --bitrate"),
                       (["--search-iters", "5"], "--search-iters: for --mode gan only"),
                       (["--coeffs", "10"], "--coeffs: for --mode gan only"),
                       (["--mode", "gan", "--codecs", "x264-medium"], "--codecs: not with --mode gan"),
                       (["--mode", "gan", "--bitrate", "100"], "--bitrate: not with --mode gan")):
        assert cli_main(["eval", str(clip), "--model", "vaegan-tiny", *args]) == 2, args
        err = capsys.readouterr().err
        assert says in err and "[1/1]" not in err, (args, err)


def test_eval_bitrate_writes_its_rows_to_json(tmp_path, capsys, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    path = tmp_path / "rc.json"
    assert cli_main(["eval", str(clip), "--model", "vaegan-tiny", "--frames", "3", "--bitrate", "60", "--json",
                     str(path), "-q"]) == 0
    (row,) = json.loads(path.read_text())
    assert row["target kbps"] == 60.0 and row["frames"] == 3 and row["achieved kbps"] > 0
    assert "60" in capsys.readouterr().out  # the table is printed as before


def test_reference_codecs_are_measured_through_vidcodecs_own_colour_conversion(tmp_path):
    """x264 sees and returns frames converted as vidcodec's outputs and inputs are (accurate swscale):
    lossless x264 (qp 0) gives back exactly what a 4:2:0 y4m written and read by vidcodec does. The
    default fast conversion capped an x264 clip near 43 dB RGB PSNR whatever its rate."""
    from fractions import Fraction

    from vidcodec import media

    frames, rate = rd.read_frames(write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48)), 3)
    x264 = tmp_path / "x.mp4"
    rd.encode_reference(frames, rate, "libx264", {"qp": "0", "preset": "ultrafast"}, x264)
    y4m = tmp_path / "x.y4m"
    with media.open_sink(y4m, width=64, height=48, time_base=Fraction(1, 10), frame_rate=rate,
                         pix_fmt="yuv420p") as sink:
        for i, f in enumerate(frames):
            sink.write(f, i)
    through_x264, through_y4m = rd.decode_rgb(x264), rd.decode_rgb(y4m)
    assert len(through_x264) == 3 and all(np.array_equal(a, b) for a, b in zip(through_x264, through_y4m))
    assert rd.score("c", "x264", "qp=0", frames, through_x264, 1, rate).psnr_y > 40  # chroma: 4:2:0 of testsrc2


def test_an_interrupted_eval_reports_the_clips_it_measured(tmp_path, capsys, monkeypatch):
    from vidcodec.evaluate.rd import RDPoint

    clips = [write_testsrc(tmp_path / f"{n}.mp4", frames=2, size=(32, 32)) for n in ("a", "b")]
    calls = []

    def measured(clip, **kw):
        calls.append(clip.name)
        if len(calls) == 2:  # Ctrl-C (or SIGTERM) in the second clip
            raise KeyboardInterrupt
        return [RDPoint(clip=clip.name, codec="jpeg", setting=f"q={q}", frames=2, width=32, height=32, bytes=q,
                        bpp=0.1 * q, kbps=1.0, ratio=1.0, psnr=30.0 + q, psnr_y=30.0, ssim=0.9, ms_ssim=0.9)
                for q in (1, 2)]

    monkeypatch.setattr(rd, "evaluate_clip", measured)
    out = tmp_path / "p.json"
    assert cli_main(["eval", *map(str, clips), "--codecs", "jpeg", "--json", str(out)]) == 130
    assert [p["clip"] for p in json.loads(out.read_text())] == ["a.mp4", "a.mp4"]
    assert "reporting the 1 clip(s) measured before it" in capsys.readouterr().err


def test_a_frame_coded_exactly_caps_psnr_instead_of_making_the_clip_infinite():
    from vidcodec.evaluate import metrics

    black = np.zeros((16, 16, 3), np.uint8)
    grey = np.full((16, 16, 3), 2, np.uint8)
    assert metrics.psnr(black, black) == metrics.psnr_y(black, black) == metrics.MAX_PSNR
    p = rd.score("c", "x264-medium", "crf=20", [black, grey], [black, black], 100, 10)
    assert np.isfinite(p.psnr) and p.psnr == pytest.approx((100 + metrics.psnr(grey, black)) / 2)


def test_a_clip_that_fails_later_keeps_the_clips_measured_before_it(tmp_path, capsys, monkeypatch):
    from vidcodec.errors import InputError
    from vidcodec.evaluate.rd import RDPoint

    clips = [write_testsrc(tmp_path / f"{n}.mp4", frames=2, size=(32, 32)) for n in ("a", "b")]

    def measured(clip, **kw):
        if clip.name == "b.mp4":
            raise InputError("b.mp4 has no video frames after the first 6")
        return [RDPoint(clip=clip.name, codec="jpeg", setting=f"q={q}", frames=2, width=32, height=32, bytes=q,
                        bpp=0.1 * q, kbps=1.0, ratio=1.0, psnr=30.0 + q, psnr_y=30.0, ssim=0.9, ms_ssim=0.9)
                for q in (1, 2)]

    monkeypatch.setattr(rd, "evaluate_clip", measured)
    out, js = tmp_path / "ev", tmp_path / "p.json"
    assert cli_main(["eval", *map(str, clips), "--codecs", "jpeg", "--out", str(out), "--json", str(js)]) == 2
    err = capsys.readouterr().err
    assert "b.mp4 cannot be measured (below); reporting the 1 clip(s) measured before it" in err
    assert "no video frames after the first 6" in err
    assert [p["clip"] for p in json.loads(js.read_text())] == ["a.mp4", "a.mp4"]
    # the results of a jpeg-only run: each CSV with its own header, the points on stdout
    assert (out / "bdrate.csv").read_text().startswith("clip,test,reference,bd_rate_psnr")
    assert (out / "summary.csv").read_text().startswith("clip,what,bpp")
    # an --out that holds results, or a --json that exists: refused before any work, unless -y
    assert cli_main(["eval", str(clips[0]), "--codecs", "jpeg", "--out", str(out)]) == 2
    assert "already holds results (points.csv" in capsys.readouterr().err
    assert cli_main(["eval", str(clips[0]), "--codecs", "jpeg", "--json", str(js)]) == 2
    assert cli_main(["eval", str(clips[0]), "--codecs", "jpeg", "--out", str(out), "--json", str(js), "-y"]) == 0
    assert "q=1" in capsys.readouterr().out  # no vidcodec curve: the points are the table
    # -y replaces the earlier run's files: a --table seed run leaves no points.csv of the run before
    (out / "notes.txt").write_text("mine")
    (out / "ratecontrol.csv").write_text("from a --bitrate run")
    (out / "gan.json").write_text("{}")
    assert cli_main(["eval", str(clips[0]), "--codecs", "jpeg", "--out", str(out), "--table", "seed", "-y"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "bdrate.csv", "notes.txt", "points.csv", "points.json", "rd.png", "seed_table.csv", "summary.csv"]


def test_eval_refuses_settings_that_would_merge_or_ignore_curves(tmp_path, capsys, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    for args, says in ((["--gop", "1", "--codecs", "vidcodec", "vidcodec-intra"], "--gop 1 makes vidcodec's curve"),
                       (["--gop", "1"], "--gop 1 makes vidcodec's curve"),  # the default codecs have both
                       (["--qualities", "2", "2", "3"], "--qualities names a level more than once"),
                       (["--codecs", "jpeg", "--model", "nosuch"], "--model nosuch: none of --codecs"),
                       (["--codecs", "jpeg", "--qualities", "2"], "--qualities: none of --codecs")):
        assert cli_main(["eval", str(clip), *args]) == 2, args
        err = capsys.readouterr().err
        assert says in err and "[1/1]" not in err, (args, err)


def test_seed_table_goes_into_out_too(tmp_path, capsys, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(64, 48))
    out = tmp_path / "s"
    assert cli_main(["eval", str(clip), "--model", "vaegan-tiny", "--frames", "2", "--codecs", "vidcodec", "jpeg",
                     "--table", "seed", "--out", str(out), "-q"]) == 0
    rows = list(csv.DictReader((out / "seed_table.csv").open()))
    assert rows and set(rows[0]) >= {"method", "SSIM", "PSNR", "CR"}


def test_eval_gan_refuses_what_it_would_find_out_only_after_its_encodes(tmp_path, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    for args, says in ((["--model", "vaegan-i"], "vaegan-i is a VAE-GAN model: --mode gan measures a GAN generator"),
                       (["--frames", "1"], "--frames must be at least 2"),
                       (["--gan-layer", "z", "--coeffs", "100"], "not with --gan-layer z")):
        assert cli_main(["eval", str(clip), "--mode", "gan", *args]) == 2, args
        err = capsys.readouterr().err
        assert says in err and "[1/1]" not in err and "Traceback" not in err, (args, err)


def test_an_odd_sized_clip_is_scored_on_the_same_pixels_for_every_codec(tmp_path):
    """x264 takes even sizes: it had been given the clip cut to even and scored on one row and column
    fewer than vidcodec; now it codes the clip padded to even, as `ffmpeg -vf pad` gives it, and is
    scored on the clip's own pixels."""
    clip = write_testsrc(tmp_path / "odd.mp4", frames=3, size=(63, 47))  # (4:4:4 H.264)
    ref, rate = rd.read_frames(clip, 3)
    assert ref[0].shape[:2] == (47, 63)
    points = rd.reference_points(clip, ref, rate, tmp_path, "x264-medium", crfs=(20,))
    assert (points[0].width, points[0].height) == (63, 47) and points[0].psnr_y > 35
    assert rd.even_pad(ref[0]).shape[:2] == (48, 64) and rd.even_pad(rd.even_pad(ref[0])).shape[:2] == (48, 64)


def test_eval_options_before_the_clip_leave_the_clip_a_clip(tmp_path, monkeypatch):
    """`vidcodec eval --codecs vidcodec x264-medium clip.mp4`, options first as in ffmpeg: argparse took the
    clip as a codec ("CLIP|DIR is required"), and `--qualities 3 5 clip.mp4` as a quality."""
    from vidcodec.cli import _clips_last, build_parser

    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "vidcodec").mkdir()  # a folder named like a codec stays a codec
    (tmp_path / "clips").mkdir()
    for argv, clips, codecs, qualities in (
        (["eval", "--codecs", "vidcodec", "x264-medium", "clip.mp4"], ["clip.mp4"], ["vidcodec", "x264-medium"], None),
        (["eval", "--qualities", "3", "5", "clips", "--codecs", "jpeg", "clip.mp4"], ["clips", "clip.mp4"], ["jpeg"],
         [3, 5]),
        (["eval", "-v", "clip.mp4", "--codecs", "vidcodec"], ["clip.mp4"], ["vidcodec"], None),
    ):
        a = build_parser().parse_args(_clips_last(argv))
        assert ([*a.clips, *a.more_clips], a.codecs, a.qualities) == (clips, codecs, qualities), argv
    assert _clips_last(["encode", "--bitrate", "500", "clip.mp4", "o.gvc"]) == \
        ["encode", "--bitrate", "500", "clip.mp4", "o.gvc"]
    assert _clips_last(["eval", "--codecs", "nosuch.mp4"]) == ["eval", "--codecs", "nosuch.mp4"]  # said as a codec


def test_eval_size_measures_every_codec_on_the_scaled_frames(tmp_path, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=2, size=(96, 64))
    out = tmp_path / "p.json"
    assert cli_main(["eval", str(clip), "--codecs", "jpeg", "x264-medium", "--frames", "2", "--size", "48x32",
                     "--json", str(out), "-q"]) == 0
    points = json.loads(out.read_text())
    points = points["points"] if isinstance(points, dict) else points
    assert points and all((p["width"], p["height"]) == (48, 32) for p in points)
    frames, _ = rd.read_frames(clip, 2, size=(48, 32))
    assert frames[0].shape == (32, 48, 3) and frames[0].flags["C_CONTIGUOUS"]
    assert cli_main(["eval", str(clip), "--codecs", "jpeg", "--size", "8x8"]) == 2
    assert "needs at least" in capsys.readouterr().err
