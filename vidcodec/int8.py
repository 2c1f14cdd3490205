"""The analysis transform with 8-bit convolutions in ONNX Runtime (``--backend int8``): the encoder's side only.

The float32 export's convolutions get QuantizeLinear/DequantizeLinear pairs (the QDQ format),
which ONNX Runtime's CPU provider fuses into integer convolutions: weights per output channel
(int8, symmetric), activations per tensor (uint8) over the ranges they took on real pictures. Those
ranges are measured once per model and shipped beside its weights as ``NAME.int8.json`` (ONNX
Runtime's calibration cache format): ``python -m vidcodec.int8 NAME IMAGE_OR_FOLDER...`` makes it.
The quantized graph is built from the cached float export and the ranges on first use and cached
beside it (:func:`vidcodec.runtime.cached_int8_analysis`).

Only the encoder's latents change, so streams made this way are ordinary streams that any backend
decodes, and decoding with ``--backend int8`` is decoding with ONNX Runtime in float32. On the
2-core VM (AVX512-VNNI) vaegan-g's analysis of a 640×360 frame took 26-31 ms against 61-70 ms in
float32, one thread, for a BD-rate cost measured in runs/int8-analysis (docs/RESULTS.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import UsageError

CALIBRATION_SIZE = (384, 256)  # width, height: pictures are scaled to this to measure the ranges
# Ranges: ONNX Runtime's percentile calibration (99.999 % of each activation's histogram), which on
# vaegan-g changed fewer of a 640x360 frame's top-level symbols than min/max (2.7 against 3.2 %)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
FORMAT_TAG = b"int8-qdq-conv-percentile-v1"  # what the quantized graph is: part of its cache key


@contextlib.contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantization tools warn on the root logger (pre-processing advice, GDN's computed
    biases): nothing a user can act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def ranges_path(weights: Path) -> Path:
    """Where a model's activation ranges live: ``NAME.int8.json`` beside ``NAME.safetensors``."""
    return weights.with_name(weights.stem + ".int8.json")


def existing_ranges(name: str, weights: Path) -> Path:
    """The activation ranges of model ``name`` (weights at ``weights``); a UsageError saying how to
    make them when there are none."""
    path = ranges_path(weights)
    if not path.exists():
        raise UsageError(f"--backend int8 needs the activation ranges of model {name} ({path} is missing): make "
                         f"them with `python -m vidcodec.int8 {name} FOLDER_OF_PICTURES`, or use --backend ort")
    return path


def cache_key(float_sha256: str, ranges: Path) -> str:
    """A name for the quantized graph: it changes with the float export (``float_sha256``, its file's
    SHA-256 as the export's manifest records it), the ranges and this module's recipe."""
    h = hashlib.sha256(FORMAT_TAG)
    h.update(bytes.fromhex(float_sha256))
    h.update(hashlib.sha256(ranges.read_bytes()).digest())
    return h.hexdigest()[:16]


def _quantize_static(float_analysis: Path, out: Path | str, reader, ranges: Path) -> None:
    """ONNX Runtime's static quantization as this module does it (QDQ, weights int8 per channel,
    activations uint8, convolutions only, percentile ranges): with a ``reader`` it measures the ranges
    and writes them to ``ranges``; without one it reads them from there."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with _quiet_root_logger():
        quantize_static(str(float_analysis), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=["Conv"], calibrate_method=CalibrationMethod.Percentile,
                        calibration_cache_path=str(ranges))


def quantize(float_analysis: Path, ranges: Path, out: Path) -> Path:
    """Write the 8-bit analysis graph for ``float_analysis`` with the activation ``ranges`` to ``out``
    (atomically). Raises UsageError when this ONNX Runtime cannot build it from a calibration cache."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        _quantize_static(float_analysis, tmp, None, ranges)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except TypeError as e:  # an onnxruntime without calibration_cache_path (before 1.31)
        raise UsageError(f"--backend int8 needs onnxruntime >= 1.31 (quantize_static's calibration_cache_path; "
                         f"{e}); use --backend ort") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _pictures(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such picture or folder")
    return files


def calibrate(model, pictures: Sequence[np.ndarray], out: Path) -> Path:
    """Measure the analysis graph's activation ranges (percentiles) on ``pictures`` (H×W×3 uint8 RGB,
    scaled to :data:`CALIBRATION_SIZE`) and write them to ``out`` in ONNX Runtime's calibration cache
    format. ``model``: a loaded VAE-GAN :class:`vidcodec.models.zoo.CodecModel`."""
    import cv2
    from onnxruntime.quantization import CalibrationDataReader

    from . import runtime
    from .codec.vaegan import to_tensor

    if not pictures:
        raise UsageError("calibration needs at least one picture")
    analysis = runtime.cached_export(model)["analysis"]
    name = runtime.ANALYSIS_IO[0]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(pictures)

        def get_next(self) -> dict | None:
            rgb = next(self.items, None)
            if rgb is None:
                return None
            rgb = cv2.resize(rgb, CALIBRATION_SIZE, interpolation=cv2.INTER_AREA)
            return {name: to_tensor(rgb, model.downscale)}

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()  # quantize_static would read it instead of measuring
    # the ranges are the product, the graph is thrown away; the histogram collector prints its sizes
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        _quantize_static(analysis, Path(tmp) / "q.onnx", Reader(), out)
    # ONNX Runtime writes the tensors in set order: sorted, the same pictures give the same bytes
    out.write_text(json.dumps(json.loads(out.read_text()), sort_keys=True))
    out.chmod(0o644)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vidcodec.int8",
        description="Measure a model's activation ranges for --backend int8 (the analysis transform with 8-bit "
        "convolutions) on real pictures, and write NAME.int8.json beside its weights (or to --out).",
        epilog="Example: python -m vidcodec.int8 vaegan-g data/photos --count 24 --skip-every 12 "
        "(every 12th photo is held out of training; leave those out here too)")
    p.add_argument("model", help="installed model name")
    p.add_argument("pictures", nargs="+", type=Path, help="picture files or folders of them (jpg, png, webp)")
    p.add_argument("--count", type=int, default=24, help="pictures to use, in name order (default 24)")
    p.add_argument("--skip-every", type=int, default=0, metavar="N",
                   help="leave out every Nth picture (index 0, N, 2N...) of the list (default: none)")
    p.add_argument("--out", type=Path, help="where to write the ranges (default: beside the model's weights)")
    a = p.parse_args(argv)
    import cv2

    from .models import zoo

    try:
        m = zoo.load(a.model)
        files = [f for i, f in enumerate(_pictures(a.pictures)) if not (a.skip_every and i % a.skip_every == 0)]
        files = files[:a.count]
        pics = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise UsageError(f"{f}: not a picture OpenCV can read")
            pics.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        out = calibrate(m, pics, a.out or ranges_path(m.info.weights))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{out}: activation ranges of {a.model} from {len(pics)} pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
