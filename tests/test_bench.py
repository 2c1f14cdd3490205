"""vidcodec bench: the report's parts on a tiny clip, and its usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_testsrc

from vidcodec import runtime
from vidcodec.cli import main as cli_main
from vidcodec.errors import UsageError
from vidcodec.evaluate import bench
from vidcodec.models import zoo


def test_bench_reports_stages_rates_memory_and_x264(tmp_path, tiny_model_dir, capsys):
    clip = write_testsrc(tmp_path / "c.mp4", frames=4, size=(64, 48))
    assert cli_main(["bench", str(clip), "--model", "vaegan-tiny", "--quality", "2", "--frames", "4", "--runs", "1",
                     "--size", "80x48", "--json", "-q", "--gop", "2", "--workers", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["width"], r["height"], r["frames"]) == (80, 48, 4)
    assert r["subpel"] == "learned"  # the tiny model ships a predictor table, as vidcodec encode uses it
    assert (r["gop"], r["workers"]) == (2, 2)
    assert set(r["stages"]) == {"convert", "analysis", "entropy coding", "container write", "container parse",
                                "entropy decoding", "synthesis", "to rgb"}
    assert all(v["p95_ms"] >= v["median_ms"] >= 0 for v in r["stages"].values())
    lat = r["latency_ms"]
    assert lat["capture_to_packet"] >= r["stages"]["analysis"]["median_ms"]
    assert lat["packet_to_frame"] >= r["stages"]["synthesis"]["median_ms"]
    assert r["vidcodec"]["encode_fps"] > 0 and r["vidcodec"]["decode_fps"] > 0
    # Both start-up times are there (not compared: on a loaded machine either can come out longer)
    assert r["cli_startup_s"] > 0 and r["startup_s"] > 0
    for preset in ("veryfast", "medium"):
        x = r["x264"][preset]
        assert x["vidcodec_encode_ratio"] == pytest.approx(r["vidcodec"]["encode_fps"] / x["encode_fps"], rel=1e-2)
    assert r["peak_rss_mib"] > 10 and r["machine"]["cores"] >= 1 and r["machine"]["providers"]
    # the preset timed is the one encode chose (auto: medium in the tests, conftest), named in the report
    assert r["preset"] == "medium" and r["preset_auto"] and "preset medium (auto)" in bench.format_report(r)
    assert "vidcodec/x264" in bench.format_report(r)
    assert r["machine"]["cpu_bf16"] == zoo.cpu_has_bf16()
    assert ("CPU bfloat16 native" in bench.format_report(r)) == zoo.cpu_has_bf16()
    # the machine line names what runs the networks: ONNX Runtime's lanes here, torch's for the others
    assert r["lanes"] == zoo.load("vaegan-tiny").lanes
    assert "ORT threads" in bench.format_report(r)
    torch_line = bench.format_report({**r, "backend": "torch", "decode_backend": "torch", "lanes": 1}).splitlines()[0]
    assert "ORT unused, torch threads" in torch_line and "in 1 lane(s)" in torch_line
    assert r["machine"]["cpu_quota"] == runtime.cgroup_cpus()  # a container's quota is named when there is one
    quota_line = bench.format_report({**r, "machine": {**r["machine"], "cpu_quota": 3}}).splitlines()[0]
    assert "(a cgroup quota of 3 CPUs)" in quota_line
    assert "quota" not in bench.format_report({**r, "machine": {**r["machine"], "cpu_quota": None}}).splitlines()[0]


def test_bench_usage_errors(tmp_path, capsys):
    assert cli_main(["bench", str(tmp_path / "nope.mp4"), "-q"]) == 2
    assert cli_main(["bench", "--size", "640by360", "-q"]) == 2
    assert "640x360" in capsys.readouterr().err
    with pytest.raises(UsageError):
        bench.bench(tmp_path / "nope.mp4", frames=1)
    with pytest.raises(UsageError, match="--gop"):
        bench.bench(None, gop=0)
    with pytest.raises(UsageError, match="learned or bilinear"):
        bench.bench(None, subpel="quarter")
    with pytest.raises(UsageError, match="pgan-carphone is a GAN generator"):  # not an AttributeError
        bench.bench(None, frames=2, runs=1, model="pgan-carphone")


def test_bench_times_the_backends_the_commands_would_take(tmp_path, tiny_model_dir):
    """auto as encode resolves it for this many frames, and as decode does for this many pixels, each named."""
    from vidcodec.models import zoo

    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    r = bench.bench(clip, frames=3, runs=1, model="vaegan-tiny", quality=1)
    assert r["backend"] == zoo.resolve_backend("auto", zoo.find("vaegan-tiny"), short=True)
    assert r["decode_backend"] == zoo.resolve_backend("auto", zoo.find("vaegan-tiny"), short=True, decode=True) == "ort"
    assert ("(decoding ort)" in bench.format_report(r)) == (r["backend"] != "ort")


def test_bench_quality_out_of_range_says_the_levels_as_encode_does(tiny_model_dir):
    for q in (0, 99):
        with pytest.raises(UsageError, match=f"--quality must be between 1 and 3 \\(got {q}\\)"):
            bench.bench(None, model="vaegan-tiny", quality=q, frames=2)


def test_bench_stages_time_either_prediction(tiny_model_dir):
    from vidcodec.models import zoo

    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    frames = [np.roll(base, 2 * i, axis=1) for i in range(3)]  # a pan: the deltas move
    m = zoo.load("vaegan-tiny")
    for subpel in ("learned", "bilinear"):
        t = bench.stage_times(frames, m, 2, 250, subpel)
        assert len(t) == 8 and t["entropy decoding"]["median_ms"] > 0


def test_bench_refuses_frames_x264_cannot_take(tmp_path, tiny_model_dir):
    clip = write_testsrc(tmp_path / "c.mp4", frames=3, size=(64, 48))
    with pytest.raises(UsageError, match="at least 2x2 pixels"):
        bench.bench(clip, size=(1, 1), frames=2, runs=1, model="vaegan-tiny")
    one = write_testsrc(tmp_path / "one.mp4", frames=1, size=(64, 48))  # a still: not a delta to time
    with pytest.raises(UsageError, match="has 1 frame: bench needs at least 2"):
        bench.bench(one, frames=4, runs=1, model="vaegan-tiny")


def test_the_bundled_sample_is_found_installed_or_in_a_checkout(tmp_path, monkeypatch):
    """An installed package has it in vidcodec/samples/ (CMakeLists.txt installs it there; a wheel
    without it failed `vidcodec bench` with no clip), a source checkout in samples/."""
    installed, checkout = tmp_path / "pkg" / "bikes.mp4", tmp_path / "repo" / "bikes.mp4"
    installed.parent.mkdir()
    checkout.parent.mkdir()
    monkeypatch.setattr(bench, "BUNDLED_PLACES", (installed, checkout))
    with pytest.raises(UsageError, match="bundled sample is missing from this installation; give a clip"):
        bench.load_frames(None, 2, None)
    clip = write_testsrc(checkout, frames=2, size=(32, 32))
    assert bench.bundled_sample() == clip
    write_testsrc(installed, frames=3, size=(48, 32))
    assert bench.bundled_sample() == installed
    frames, _, name = bench.load_frames(None, 5, None)
    assert (len(frames), frames[0].shape, name) == (3, (32, 48, 3), "bikes.mp4")


@pytest.mark.parametrize(("platform", "maxrss", "mib"), [("linux", 2048, 2.0), ("darwin", 3 << 20, 3.0)])
def test_peak_memory_is_mib_on_linux_and_macos(monkeypatch, platform, maxrss, mib):
    """ru_maxrss is KiB on Linux and bytes on macOS: a Mac's report was 1024 times too large."""
    import resource

    monkeypatch.setattr(bench.sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: type("R", (), {"ru_maxrss": maxrss})())
    assert bench.peak_rss_mib() == mib


