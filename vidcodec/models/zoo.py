"""Installed models, found by name and SHA-256 of their weights file (never by list position).

A model is two files in a weights folder: ``NAME.safetensors`` (transforms, per-level gains,
integer coding tables) and ``NAME.json`` (architecture and provenance). Folders searched, in
order: those in ``$VIDCODEC_MODEL_PATH`` (``os.pathsep``-separated), then the package's
``vidcodec/weights``. A stream names its model as ``name`` + ``sha256``; only an exact match
decodes it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from ..codec import DEFAULT_MODEL, DEFAULT_QUALITY
from ..coding.tables import IntTables, from_tensors
from ..errors import InputError, ModelNotFoundError, UsageError, first_line, shown
from .card import DOWNSCALE, GAN_KIND, VAEGANConfig, check_kind

if TYPE_CHECKING:  # torch loads only where torch runs: the torch backend, export, --refine, GAN mode
    import torch

    from ..codec.colour import Correction
    from ..codec.subpel import Predictor
    from .gan import GanModel
    from .vaegan import Analysis, Synthesis

log = logging.getLogger("vidcodec")

PACKAGE_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
BF16 = "bf16"
INT8 = "int8"
AUTO = "auto"
# auto (the default: bf16 or int8 to encode where they pay, see resolve_backend; else ort), ONNX Runtime, the
# torch modules, those in bfloat16, or ONNX Runtime with the analysis in 8 bits
BACKENDS = (AUTO, "ort", "torch", BF16, INT8)
ORT_BACKENDS = ("ort", INT8)
# auto encodes an input known to be shorter than this in int8 or float32, never bf16: torch's import (1.3-2 s
# of a core) is what bfloat16 costs before its first frame, and a short input of still frames never repays it
# (session 49 on the AMX VM, CLI encode, 2 rounds: one frame 0.53-0.73 s against 1.85-2.74 s; 25 frames of
# still clips 1.2-1.6 s against 2.3-3.2, of Big Buck Bunny 3.9-4.5 against 3.3 (int8's judge imports torch
# too where the camera moves); 50 frames 2.2-2.5 against 2.7-4.1 still, 5.3-5.4 against 4.6-4.9 moving;
# from 100 frames on bfloat16 is ahead or level on all three clips; docs/RESULTS.md).
BF16_MIN_FRAMES = 50
# ``auto`` decodes in bfloat16 only at least this many pixels (frames × width × height; the frames the
# decode will make: the header's or index's count from --start on, at most --frames or -t; not known,
# a live stream: many): torch's import (1.2 s) is repaid by the faster synthesis only over enough. Through the CLI at 640x360 (2026-12-06, nine clips,
# docs/eval/cli-speed-session53): 100 and 132 frames decoded 47.6 / 53.6 fps in bfloat16 against 56.0
# / 56.8 in ONNX Runtime, 190-300 frames 8-26 % faster (59.6-87.5 against 54.9-72.3 fps); 60 frames of
# 1920x1080 2.8x as fast. 40 Mpx: about 175 frames at 640x360, 20 at 1080p.
BF16_MIN_DECODE_PIXELS = 40_000_000
# ... and this many on a CPU whose bfloat16 runs on AVX512-BF16 alone (no AMX: the synthesis 2x as fast
# as ONNX Runtime's, not 4x): on the AMD EPYC VM (2026-12-07, CLI, 2 rounds each) 600 frames of 480x352
# (101 Mpx) decoded 1.16-1.21x as fast, 1200 (203 Mpx) 1.31x, 60 of 1920x1080 (124 Mpx) 1.41-1.59x;
# 250-300 frames of 640x360 (58-69 Mpx) 0.87-1.10x (three clips, medians of 3 rounds; runtime.bf16_decode_pays).
BF16_MIN_DECODE_PIXELS_AVX512 = 100_000_000


def _bf16_decode_pixels() -> int:
    """The pixels a decode must make to repay torch's import here: :data:`BF16_MIN_DECODE_PIXELS` on a
    CPU with AMX, else :data:`BF16_MIN_DECODE_PIXELS_AVX512`."""
    from .. import runtime

    return BF16_MIN_DECODE_PIXELS if runtime.bf16_pays() else BF16_MIN_DECODE_PIXELS_AVX512


def short_decode(frames: int | None, width: int, height: int) -> bool:
    """Whether a decode of ``frames`` frames of ``width`` × ``height`` (None: not known) is too short to
    repay torch's import (:func:`_bf16_decode_pixels`): ``resolve_backend``'s ``short`` for decoding."""
    return frames is not None and frames * width * height < _bf16_decode_pixels()


def decode_handover_pixels(info: ModelInfo) -> int | None:
    """For a decode whose length is not known (a pipe, a live stream) with ``auto``: the pixels after
    which bfloat16 repays torch's import here (:func:`short_decode`'s threshold), where ``auto`` takes
    bfloat16 for long decodes (:func:`resolve_backend`; whether oneDNN runs it is asked only when it is
    loaded, on :class:`Handover`'s thread); None where it never does (ONNX Runtime throughout)."""
    from .. import runtime

    if info.meta.get("kind") == GAN_KIND or not (runtime.bf16_pays() or runtime.bf16_decode_pays()):
        return None
    return _bf16_decode_pixels()


class Handover:
    """A decode's model when its length is not known (a pipe, a live stream) and ``auto`` takes bfloat16
    for long decodes: ONNX Runtime's model (``first``, which also parses the stream: its tables are every
    backend's) synthesizes the first frames at once, without waiting for torch's import (1.2-2 s of a
    core: a 12-frame 640x360 pipe decoded in 2.5-3.0 s when bfloat16 was set up first, 0.9-1.1 s so, on
    the AMD EPYC VM); a thread loads the bfloat16 model once the frames decoded reach ``pixels`` / 2,
    and it synthesizes from the frame at which they reach 3/4 ``pixels`` on, waited for there if its
    loading has not finished. ``pixels`` is where bfloat16 from the start repays the import; up to
    about half of it bfloat16 was measured to gain nothing, and a stream that ends between the load
    and the switch pays the import for nothing (150 frames of 640x360 from a pipe, 34.5 Mpx, loaded
    from a quarter: 5.5-5.7 s against 4.0-4.1 in ONNX Runtime), so the load waits that long; 1200
    frames of 480x352 took 17.2-17.8 s against 14.5-17.2 with bfloat16 from the start and 19.8-22.0 in
    ONNX Runtime. The switch's frame
    depends on the stream alone, so a decode makes the same pictures on every run. ``wait`` False (a player, whose pictures are shown, not kept): never waited for; bfloat16 takes over
    from the first frame after it is loaded, and the load starts at once where torch is imported
    already (after a seek). If bfloat16 cannot be set up here, ONNX Runtime goes on (logged).

    Everything but :meth:`picker` is ``first``'s (the parser, :class:`vidcodec.api.Renderer`'s
    concealment)."""

    def __init__(self, first: CodecModel, pixels: int, *, wait: bool = True) -> None:
        self.first = first
        self.load_at, self.switch_at = pixels // 2, pixels * 3 // 4
        self.wait = wait
        self._later: CodecModel | None = None
        self._thread: threading.Thread | None = None
        self._started = False

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "first":  # copy, pickle, and a half-made instance: no recursion
            raise AttributeError(name)
        return getattr(self.first, name)

    def picker(self, width: int, height: int) -> Callable[[], CodecModel]:
        """A function to call once per frame of a decode of ``width`` × ``height`` frames, in stream
        order (concealed frames too): the model that synthesizes that frame."""
        frames = 0

        def pick() -> CodecModel:
            nonlocal frames
            frames += 1
            done = frames * width * height
            if done >= self.load_at or (not self.wait and "torch" in sys.modules):
                self._start(width, height)
            if not self.wait:
                return self._later or self.first
            if done < self.switch_at:
                return self.first
            if self._thread is not None:  # the switch's frame: wait for the load once
                self._thread.join()
                self._thread = None
            return self._later or self.first

        return pick

    def _start(self, width: int, height: int) -> None:
        if not self._started:
            self._started = True
            # Not a daemon (the feeder thread that starts it is one): an exit waits for it rather than
            # stop it inside torch's import or oneDNN's set-up, as for the judges; a fork waits for it too
            self._thread = threading.Thread(target=self._load, args=(width, height), name="vidcodec-bf16-load",
                                            daemon=False)
            _JUDGES[:] = [t for t in _JUDGES if t.is_alive()]  # (one per decode: finished ones dropped)
            _JUDGES.append(self._thread)
            self._thread.start()

    def _load(self, width: int, height: int) -> None:
        try:
            with _HANDOVER_LOADS:  # one at a time: two decodes (a player's seek) build one cached model
                later = load(self.first.name, self.first.sha256, backend=BF16)
            # torch's import, the modules and oneDNN's set-up for this size, off the decode's path
            later.picture(np.zeros((1, later.latent_channels, -(-height // DOWNSCALE), -(-width // DOWNSCALE)),
                                   np.float32), width, height)
        except Exception as e:  # noqa: BLE001 - an optional speed-up: whatever stops it, ONNX Runtime goes on
            log.info("decoding on with ONNX Runtime: the bfloat16 synthesis could not be set up (%s)", e)
            return
        log.debug("bfloat16 synthesis loaded; it takes over at %d pixels", self.switch_at)
        self._later = later


_HANDOVER_LOADS = threading.Lock()


def search_path() -> list[Path]:
    """Weights folders searched for models, highest priority first."""
    extra = [Path(p) for p in os.environ.get("VIDCODEC_MODEL_PATH", "").split(os.pathsep) if p]
    return [*extra, PACKAGE_WEIGHTS]


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    """An installed model: its name, content hash and files."""

    name: str
    sha256: str
    weights: Path
    meta: dict = field(repr=False, compare=False, hash=False)


def _is_checkpoint(meta: dict) -> bool:
    """Whether a .json beside a .safetensors describes a training run's checkpoint (``last``, ``best``,
    ``disc``: a step, no model name), which is not a model until it is packaged."""
    return "step" in meta and "name" not in meta


def _cards() -> Iterator[tuple[Path, dict]]:
    """(weights file, its .json) for every weights file with a readable card on the search path."""
    for folder in search_path():
        for meta_path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            weights = meta_path.with_suffix(".safetensors")
            if not weights.exists():
                continue
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                _warn_once(f"{meta_path}: not a model card (unreadable JSON); skipped")
                continue
            if isinstance(meta, dict):
                yield weights, meta


def installed() -> list[ModelInfo]:
    """Every model found on the search path (a name may appear with several hashes)."""
    return [ModelInfo(meta.get("name", weights.stem), _cached_hash(weights), weights, meta)
            for weights, meta in _cards() if not _is_checkpoint(meta)]


def read_weights(info: ModelInfo, load: Callable[[str], dict]) -> dict:
    """``load(path)`` of a model's weights file; an InputError that says so when the file is damaged
    (cut short, overwritten), instead of the safetensors reader's own error."""
    try:
        return load(str(info.weights))
    except (SafetensorError, OSError) as e:
        raise InputError(f"model {info.name}: its weights ({info.weights}) cannot be read ({first_line(e)}): "
                         "the file is damaged or cut short; reinstall vidcodec for a shipped model, or package "
                         "your own again (python -m vidcodec.train.package)") from None


@lru_cache(maxsize=64)
def _hash_of(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(Path(path))


def _cached_hash(path: Path) -> str:
    st = path.stat()
    return _hash_of(str(path), st.st_mtime_ns, st.st_size)


def find(name: str, sha256: str | None = None) -> ModelInfo:
    """The installed model called ``name`` (with exactly this hash, when given).

    Folders are searched in :func:`search_path` order. Without a hash, within a folder the weights
    file named after the model (``NAME.safetensors``) wins over others of that name: earlier
    weights kept beside it so that their streams still decode (say ``NAME@HASH.safetensors``) are
    found through the hash their streams carry; ``NAME@PREFIX`` (as the error below lists them)
    names one by a prefix of its hash."""
    models = installed()
    if sha256 is None and "@" in name:
        name, prefix = name.split("@", 1)
        if not prefix:  # NAME@ with nothing after had quietly been NAME
            raise ModelNotFoundError(f"model {name}@: give the start of a hash after @ (vidcodec info shows a "
                                     f"stream's), or the name alone")
        hashes = {m.sha256 for m in models if m.name == name and prefix and m.sha256.startswith(prefix.lower())}
        if len(hashes) > 1:
            raise ModelNotFoundError(f"model {name}@{prefix}: {len(hashes)} installed weights have hashes that start "
                                     "so; give more of the hash")
        sha256 = hashes.pop() if hashes else prefix or None
    matches = [m for m in models if m.name == name and (sha256 is None or m.sha256 == sha256)]
    if matches:
        folder = matches[0].weights.parent
        chosen = min((m for m in matches if m.weights.parent == folder), key=lambda m: m.weights.stem != name)
        if sha256 is None and folder != PACKAGE_WEIGHTS:
            shadowed = [m for m in matches if m.weights.parent == PACKAGE_WEIGHTS and m.weights.stem == name]
            if shadowed and shadowed[0].sha256 != chosen.sha256:  # a user's model named like a shipped one
                _warn_once(f"model {name}: using {chosen.weights} (VIDCODEC_MODEL_PATH), not the one vidcodec "
                           f"ships; its streams decode only where that file is installed too")
        return chosen
    have = ", ".join(f"{m.name}@{m.sha256[:12]}" for m in models) or "none"
    wanted = shown(f"{name}@{sha256[:12]}" if sha256 else name)
    run = [w for w, meta in _cards() if _is_checkpoint(meta) and w.stem == name]
    if run:
        raise ModelNotFoundError(
            f"{run[0]} is a training checkpoint, not a packaged model: package it with `python -m "
            f"vidcodec.train.package {run[0]} DIR --name NAME` and put DIR in VIDCODEC_MODEL_PATH")
    if sha256 is None and (name.endswith((".safetensors", ".json")) or "/" in name or os.sep in name):
        meta_path = Path(name).with_suffix(".json")
        try:
            checkpoint = _is_checkpoint(json.loads(meta_path.read_text()))
        except (OSError, ValueError, AttributeError, TypeError):
            checkpoint = False
        if checkpoint:
            raise ModelNotFoundError(
                f"{wanted} is a training checkpoint, not a packaged model: package it with `python -m "
                f"vidcodec.train.package {name} DIR --name NAME`, put DIR in VIDCODEC_MODEL_PATH and give --model NAME")
        raise ModelNotFoundError(
            f"--model takes an installed model's name, not a path ({wanted}): put the folder that holds "
            f"NAME.safetensors and NAME.json (what `python -m vidcodec.train.package` writes) in "
            f"VIDCODEC_MODEL_PATH and give NAME (installed: {have})")
    # (not for a stream's model, named with its hash: a checkpoint of that name is other weights)
    runs = [w for w, meta in _cards() if sha256 is None and _is_checkpoint(meta)
            and isinstance(meta.get("config"), dict) and meta["config"].get("name") == name]
    if runs:  # VIDCODEC_MODEL_PATH names the training run's folder: what is there is not a model yet
        raise ModelNotFoundError(
            f"model {wanted} is not installed: {runs[0]} is a training checkpoint of it, not a packaged model: "
            f"package it with `python -m vidcodec.train.package {runs[0]} DIR`, put DIR in VIDCODEC_MODEL_PATH "
            f"and give --model {wanted}")
    raise ModelNotFoundError(
        f"model {wanted} is not installed (installed: {have}). A stream's model: install the vidcodec version "
        f"that ships it; your own: put its .safetensors and .json in a folder named in VIDCODEC_MODEL_PATH."
    )


def card_mismatch(info: ModelInfo, what: str) -> InputError:
    """The error for a model whose card (NAME.json) does not describe its weights (edited, or copied from
    another model)."""
    return InputError(f"model {info.name}: {what}; its card {info.weights.with_suffix('.json')} does not "
                      "describe its weights file: reinstall vidcodec for a shipped model, or package your own "
                      "again (python -m vidcodec.train.package)")


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning("%s", message)


class CodecModel:
    """A loaded VAE-GAN model ready to code: transforms, gains and integer tables.

    ``backend`` runs the transforms with ONNX Runtime (``"ort"``, exported to the ONNX cache on
    first use, see :mod:`vidcodec.runtime`; ``"int8"``: the analysis with 8-bit convolutions, see
    :mod:`vidcodec.int8`) or with the torch modules (``"torch"``, or ``"bf16"``: in bfloat16). The
    integer symbols in a stream fix the decoded latent, so any backend decodes any stream.
    """

    kind = "vaegan"

    def __init__(self, info: ModelInfo, backend: str = "ort", *, short: bool = False) -> None:
        check_backend(backend)
        self.auto = backend == AUTO  # int8 chosen for the machine: float32 if its graph cannot be built
        backend = resolve_backend(backend, info, short=short)
        if backend == BF16:
            check_bf16(torch_device())  # before any output is written
        if backend == INT8 and not self.auto:  # auto checked them when it chose int8
            from ..int8 import existing_ranges

            existing_ranges(info.name, info.weights)  # before any output is written
        self.info = info
        self.name = info.name
        self.sha256 = info.sha256
        self.backend = backend
        try:
            self.config = VAEGANConfig.from_dict(info.meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise card_mismatch(info, f"its card has no usable config ({first_line(e)})") from None
        tensors = read_weights(info, load_file)
        c = self.config
        gains = tensors.get("log_gain")
        if gains is None or gains.shape != (c.levels, c.latent_channels):
            raise card_mismatch(info, f"its card says {c.levels} levels of {c.latent_channels} channels, its weights "
                                f"hold log-gains of shape {None if gains is None else tuple(gains.shape)}")
        # The transforms' weights wait as arrays: the torch modules are built on first use.
        self._weights = {k: v for k, v in tensors.items() if k.startswith(("analysis.", "synthesis."))}
        self._modules: tuple[Analysis, Synthesis] | None = None
        self._bf16: tuple[Analysis, Synthesis] | None = None  # bfloat16 copies for the bf16 backend
        self._modules_lock = threading.Lock()
        self.log_gain = tensors["log_gain"].astype(np.float32)  # (levels, C)
        # the quantization steps' inverses, for the float paths (scaling, dequantization); the learned
        # predictor's integer weights come from the log-gains themselves (subpel.format_gains)
        self.gains = np.exp(self.log_gain).astype(np.float32)
        self.key_tables: list[IntTables] = [from_tensors(f"key.{i}", tensors) for i in range(c.levels)]
        self.delta_tables: IntTables = from_tensors("delta", tensors)
        self.levels = c.levels
        self.latent_channels = c.latent_channels
        self.level_channels = [c.channels(i) for i in range(c.levels)]  # channels coded at each level
        self.default_quality = int(info.meta.get("default_quality", min(DEFAULT_QUALITY, c.levels)))
        self.downscale = DOWNSCALE
        self._ort = None
        self._ort_lock = threading.Lock()
        # What the encoder judges its fine deltas by (see judge): built on a thread from prepare_judge
        self._judge: Callable[[np.ndarray], np.ndarray] | None = None
        self._judge_thread: threading.Thread | None = None
        self._judge_lock = threading.Lock()
        self._subpel: Predictor | None | bool = False  # False: not looked for yet
        self._subpel_lock = threading.Lock()

    @property
    def subpel(self) -> Predictor | None:
        """The model's learned sub-pixel predictor (format 10.0 motion), from the table beside its
        weights (``NAME.subpel.safetensors``, see :mod:`vidcodec.codec.subpel`); None without one."""
        with self._subpel_lock:
            if self._subpel is False:
                from ..codec.subpel import Predictor, legacy_path, table_path

                path = table_path(self.info.weights)
                self._subpel = (Predictor.load(path, self.log_gain, self.level_channels, legacy_path(self.info.weights))
                                if path.exists() else None)
            return self._subpel

    def _torch_modules(self) -> tuple[Analysis, Synthesis]:
        """The analysis and synthesis torch modules, built from the weights on first use."""
        with self._modules_lock:
            if self._modules is None:
                import torch

                from .vaegan import Analysis, Synthesis

                c = self.config
                # Built outside inference mode whoever asks first (analyze runs in it): parameters made
                # in it are inference tensors, and the refiner's gradients through them would fail.
                with torch.inference_mode(False):
                    modules = (Analysis(c.enc_channels, c.latent_channels).eval(),
                               Synthesis(c.dec_channels, c.latent_channels, c.dec_last_channels).eval())
                    for prefix, module in zip(("analysis.", "synthesis."), modules):
                        try:
                            module.load_state_dict({k[len(prefix):]: torch.from_numpy(v)
                                                    for k, v in self._weights.items() if k.startswith(prefix)})
                        except RuntimeError as e:  # torch's "size mismatch for ...": the card's widths are not the weights'
                            raise card_mismatch(self.info, f"its {prefix[:-1]} weights do not fit the widths its "
                                                f"card gives ({first_line(e, 160)})") from None
                        if self.backend not in ORT_BACKENDS:
                            # oneDNN's convolutions run about 1.5x faster on channels-last tensors on x86
                            # (640×360 synthesis, 2 threads: 27 ms against 40 ms), cuDNN's too; no value changes.
                            module.to(torch_device(), memory_format=torch.channels_last)
                if torch_device().type == "cpu":
                    from .. import runtime

                    runtime.cap_torch_threads()
                self._modules = modules
            return self._modules

    def _run_modules(self) -> tuple[Analysis, Synthesis]:
        """The modules that analyze and synthesize: the torch modules, or with the bf16 backend their
        bfloat16 copies (made on first use; training code and the refiner keep the float32 ones)."""
        if self.backend != BF16:
            return self._torch_modules()
        modules = self._torch_modules()
        with self._modules_lock:
            if self._bf16 is None:
                import torch

                if torch_device().type == "cpu" and self.lanes > 1:
                    # whole frames side by side, one thread each (see ``lanes``), as ONNX Runtime's
                    # sessions. 640x360 through the CLI on the 2-core VM (2026-12-04): one two-thread
                    # call at a time encoded at 23-24 fps and decoded at 34-39; two lanes 24-28 / 49-57
                    torch.set_num_threads(1)
                self._bf16 = tuple(copy.deepcopy(m).to(torch.bfloat16) for m in modules)
            return self._bf16

    def _input(self, a: np.ndarray) -> torch.Tensor:
        """An array as the running modules take it: on their device, channels-last, in their dtype."""
        t = _channels_last(a, torch_device())
        if self.backend != BF16:
            return t
        import torch

        return t.to(torch.bfloat16)

    @property
    def analysis(self) -> Analysis:
        """The analysis transform as a torch module (built on first use)."""
        return self._torch_modules()[0]

    @property
    def synthesis(self) -> Synthesis:
        """The synthesis transform as a torch module (built on first use)."""
        return self._torch_modules()[1]

    @property
    def ort(self):
        """The ONNX Runtime sessions (:class:`vidcodec.runtime.OrtTransforms`), made on first use."""
        with self._ort_lock:
            if self._ort is None:
                from .. import runtime

                try:
                    self._ort = runtime.load_transforms(self, int8=self.backend == INT8)
                except Exception as e:  # any failure to build the 8-bit graph: float32, as without auto
                    if not (self.auto and self.backend == INT8):
                        raise
                    _warn_once(f"{self.name}: the 8-bit analysis could not be built ({e}); encoding in float32")
                    self.backend = "ort"
                    self._ort = runtime.load_transforms(self)
            return self._ort

    @property
    def lanes(self) -> int:
        """How many frames the transforms run at once to advantage (ONNX Runtime's sessions per
        transform, see :func:`vidcodec.runtime.default_lanes`; as many for bf16 on a CPU, whose calls
        then run on one thread each; 1 for torch, which threads each call)."""
        if self.backend in ORT_BACKENDS:
            return self.ort.lanes
        if self.backend == BF16 and torch_device().type == "cpu":
            from .. import runtime

            return runtime.default_lanes(())
        return 1

    def frame_lanes(self, width: int, height: int) -> int:
        """:attr:`lanes` for frames of ``width`` × ``height``: as many as the memory holds
        (:func:`vidcodec.runtime.frame_lanes`; logged when that is fewer)."""
        from .. import runtime

        lanes = runtime.frame_lanes(self.lanes, width, height)
        if lanes < self.lanes:
            log.info("%dx%d frames: %d frames at once through the networks instead of %d, for memory "
                     "($VIDCODEC_LANES overrides)", width, height, lanes, self.lanes)
        return lanes

    def analyze(self, x: np.ndarray) -> np.ndarray:
        """(B,3,H,W) float32 in [0,1], H and W multiples of 16 → latents (B,C,H/16,W/16) float32."""
        if self.backend in ORT_BACKENDS:
            return self.ort.analyze(x)
        import torch

        with torch.inference_mode():
            return _numpy(self._run_modules()[0](self._input(x)).float())

    def analyze_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """One H×W×3 uint8 frame → its latent (C,H'/16,W'/16) float32, the same as
        ``analyze(to_tensor(rgb, downscale))[0]``. With torch the bytes go to the device as they are
        and are padded and scaled there: on a GPU a quarter of the bytes cross, and the CPU does no
        per-pixel work (at 1080p the float conversion alone is 5-15 ms of a core)."""
        if self.backend in ORT_BACKENDS:
            from ..codec.vaegan import to_tensor  # the codec module imports this one

            return self.analyze(to_tensor(rgb, self.downscale))[0]
        import torch

        from ..codec.vaegan import padded_size

        h, w = rgb.shape[:2]
        pw, ph = padded_size(w, h, self.downscale)
        with torch.inference_mode():
            x = torch.from_numpy(rgb).to(torch_device()).permute(2, 0, 1)[None].float().mul_(1.0 / 255.0)
            if (ph, pw) != (h, w):  # edge padding, as to_tensor's np.pad(mode="edge")
                x = torch.nn.functional.pad(x, (0, pw - w, 0, ph - h), mode="replicate")
            x = x.contiguous(memory_format=torch.channels_last)
            if self.backend == BF16:
                x = x.to(torch.bfloat16)
            return _numpy(self._run_modules()[0](x).float())[0]

    def picture(self, y: np.ndarray, width: int, height: int, colour: Correction | None = None) -> np.ndarray:
        """One decoded latent (1,C,h,w) → H×W×3 uint8 picture of the frame's size; ``colour``: the
        stream's colour correction for it (format 11.0), applied after the synthesis."""
        if self.backend not in ORT_BACKENDS:
            # Clamp, scale, round (half to even, as np.rint) and crop where the synthesis ran: on a GPU
            # a quarter of the bytes cross to the host and the CPU does no per-pixel work.
            import torch

            with torch.inference_mode():
                x = self._run_modules()[1](self._input(y))[0, :, :height, :width].float().clamp(0.0, 1.0)
                if colour is None:
                    x = x.mul_(255.0)
                else:
                    m, o = (torch.from_numpy(a).to(x.device) for a in colour.affine(255.0))
                    x = torch.einsum("ij,jhw->ihw", m, x).add_(o[:, None, None]).clamp_(0.0, 255.0)
                img = x.round_().to(torch.uint8).permute(1, 2, 0).contiguous()
            return img.cpu().numpy()
        from ..codec.vaegan import to_rgb  # the codec module imports this one

        return to_rgb(self.synthesize(y), width, height, colour)

    def synthesize(self, y: np.ndarray) -> np.ndarray:
        """Latents (B,C,h,w) float32 → images (B,3,16h,16w) float32, clamped to [0,1]."""
        if self.backend in ORT_BACKENDS:
            out = self.ort.synthesize(y)
        else:
            import torch

            with torch.inference_mode():
                out = _numpy(self._run_modules()[1](self._input(y)).float())
        return np.clip(out, 0.0, 1.0, out=out)

    def prepare_judge(self) -> None:
        """Start building :meth:`judge`'s synthesis on a thread (torch's import with it, about a second
        of a core), so that the first delta it judges seldom waits for it. Not a daemon: the
        interpreter's exit waits for it rather than stop it inside torch's import, and so does a fork
        (:func:`_finish_judges`)."""
        with self._judge_lock:
            if self._judge_thread is None:
                self._judge_thread = threading.Thread(target=self._build_judge, name="vidcodec-judge")
                _JUDGES.append(self._judge_thread)
                self._judge_thread.start()

    def judge(self, y: np.ndarray) -> np.ndarray:
        """Pictures (B,3,16h,16w) float32 in [0,1] of latents (B,C,h,w) that the encoder only compares
        with the frame (which of two deltas to code: ``FrameEncoder._fine_or_whole``), never outputs
        nor predicts from. With an ONNX Runtime backend on a CPU that runs bfloat16 natively
        (:func:`judges_in_bf16`), the synthesis in bfloat16 (torch's oneDNN): 17 against 32 ms a 640x368
        picture on this 2-core VM, and the same choice in 388 of 390 decisions on seven clips, none of
        the fine deltas' gain lost (runs/encoder-tuning/judge_bf16.py); elsewhere :meth:`synthesize`.
        The choice is the machine's, so an encoder's bytes do not depend on timing."""
        self.prepare_judge()
        assert self._judge_thread is not None
        self._judge_thread.join()
        assert self._judge is not None
        return self._judge(y)

    def _build_judge(self) -> None:
        run = self.synthesize
        try:
            if judges_in_bf16(self.backend):
                run = self._bf16_synthesis()
        except Exception as e:  # noqa: BLE001 - whatever failed, the float32 synthesis judges as well
            log.warning("the encoder judges its pictures in float32: the bfloat16 synthesis failed (%s)", e)
        self._judge = run

    def _bf16_synthesis(self) -> Callable[[np.ndarray], np.ndarray]:
        """The synthesis in bfloat16 on the CPU, channels-last, as a function of latents (B,C,h,w)."""
        import torch

        # a copy of the float32 module (built on first use), as the bf16 backend's own (_run_modules)
        net = copy.deepcopy(self.synthesis).to(torch.bfloat16, memory_format=torch.channels_last)

        def run(y: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                t = torch.from_numpy(y).contiguous(memory_format=torch.channels_last).to(torch.bfloat16)
                return net(t).float().clamp_(0.0, 1.0).contiguous().numpy()

        return run


def judges_in_bf16(backend: str) -> bool:
    """Whether :meth:`CodecModel.judge` runs the synthesis in bfloat16 (on the CPU) for a model on
    ``backend``: an ONNX Runtime backend without CUDA, on a CPU whose flags name bfloat16
    instructions and whose oneDNN uses them (torch is imported only past the first two checks)."""
    from .. import runtime

    if backend not in ORT_BACKENDS or not runtime.cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return False
    if runtime.CUDA in runtime.default_providers():
        return False
    return cpu_has_bf16()


# Judge threads started in this process (CodecModel.prepare_judge): a fork waits for them, so that no
# child starts with a lock of torch's import (or the dynamic loader's) held by a thread it lacks.
_JUDGES: list[threading.Thread] = []


def _finish_judges() -> None:
    for thread in _JUDGES:
        if thread is not threading.current_thread():
            thread.join()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_finish_judges)


@lru_cache(maxsize=1)
def torch_device() -> torch.device:
    """Where the torch backend runs: the first CUDA device when torch sees one, else the CPU.

    ``VIDCODEC_TORCH_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``) overrides the choice."""
    import torch

    name = os.environ.get("VIDCODEC_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"VIDCODEC_TORCH_DEVICE={name!r} is not a torch device ({e}): use cpu or cuda[:N]") from e
    if device.type not in ("cpu", "cuda"):  # mps, xpu, meta...: torch parses them, and fails later
        raise UsageError(f"VIDCODEC_TORCH_DEVICE={name}: vidcodec runs its networks on cpu or cuda[:N] only")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"VIDCODEC_TORCH_DEVICE={name}: torch sees no CUDA device here; use cpu")
        torch.backends.cudnn.benchmark = True  # frame sizes repeat: cuDNN picks its fastest kernels once
    return device


def _channels_last(x: np.ndarray, device: torch.device) -> torch.Tensor:
    import torch

    return torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.contiguous().cpu().numpy()


_WARMING: list[threading.Thread] = []


def warm_bf16() -> None:
    """Start importing torch on a thread where ``auto`` would encode in bfloat16 (:func:`vidcodec.runtime.
    bf16_pays`), for an input that makes the encoder wait (a pipe, a live URL): the 1.2-2 s import
    then overlaps that wait instead of delaying the first packet. Once per process; not a daemon (an
    exit waits for it rather than stop it inside the import), and a fork waits for it as for the
    judges (:func:`_finish_judges`)."""
    from .. import runtime

    if _WARMING or "torch" in sys.modules or not runtime.bf16_pays():
        return
    thread = threading.Thread(target=_import_torch, name="vidcodec-torch-import")
    _WARMING.append(thread)
    _JUDGES.append(thread)  # a fork waits for it (_finish_judges): a child must not inherit a half import
    thread.start()


def _import_torch() -> None:
    try:
        import torch  # noqa: F401
    except Exception as e:  # noqa: BLE001 - the encode's own import reports what is wrong
        log.debug("torch could not be imported ahead of the encode: %s", e)


def cpu_has_bf16() -> bool:
    """Whether torch's oneDNN runs bfloat16 natively on this CPU (AVX512-BF16 or AMX)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _bf16_usable() -> bool:
    """:func:`cpu_has_bf16`, False (logged) where torch cannot be imported or asked: ``auto`` then
    encodes as it would without AMX."""
    try:
        return cpu_has_bf16()
    except Exception as e:  # noqa: BLE001 - a broken torch install must not stop the ONNX Runtime encoder
        log.debug("bfloat16 not used: torch could not tell whether oneDNN runs it (%s)", e)
        return False


def check_bf16(device: torch.device) -> None:
    """UsageError unless ``device`` runs bfloat16 convolutions natively: a CUDA GPU, or a CPU whose
    oneDNN has bfloat16 instructions (AVX512-BF16 or AMX); elsewhere they are emulated, slower
    than float32."""
    if device.type == "cuda" or cpu_has_bf16():
        return
    raise UsageError("--backend bf16 needs a CPU with bfloat16 instructions (AVX512-BF16 or AMX) or a CUDA "
                     "GPU; this machine has neither (it would be slower than float32): use --backend ort")


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else a UsageError."""
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    return backend


@lru_cache(maxsize=8)
def _load(info: ModelInfo, backend: str, short: bool = False) -> CodecModel | GanModel:
    check_kind(info.meta, info.name)
    if info.meta.get("kind") == GAN_KIND:
        return _load_gan(info)
    return CodecModel(info, backend, short=short)


@lru_cache(maxsize=4)
def _load_gan(info: ModelInfo) -> GanModel:
    from .gan import GanModel

    return GanModel(info)  # torch only: one instance serves every backend


def load(name: str = DEFAULT_MODEL, sha256: str | None = None, backend: str = "ort",
         frames: int | None = None) -> CodecModel | GanModel:
    """Load an installed model by name (and hash) for a backend (``"ort"``, ``"torch"``, ``"bf16"``,
    ``"int8"``, or ``"auto"``: see :func:`resolve_backend`, to which ``frames``, the frames an encode
    will code where they are known, is passed); cached per process.

    VAE-GAN models give a :class:`CodecModel`; GAN-mode models (``"kind": "pgan"`` in their card)
    a :class:`vidcodec.models.gan.GanModel`, which always runs with torch."""
    short = check_backend(backend) == AUTO and frames is not None and frames < BF16_MIN_FRAMES
    return _load(find(name, sha256), backend, short)


def resolve_backend(backend: str, info: ModelInfo, *, short: bool = False, decode: bool = False) -> str:
    """``backend``, or for ``"auto"`` the one an encoder of model ``info`` is best served by, for a
    VAE-GAN model on a CPU without CUDA: ``"bf16"`` where the CPU has AMX for bfloat16 and oneDNN
    uses it (:func:`vidcodec.runtime.bf16_pays`: both networks 3-4x faster than in ONNX Runtime, the
    CLI encode 1.1-1.7x on eight of nine clips and 0.92x on a 100-frame one, which pays torch's
    import; fewer bits at equal MS-SSIM than the 8-bit analysis, docs/eval/bf16-auto); else
    ``"int8"`` on a CPU with 8-bit dot products (AVX512-VNNI or AVX-VNNI) for a model that ships its
    int8 ranges (recipe v2: the same PSNR and ~0.5 % more bits at equal MS-SSIM over 100 frames of
    three held-out clips, for ~30 % more frames a second); else ``"ort"``. ``short``: the encode is
    known to code fewer than :data:`BF16_MIN_FRAMES` frames, which never take bf16: they would not
    repay torch's import (a one-frame encode starts in about 0.6 s instead of 2). ``decode``: the
    backend a decoder is best served by, ``"bf16"`` on the same terms (the synthesis 2.8x as fast at
    1920x1080 and 1.4x at 640x272 through the CLI on this AMX VM, 0.003-0.03 dB lower PSNR, the
    pictures 52 dB from float32's) and also on a CPU with AVX512-BF16 but no AMX
    (:func:`vidcodec.runtime.bf16_decode_pays`; ``short`` then from a higher count of pixels,
    :func:`short_decode`), else ``"ort"`` (the 8-bit analysis is the encoder's only)."""
    if backend != AUTO:
        return backend
    from .. import runtime

    if info.meta.get("kind") == GAN_KIND:
        return "ort"
    if not short and (runtime.bf16_pays() or (decode and runtime.bf16_decode_pays())) and _bf16_usable():
        return BF16
    if decode or not runtime.int8_pays():
        return "ort"
    from ..int8 import existing_ranges, ranges_path

    try:
        existing_ranges(info.name, info.weights)
    except UsageError as e:
        if ranges_path(info.weights).exists():  # there, but unusable: say so once, then float32
            _warn_once(f"{e} (encoding in float32 meanwhile)")
        else:
            log.debug("%s: encoding in float32 (%s)", info.name, e)
        return "ort"
    return INT8
