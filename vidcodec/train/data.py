"""Training data: random crops from folders of photos and frames sampled from videos."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from ..errors import UsageError
from .config import DEFAULT_EXCLUDE

log = logging.getLogger(__name__)
T = TypeVar("T")

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_EXTS = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".y4m", ".m4v", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts", ".flv",
              ".wmv", ".3gp", ".ogv", ".nut", ".mxf"}


def load_image(path: Path, max_side: int = 1600) -> np.ndarray:
    """An RGB uint8 image, downscaled (area filter) so its longer side is at most ``max_side``."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path}")
    h, w = bgr.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        bgr = cv2.resize(bgr, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def picks(total: int, count: int) -> set[int]:
    """The indices of ``count`` frames (all if fewer) spread evenly over ``total``, first and last
    included."""
    return set(range(total)) if total <= count else set(np.linspace(0, total - 1, count).round().astype(int).tolist())


def sample_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """At most ``count`` RGB frames spread evenly over a video (decoded with PyAV); only those are kept
    in memory (a 3-minute film is thousands of frames). The frame count comes from the container when
    it has one; when decoding finds another count, the video is decoded again with the true one.
    (Until 2026-12-07 the VAE-GAN's data took every ⌊total/count⌋-th frame up to ``count``: the
    first half alone of a clip with under twice as many frames.)"""
    import av

    from ..media import ffmpeg_name

    total = -1  # not known yet
    frames: list[np.ndarray] = []
    for _ in range(2):
        with av.open(ffmpeg_name(path)) as c:
            stream = video_stream(c, path)
            if total < 0:
                total = stream.frames or 0
            chosen, frames, n = picks(total, count), [], 0
            for n, f in enumerate(c.decode(stream), 1):
                if n - 1 in chosen:
                    frames.append(f.to_ndarray(format="rgb24"))
        if n == total:
            break
        total = n
    return frames


def video_stream(container, path: Path):
    """The container's first video stream; ValueError (a file the data loader skips, with a warning)
    when it has none, as an audio-only .mp4 or .m4a."""
    if not container.streams.video:
        raise ValueError(f"{path.name} has no video stream")
    return container.streams.video[0]


def seeds(key: Sequence[int], count: int) -> list[int]:
    """``count`` seeds (non-negative, under 2**63, as torch.manual_seed takes them) drawn from ``key``
    (e.g. a run's seed and a step's number): what a training step seeds its generators with."""
    return [int(s) >> 1 for s in np.random.SeedSequence(list(key)).generate_state(count, dtype=np.uint64)]


class CropSampler:
    """Random square crops with random down-scaling and horizontal flips, from an in-memory pool."""

    def __init__(self, photos: list[np.ndarray], frames: list[np.ndarray], size: int, seed: int, *,
                 warn_small: bool = False) -> None:
        if not photos and not frames:
            raise ValueError("no training images: give folders with photos or videos")
        self.pools = [p for p in (photos, frames) if p]
        tiny = sum(min(img.shape[:2]) * 2 < size for pool in self.pools for img in pool) if warn_small else 0
        if tiny:  # blown up more than 2x, they teach the model flat, blurred patches
            log.warning("%d of the training pictures are under half the crop side (%d pixels): they are enlarged "
                        "to it; give larger pictures or a smaller --crop", tiny, size)
        self.size = size
        self.rng = np.random.default_rng(seed)

    def crop(self) -> np.ndarray:
        pool = self.pools[self.rng.integers(len(self.pools))]
        img = pool[self.rng.integers(len(pool))]
        h, w = img.shape[:2]
        small = min(h, w)
        if small < self.size:  # tiny frames (e.g. QCIF): upscale just enough
            s = self.size / small
            img = cv2.resize(img, (max(self.size, round(w * s)), max(self.size, round(h * s))))
            h, w = img.shape[:2]
            small = min(h, w)
        # Crop side from 1x to 3x the output size (log-uniform): photos are seen at video-like scales.
        hi = min(small, 3 * self.size)
        side = round(float(np.exp(self.rng.uniform(np.log(self.size), np.log(hi))))) if hi > self.size else self.size
        y = self.rng.integers(0, h - side + 1)
        x = self.rng.integers(0, w - side + 1)
        patch = img[y : y + side, x : x + side]
        if side != self.size:
            patch = cv2.resize(patch, (self.size, self.size), interpolation=cv2.INTER_AREA)
        if self.rng.random() < 0.5:
            patch = patch[:, ::-1]
        return patch

    def crops(self, n: int) -> np.ndarray:
        """(n, size, size, 3) uint8."""
        return np.stack([self.crop() for _ in range(n)])

    def batch(self, n: int) -> np.ndarray:
        """(n, 3, size, size) float32 in [0, 1]."""
        return np.ascontiguousarray(self.crops(n).transpose(0, 3, 1, 2), dtype=np.float32) / 255.0

    def fork(self, seed: int | Sequence[int]) -> CropSampler:
        """Another sampler over the same images (shared, not copied) with its own random stream
        (``seed``: an integer, or several, as numpy's ``default_rng`` takes them)."""
        other = object.__new__(CropSampler)
        other.pools, other.size, other.rng = self.pools, self.size, np.random.default_rng(seed)
        return other


def expand_sources(sources: list[Path], run: Path | None = None) -> list[Path]:
    """Files named directly, and every file under the folders named (sorted per folder) but those in the
    training run's own folder ``run`` (its plot, or a packaged model, would become training data on
    resuming when the run is written inside a data folder); a source that does not exist is a UsageError."""
    own = run.resolve() if run is not None else None
    files: list[Path] = []
    for src in sources:
        if not src.exists():
            where = "" if src.is_absolute() else f" (a relative path, taken from the current folder {Path.cwd()}: a " \
                "resumed run's settings keep --data as it was given, so resume from that folder or give --data)"
            raise UsageError(f"training data {src} does not exist{where}")
        if not src.is_dir():
            files.append(src)
            continue
        found = sorted(p for p in src.rglob("*") if p.is_file())
        # (data given inside the run's folder, or a run folder above the data, is read as given)
        skip = own is not None and own != src.resolve() and own.is_relative_to(src.resolve())
        kept = [p for p in found if not (skip and p.resolve().is_relative_to(own))]
        if len(kept) < len(found):
            log.info("not reading the run's own folder %s as training data", run)
        files.extend(kept)
    return files


def kind_of(path: Path, named: set[Path]) -> str | None:
    """"image" or "video" by the file's extension; a file named directly (in ``named``) whose extension
    is neither is tried as a video (PyAV reads far more formats than the list); None: skip it."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTS:
        return "image"
    return "video" if ext in VIDEO_EXTS or path in named else None


def readable(path: Path, read: Callable[[Path], T]) -> T | None:
    """``read(path)``, or None with a warning when the file cannot be read (a damaged image or
    video should not end a long training run)."""
    try:
        import av

        errors: tuple[type[BaseException], ...] = (ValueError, OSError, av.FFmpegError)
    except ImportError:  # a machine without PyAV (the GPU training pack's frames are images)
        errors = (ValueError, OSError)
    try:
        return read(path)
    except errors as e:
        # an OSError's (FFmpeg's) own words, without its errno and the path said already
        log.warning("skipping %s: it cannot be read (%s)", path, getattr(e, "strerror", None) or e)
        return None


def no_media(sources: list[Path]) -> UsageError:
    return UsageError(f"no readable images or videos in {', '.join(map(str, sources))}: give folders or files "
                      f"of photos ({', '.join(sorted(IMAGE_EXTS))}) or videos ({', '.join(sorted(VIDEO_EXTS))})")


def names(entry: str, f: Path) -> bool:
    """Whether an ``--exclude`` entry names ``f``: its name (``clip.mp4``), its name without the
    extension (``clip``), or a path to it (``data/videos/clip.mp4``)."""
    if entry in (f.name, f.stem):
        return True
    if "/" not in entry and os.sep not in entry:
        return False
    try:
        return Path(entry).samefile(f)
    except OSError:  # no such file
        return False


def excluded_by(f: Path, exclude: set[str]) -> str | None:
    """An ``exclude`` entry that leaves ``f`` out (:func:`names`); None when none does."""
    return next((entry for entry in exclude if names(entry, f)), None)


def load_pool(
    sources: list[Path], exclude: set[str], frames_per_video: int, run: Path | None = None
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Photos and sampled video frames from files or folders, skipping those ``exclude`` names (by file
    name, name without its extension, or path: :func:`excluded_by`) and the run's own folder ``run``."""
    photos: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    used: list[str] = []
    held_out: list[str] = []
    matched: set[str] = set()
    for f in expand_sources(sources, run):
        if hits := {entry for entry in exclude if names(entry, f)}:
            held_out.append(f.name)
            matched |= hits  # every entry that names it
            continue
        kind = kind_of(f, set(sources))
        if kind == "image":
            image = readable(f, load_image)
            if image is None:
                continue
            photos.append(image)
        elif kind == "video":
            sampled = readable(f, lambda p: sample_video_frames(p, frames_per_video))
            if not sampled:
                continue
            frames.extend(sampled)
        else:
            continue
        used.append(str(f))
    unmatched = sorted(exclude - matched - set(DEFAULT_EXCLUDE))
    if unmatched:  # a clip meant to stay out of training would otherwise be trained on without a word
        log.warning("--exclude %s: no file of the data matches (an entry is a file name, e.g. clip.mp4, a name "
                    "without its extension, or a path)", " ".join(unmatched))
    if held_out:  # the shipped samples and the held-out clip by default: said, not skipped without a word
        named = any(src.is_file() and excluded_by(src, exclude) for src in sources)  # given by name: a warning
        log.log(logging.WARNING if named else logging.INFO, "not training on %s: held out by --exclude (give "
                "--exclude with other names, or none, to train on them)", ", ".join(sorted(set(held_out))))
    if not used:
        if held_out:
            raise UsageError(f"nothing to train on: every file given is held out by --exclude "
                             f"({', '.join(sorted(set(held_out)))}); give other data, or --exclude with other names")
        raise no_media(sources)
    log.info("data: %d photos, %d video frames from %d files", len(photos), len(frames), len(used))
    return photos, frames, used