def test_peak_memory_is_none_where_there_is_no_getrusage(monkeypatch):
    """Windows has no resource module: bench's import failed there (onnxruntime-gpu installs on Windows)."""
    import sys

    monkeypatch.setitem(sys.modules, "resource", None)  # import resource raises ImportError
    assert bench.peak_rss_mib() is None


def test_the_allocator_is_the_one_loaded_not_the_one_named():
    # a mistyped LD_PRELOAD (ld.so: "cannot be preloaded ... ignored") had been reported as tcmalloc
    assert bench.allocator("7f00-7f10 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4.5\n") == "tcmalloc"
    assert bench.allocator("7f00-7f10 r-xp 0 08:01 1 /usr/lib/libjemalloc.so.2\n") == "jemalloc"
    assert bench.allocator("7f00-7f10 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n") == "glibc malloc"
    if sys.platform.startswith("linux"):
        code = "from vidcodec.evaluate import bench; print(bench.allocator())"
        env = {**os.environ, "LD_PRELOAD": "libtcmalloc_minimal.so.99"}
        r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                           timeout=120)
        assert r.stdout.strip() == "glibc malloc", r.stderr


def test_cores_are_those_this_process_may_use(monkeypatch):
    # taskset -c 0 (a container's cpuset): "2 logical cores" with one usable
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert runtime.usable_cpus() == 1
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert runtime.usable_cpus() == (os.cpu_count() or 1)
