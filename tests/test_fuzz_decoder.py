"""A short, seeded run of the decoder fuzz harness (tests/fuzz_decoder.py runs the full 100k)."""

from __future__ import annotations

from fuzz_decoder import fuzz


def test_short_seeded_fuzz_run_raises_only_vidcodec_errors(tmp_path, tiny_model_dir):
    r = fuzz(300, seed=7, out=tmp_path / "fail", synthesize=True, max_seconds=5.0, tmp=tmp_path)
    assert r["failed"] == 0, r["failures"]
    assert r["outcomes"].get("ok", 0) > 10  # some mutations leave decodable streams (with concealment)
    assert len(r["outcomes"]) >= 3  # and several different errors are met: the mutations reach deep
