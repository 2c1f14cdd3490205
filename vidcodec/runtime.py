"""ONNX Runtime as the inference path: export the transforms, cache them, run them, check them.

A model's analysis and synthesis transforms are exported once to ONNX (opset 17, dynamic batch,
height and width) into a cache folder keyed by the SHA-256 of the weights::

    $VIDCODEC_CACHE/onnx/<sha256>/{analysis,synthesis}.onnx + manifest.json
    ($VIDCODEC_CACHE defaults to $XDG_CACHE_HOME/vidcodec, else ~/.cache/vidcodec)

Every file is written to a temporary name and renamed into place; the manifest, written last,
holds each file's SHA-256, so a partial or damaged cache is found and exported again. If the
cache folder cannot be written, a per-user folder in the temporary directory is used instead
(with a warning).

Sessions use CUDA then CPU when ONNX Runtime was built with CUDA *and* the CUDA libraries and a
device are really there (probed once, quietly); otherwise the CUDA provider is never asked for,
so a CPU-only machine sees no provider-loading errors. ONNX Runtime's own log is set to errors
only, and its telemetry off (unless ``ORT_DISABLE_TELEMETRY`` is set). On CPU, each transform has
one single-threaded session per physical core (``VIDCODEC_THREADS`` or ``OMP_NUM_THREADS`` override
the count, ``VIDCODEC_LANES`` how many sessions share those threads), so that the encoder and
decoder run that many frames through the network at once; sessions run sequentially, with one
inter-op thread and no spin-waiting.

The integer symbols a stream carries fix what any decoder reconstructs, so a stream encoded with
one backend (ONNX Runtime or torch) decodes with the other; only the float arithmetic of the
transforms differs, by about 1e-6.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import itertools
import json
import logging
import os
import queue
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .models.zoo import CodecModel

log = logging.getLogger("vidcodec")

OPSET = 17
EXPORT_VERSION = 1  # bump when the exported graphs change for the same weights: old caches are redone
PARTS = ("analysis", "synthesis")
ANALYSIS_IO = ("x", "y")  # the analysis graph's input and output names
MANIFEST = "manifest.json"
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
ORT_LOG_ERRORS_ONLY = 3  # ONNX Runtime severities: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
_ORT_LOG_SILENT = 4

# check_export's pass marks: far looser than what a correct export gives (~1e-6, > 100 dB, ~0).
CHECK_LATENT_TOL = 1e-3
CHECK_PSNR_DB = 50.0
CHECK_SYMBOL_MISMATCH = 1e-3

_lock = threading.Lock()

# ONNX Runtime's telemetry stays off unless the user says otherwise: besides collecting usage
# data, it prints a warning when onnxruntime is imported wherever the home folder is not writable.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


# ------------------------------------------------------------------------------------------ export


def _export_part(module: Any, example: Any, names: tuple[str, str], axes: dict[str, dict[int, str]]) -> bytes:
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(module, (example,), buf, input_names=[names[0]], output_names=[names[1]],
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    return buf.getvalue()


def _with_metadata(data: bytes, model: CodecModel, part: str) -> bytes:
    import onnx

    proto = onnx.load_from_string(data)
    proto.doc_string = f"vidcodec {model.name} {part} transform"
    for key, value in (("vidcodec.model", model.name), ("vidcodec.weights_sha256", model.sha256),
                       ("vidcodec.part", part), ("vidcodec.export_version", str(EXPORT_VERSION))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def export_onnx(model: CodecModel, out_dir: Path) -> dict[str, Path]:
    """Export ``model``'s analysis and synthesis transforms to ``out_dir``/{analysis,synthesis}.onnx.

    Opset 17, dynamic batch, height and width (multiples of 16 for the analysis input); the
    files carry the model's name and weights hash as metadata, and ``manifest.json`` beside them
    records each file's SHA-256. Every file is replaced atomically. Returns {part: path}.
    """
    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    c = model.latent_channels
    specs = {
        "analysis": (model.analysis, torch.zeros(1, 3, 64, 64), ANALYSIS_IO,
                     {"x": {0: "batch", 2: "height", 3: "width"},
                      "y": {0: "batch", 2: "latent_height", 3: "latent_width"}}),
        "synthesis": (model.synthesis, torch.zeros(1, c, 4, 4), ("y", "x_hat"),
                      {"y": {0: "batch", 2: "latent_height", 3: "latent_width"},
                       "x_hat": {0: "batch", 2: "height", 3: "width"}}),
    }
    paths, hashes = {}, {}
    for part in PARTS:
        data = _with_metadata(_export_part(*specs[part]), model, part)
        paths[part] = out_dir / f"{part}.onnx"
        _atomic_write(paths[part], data)
        hashes[paths[part].name] = hashlib.sha256(data).hexdigest()
    manifest = {"format": "vidcodec-onnx", "export_version": EXPORT_VERSION, "model": model.name,
                "weights_sha256": model.sha256, "opset": OPSET, "torch": torch.__version__, "files": hashes}
    _atomic_write(out_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return paths


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_file_hash(path: Path) -> str:
    """The SHA-256 that the manifest beside an exported graph records for it (hex; the export was
    verified against it when :func:`cached_export` returned its path)."""
    return json.loads((path.parent / MANIFEST).read_text())["files"][path.name]


def verified_export(folder: Path, sha256: str) -> dict[str, Path] | None:
    """The export in ``folder`` if its manifest names these weights and every file matches; else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("export_version") != EXPORT_VERSION or manifest.get("weights_sha256") != sha256:
            return None
        paths = {part: folder / f"{part}.onnx" for part in PARTS}
        if any(_sha256_file(p) != manifest["files"].get(p.name) for p in paths.values()):
            return None
        return paths
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# ------------------------------------------------------------------------------------------- cache


def cache_root() -> Path:
    """``$VIDCODEC_CACHE``, else ``$XDG_CACHE_HOME/vidcodec`` (an absolute path: the XDG specification
    has relative ones ignored), else ``~/.cache/vidcodec``."""
    if os.environ.get("VIDCODEC_CACHE"):
        return Path(os.environ["VIDCODEC_CACHE"])
    if os.path.isabs(os.environ.get("XDG_CACHE_HOME", "")):
        return Path(os.environ["XDG_CACHE_HOME"]) / "vidcodec"
    return _home() / ".cache" / "vidcodec"


def _home() -> Path:
    """``$HOME`` when it is an absolute path, else the user's home from the password database (an empty
    HOME is not the root folder, as ``Path.home()`` takes it)."""
    if os.name != "posix":  # Windows: USERPROFILE, as Path.home() takes it
        return Path.home()
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return Path(home)
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):  # Windows; a user the database does not know
        return Path.home()


def onnx_cache_dir(sha256: str) -> Path:
    """Where the ONNX export of the weights with this SHA-256 is cached."""
    return cache_root() / "onnx" / sha256


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False


def _fallback_root() -> Path:
    """A per-user folder in the temporary directory (a fresh one if that name is someone else's)."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = Path(tempfile.gettempdir()) / f"vidcodec-{uid if uid is not None else 'cache'}"
    try:
        base.mkdir(mode=0o700, exist_ok=True)
        if uid is not None and base.stat().st_uid != uid:
            raise PermissionError(f"{base} belongs to another user")
    except OSError:
        base = Path(tempfile.mkdtemp(prefix="vidcodec-"))
    return base


def _writable_or_fallback(folder: Path, sha256: str) -> Path:
    """``folder`` (a model's folder of the ONNX cache) when it can be written, else the same folder
    under :func:`_fallback_root`, with a warning."""
    if _writable(folder):
        return folder
    fallback = _fallback_root() / "onnx" / sha256
    log.warning("cannot write the ONNX cache %s; using %s instead (set VIDCODEC_CACHE to a "
                "writable folder to keep it)", folder, fallback)
    return fallback


def cached_export(model: CodecModel, *, refresh: bool = False) -> dict[str, Path]:
    """The model's ONNX files from the cache, exported there first if missing, stale or damaged."""
    with _lock:
        folder = onnx_cache_dir(model.sha256)
        if not refresh and (paths := verified_export(folder, model.sha256)):
            return paths
        if (own := _writable_or_fallback(folder, model.sha256)) != folder:
            folder = own
            if not refresh and (paths := verified_export(folder, model.sha256)):
                return paths
        log.debug("exporting %s (%s) to ONNX in %s", model.name, model.sha256[:12], folder)
        return export_onnx(model, folder)


# --------------------------------------------------------------------------------------- providers


def select_providers(available: Sequence[str], cuda_loads: Callable[[], bool]) -> list[str]:
    """Execution providers to ask for, best first.

    CUDA then CPU when ONNX Runtime offers CUDA and ``cuda_loads()`` (called only then) says its
    libraries load and a device is there; CPU alone otherwise. TensorRT and others are not used.
    """
    if CUDA in available and cuda_loads():
        return [CUDA, CPU]
    return [CPU]


def _ort():
    """onnxruntime, with its default logger set to errors only (once)."""
    import onnxruntime

    if not getattr(_ort, "_quiet", False):
        onnxruntime.set_default_logger_severity(ORT_LOG_ERRORS_ONLY)
        _ort._quiet = True
    return onnxruntime


def _cuda_device_present() -> bool:
    """Whether the CUDA driver loads and reports at least one device (quiet, no ONNX Runtime)."""
    import ctypes

    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"]
    for name in names:
        try:
            cuda = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        try:
            return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
        except AttributeError:
            return False
    return False


def _identity_model() -> bytes:
    from onnx import TensorProto, helper

    io_ = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1]) for n in ("x", "y")]
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", io_[:1], io_[1:])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8).SerializeToString()


@lru_cache(maxsize=1)
def cuda_loads() -> bool:
    """Whether ONNX Runtime's CUDA provider really starts here: driver, device, CUDA and cuDNN libraries.

    Probed once per process with ONNX Runtime's log silenced; nothing is printed either way.
    """
    if not _cuda_device_present():
        return False
    ort = _ort()
    try:
        ort.set_default_logger_severity(_ORT_LOG_SILENT)
        if "torch" not in sys.modules and hasattr(ort, "preload_dlls"):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
                ort.preload_dlls()  # CUDA/cuDNN from the nvidia-* wheels (torch loads them itself)
        so = ort.SessionOptions()
        so.log_severity_level = _ORT_LOG_SILENT
        session = ort.InferenceSession(_identity_model(), so, providers=[CUDA, CPU])
        return CUDA in session.get_providers()
    except Exception:  # noqa: BLE001 - any failure means: no CUDA
        return False
    finally:
        ort.set_default_logger_severity(ORT_LOG_ERRORS_ONLY)


def default_providers() -> list[str]:
    """The providers sessions use on this machine (see :func:`select_providers`)."""
    return select_providers(_ort().get_available_providers(), cuda_loads)


def cpuinfo(field: str) -> str | None:
    """The first value of ``field`` ("model name", "flags") in Linux's /proc/cpuinfo; None elsewhere,
    when unreadable or absent."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere or when unreadable)."""
    return set((cpuinfo("flags") or "").split())


INT8_ORT = (1, 31)  # the first ONNX Runtime whose quantize_static builds a graph from a calibration cache


def ort_version() -> tuple[int, ...]:
    """ONNX Runtime's version as numbers (release part only)."""
    nums = []
    for part in _ort().__version__.split("."):
        digits = "".join(itertools.takewhile(str.isdigit, part))
        if not digits:
            break
        nums.append(int(digits))
    return tuple(nums)


@functools.lru_cache(maxsize=1)
def int8_pays() -> bool:
    """Whether the encoder's 8-bit analysis is worth taking by default here: ONNX Runtime (at least
    :data:`INT8_ORT`) runs on the CPU (no CUDA) and the CPU has 8-bit dot products (AVX512-VNNI or
    AVX-VNNI), without which ONNX Runtime's integer convolutions gain less and may saturate."""
    return (ort_version() >= INT8_ORT and CUDA not in default_providers()
            and bool(cpu_flags() & {"avx512_vnni", "avx_vnni"}))


@functools.lru_cache(maxsize=1)
def bf16_pays() -> bool:
    """Whether the encoder's networks are worth running in bfloat16 by default here (``--backend
    bf16``, torch's oneDNN): no CUDA, and a CPU with AMX tiles for bfloat16 (Intel Xeon from
    Sapphire Rapids on). On the 2-core VM's Xeon (model 207, 2026-12-05) the 640x368 analysis took
    9.7 ms a frame on one thread in bfloat16 against 30.7 in ONNX Runtime's 8 bits, the synthesis 7.9
    against 30 in float32; where bfloat16 runs on AVX512-BF16 alone (an AMD EPYC VM, 2026-12-04)
    the analysis took 30 ms, no less than in 8 bits, and torch's import (1.2 s) is not repaid."""
    return CUDA not in default_providers() and "amx_bf16" in cpu_flags()


@functools.lru_cache(maxsize=1)
def bf16_decode_pays() -> bool:
    """Whether a long decode (:data:`vidcodec.models.zoo.BF16_MIN_DECODE_PIXELS_AVX512` pixels or
    more) is worth running in bfloat16 here: no CUDA, and a CPU with bfloat16 instructions, AMX or
    AVX512-BF16 alone. On the AMD EPYC VM without AMX (2026-12-07) a 640x368 synthesis took 21 ms
    of a core in bfloat16 against 42 in ONNX Runtime, and the CLI decoded 1200 frames of 480x352
    1.31x as fast (55.6 / 61.9 against 42.6 / 47.1 fps), 600 frames 1.16-1.21x, 60 frames of 1920x1080
    1.5x; 250-300 frames of 640x360 no faster (torch's import)."""
    return CUDA not in default_providers() and bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def judge_pays() -> bool:
    """Whether the encoder's ``auto`` preset is ``medium`` here (:func:`vidcodec.codec.resolve_preset`):
    whether the two pictures that weigh each moving delta (``FrameEncoder._fine_or_whole``) are cheap
    enough for a 2-core machine to encode 640x360 in real time with them. They are on a CUDA GPU and
    on a CPU with AMX (bfloat16, :func:`bf16_pays`: 17 ms a 640x368 picture on one thread, and the
    networks 3x as fast as elsewhere); with AVX512-BF16 alone (the AMD EPYC VM, 2026-12-07) a picture
    took 21 ms on one thread and the analysis 30 ms, and medium's two pictures a delta made the
    encode take 1.85x the CPU time of fast (bikes, 250 frames at 640x360: 25.7 and 29.2 s of CPU
    against 14.0 and 15.8)."""
    return CUDA in default_providers() or bf16_pays()


def physical_cores() -> int:
    """Physical cores this process may run on (logical CPUs where the topology is unknown), at most
    the CPUs its cgroup's quota gives it (:func:`cgroup_cpus`)."""
    cpus = _usable_cpu_ids()
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            cores = set(cpus)
            break
    return max(1, min(len(cores), cgroup_cpus() or len(cores)))


CGROUP_MOUNT = "/sys/fs/cgroup"
_NO_LIMIT = 1 << 60  # cgroup v1 writes "no memory limit" as a page-rounded 2**63 - 1


def _cgroup_dirs(controller: str) -> list[Path]:
    """The folders whose ``controller`` ("cpu", "memory") limits hold for this process: its cgroup
    and each one above it, in cgroup v2 (``0::/path`` in /proc/self/cgroup, mounted at
    :data:`CGROUP_MOUNT`) and in v1 (a hierarchy per controller, at ``CGROUP_MOUNT/<controller>``).
    In a container without its own cgroup namespace the path names folders outside its view: those
    are not there, and the mount's root, the container's own cgroup, is read in any case."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except (OSError, ValueError):  # (UnicodeDecodeError: a cgroup named in bytes that are not UTF-8)
        return []
    dirs: list[Path] = []
    for line in lines:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        hierarchy, controllers, path = fields
        if hierarchy == "0" and controllers == "":
            mount = CGROUP_MOUNT
        elif controller in controllers.split(","):
            mount = f"{CGROUP_MOUNT}/{controller}"
        else:
            continue
        parts = [p for p in path.split("/") if p]
        dirs += [Path("/".join([mount, *parts[:n]])) for n in range(len(parts), -1, -1)]
    return dirs


def _cgroup_read(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text().strip()
    except (OSError, ValueError):
        return None


CGROUP_CPUS_TTL_S = 5.0  # how long a read of the CPU quota stands (the learned prediction asks each frame)
_cgroup_cpus_read: list[tuple[float, int | None]] = []  # (when, what): the last read


def forget_cgroup_cpus() -> None:
    """Read the CPU quota again at the next ask (tests that make up their cgroup files)."""
    _cgroup_cpus_read.clear()


def cgroup_cpus() -> int | None:
    """The CPUs this process's cgroup quota gives it, rounded up (a container's ``--cpus 1.5``: 2;
    the smallest quota of its cgroup and those above it), None without a quota. The affinity
    (:func:`usable_cpus`) does not show a quota: in a container limited to 2 CPUs of a 64-core
    machine, threads for 64 cores would each run a thirty-second of the time. A read stands for
    :data:`CGROUP_CPUS_TTL_S` (it costs about 0.1 ms, and the learned prediction asks once a frame)."""
    now = time.monotonic()
    if _cgroup_cpus_read and now - _cgroup_cpus_read[0][0] < CGROUP_CPUS_TTL_S:
        return _cgroup_cpus_read[0][1]
    cpus = _read_cgroup_cpus()
    _cgroup_cpus_read[:] = [(now, cpus)]
    return cpus


def _read_cgroup_cpus() -> int | None:
    best: float | None = None
    for folder in _cgroup_dirs("cpu"):
        v2 = _cgroup_read(folder, "cpu.max")  # "max 100000" or "150000 100000"
        if v2 is not None:
            quota, _, period = v2.partition(" ")
        else:
            quota, period = _cgroup_read(folder, "cpu.cfs_quota_us") or "", _cgroup_read(folder, "cpu.cfs_period_us") or ""
        try:
            cpus = int(quota) / int(period)
        except (ValueError, ZeroDivisionError):  # "max", "-1" (no quota), nothing there
            continue
        if cpus > 0:
            best = cpus if best is None else min(best, cpus)
    return None if best is None else max(1, -int(-best // 1))


def cgroup_available_memory() -> int | None:
    """Bytes this process's cgroup may still take before its memory limit (the smallest of its
    cgroup's and those above it: limit less usage, page cache that can be dropped not counted as
    used), None without a limit. /proc/meminfo shows the machine's memory, not a container's limit,
    whose overrun the kernel answers by killing the process."""
    best: int | None = None
    for folder in _cgroup_dirs("memory"):
        for limit_file, usage_file, cache_key in (("memory.max", "memory.current", "inactive_file"),
                                                  ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")):
            try:
                limit = int(_cgroup_read(folder, limit_file) or "")  # "max": no limit
                usage = int(_cgroup_read(folder, usage_file) or "")
            except ValueError:
                continue
            if limit >= _NO_LIMIT:
                continue
            cache = 0
            for line in (_cgroup_read(folder, "memory.stat") or "").splitlines():
                key, _, value = line.partition(" ")
                if key == cache_key and value.isdecimal():
                    cache = int(value)
            free = max(0, limit - max(0, usage - cache))
            best = free if best is None else min(best, free)
    return best


def default_threads() -> int:
    """Intra-op threads: ``$VIDCODEC_THREADS``, else ``$OMP_NUM_THREADS``, else the physical cores."""
    for var in ("VIDCODEC_THREADS", "OMP_NUM_THREADS"):
        value = _env_count(var, warn=var.startswith("VIDCODEC_"))  # OpenMP's own syntax is wider ("4,2")
        if value is not None:
            return value
    return physical_cores()


_warned_env: set[str] = set()
MAX_THREADS_PER_CPU = 4  # a thread or lane count from the environment is capped at this many a usable core


def _usable_cpu_ids() -> list[int]:
    """The logical CPUs this process may run on (its affinity: taskset, a container's cpuset), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def usable_cpus() -> int:
    """How many logical cores this process may run on (:func:`_usable_cpu_ids`), at most what its
    cgroup's quota gives it (:func:`cgroup_cpus`)."""
    cpus = len(_usable_cpu_ids())
    return max(1, min(cpus, cgroup_cpus() or cpus))


def capped_count(var: str, value: int) -> int:
    """A thread or lane count ``value`` that ``$var`` asks for, capped at :data:`MAX_THREADS_PER_CPU` a
    logical core this process may use (said once): 100000 made 32000 threads and 17 GB, and 3e9
    overflowed ONNX Runtime's int."""
    most = MAX_THREADS_PER_CPU * usable_cpus()
    if value <= most:
        return value
    if var not in _warned_env:
        _warned_env.add(var)
        log.warning("%s=%s is more than %d a logical core this process may use: taking %d", var, value,
                    MAX_THREADS_PER_CPU, most)
    return most


def _env_count(var: str, warn: bool = True) -> int | None:
    """``$var`` as a whole number above 0, else None; a value that is set and is not one is
    reported once (``warn``), not ignored without a word."""
    value = os.environ.get(var, "").strip()
    if value.isdecimal() and int(value) > 0:  # not isdigit: "²" is a digit that int() refuses
        return capped_count(var, int(value))
    if value and warn and var not in _warned_env:
        _warned_env.add(var)
        log.warning("%s=%r is not a whole number above 0: ignored", var, value)
    return None


def session_options(threads: int | None = None):
    """Session options: ``threads`` intra-op (default :func:`default_threads`), 1 inter-op, sequential, no spinning."""
    ort = _ort()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads or default_threads()
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = ORT_LOG_ERRORS_ONLY
    # No CPU memory arena: the arena keeps each session's peak for good, once per lane. Measured on
    # the 2-core VM (3 frames of 3840x2160, same bytes either way): encode peak RSS 9.1 -> 5.1 GB
    # (two lanes), 9.2 -> 5.8 GB (three), decode 5.2 -> 4.2 GB; 640x272 end to end no slower
    # (150 frames of bikes, medians of 3: encode 4.55 -> 4.36 s, decode 2.44 -> 2.29 s).
    so.enable_cpu_mem_arena = False
    # Idle pool threads sleep rather than spin: frames alternate between the transforms and the
    # entropy coder in Python, and on a busy 2-core machine spinning was 15-30 % slower.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


# ----------------------------------------------------------------------------------------- running


def cap_torch_threads() -> None:
    """torch's intra-op threads cut to :func:`default_threads` where torch took more: torch counts
    the machine's cores, blind to a cgroup's CPU quota and to ``$VIDCODEC_THREADS``. Never raised
    (a caller's own smaller setting stays)."""
    import torch

    threads = default_threads()
    if torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def default_lanes(providers: Sequence[str], threads: int | None = None) -> int:
    """Sessions of a transform that run frames side by side: ``$VIDCODEC_LANES``, else on CPU one
    single-threaded session per thread (:func:`default_threads`), else (CUDA) one.

    On this project's 2-core VM, two one-thread sessions each running a 640×360 synthesis at once
    gave 36 ms per frame, where one two-thread session took 55-60 ms per frame: a network's
    per-layer threads wait on each other, whole frames do not."""
    return _env_lanes() or (1 if CUDA in providers else (threads or default_threads()))


def _env_lanes() -> int | None:
    """The lanes ``$VIDCODEC_LANES`` sets (a whole number above 0), else None."""
    return _env_count("VIDCODEC_LANES")


# Working memory of one frame in flight through a transform, in bytes per pixel of the frame.
# Measured on the 2-core VM (2026-12-04; 12 frames of 3840x2160 through the CLI, VIDCODEC_LANES 1,
# 2, 4, peak RSS): each lane beyond the first added 2.0 GB to an encode (5.2 / 7.1 / 11.2 GB) and
# 2.3 GB to a decode (3.6 / 6.6 / 10.6 GB), 240-280 bytes a pixel; the same bytes either way.
LANE_BYTES_PER_PIXEL = 300
MEMORY_SHARE = 0.5  # of the memory available when a stream starts, what its lanes may take


def available_memory() -> int | None:
    """Bytes the kernel reports available for new work (``MemAvailable``), or fewer where this
    process's cgroup limit leaves fewer (:func:`cgroup_available_memory`); None where neither is known."""
    machine = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                machine = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    known = [m for m in (machine, cgroup_available_memory()) if m is not None]
    return min(known) if known else None


def frame_lanes(lanes: int, width: int, height: int, available: int | None = None) -> int:
    """``lanes`` (see :func:`default_lanes`) cut to what ``MEMORY_SHARE`` of the available memory
    (``available`` bytes, default :func:`available_memory`) holds at ``LANE_BYTES_PER_PIXEL`` for
    frames of ``width`` × ``height``, at least 1. A 3840x2160 frame takes about 2.5 GB a lane, so on
    a machine with many cores one lane per core would run out of memory; where the memory is unknown,
    or ``$VIDCODEC_LANES`` sets the lanes, they stay as they are."""
    if lanes <= 1 or _env_lanes() is not None:
        return max(1, lanes)
    free = available_memory() if available is None else available
    if free is None:
        return lanes
    return max(1, min(lanes, int(MEMORY_SHARE * free) // (LANE_BYTES_PER_PIXEL * width * height)))


class _Lanes:
    """Up to ``count`` ONNX Runtime sessions of one model file: the first made at once (a file ONNX
    Runtime cannot load fails there), the others when calls overlap. :meth:`session` lends a free
    one, so up to ``count`` threads run the transform at once."""

    def __init__(self, make: Callable[[], Any], count: int) -> None:
        self._make, self.count = make, count
        self._lock = threading.Lock()
        self.first = make()
        self._made = 1
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._free.put(self.first)

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        try:
            s = self._free.get_nowait()
        except queue.Empty:
            with self._lock:
                fresh = self._made < self.count
                self._made += fresh
            s = self._make() if fresh else self._free.get()
        try:
            yield s
        finally:
            self._free.put(s)


class OrtTransforms:
    """ONNX Runtime sessions of a model's analysis and synthesis transforms.

    Each transform has ``lanes`` sessions (see :func:`default_lanes`) sharing ``threads`` intra-op
    threads; :meth:`run` is safe to call from several threads at once, and up to ``lanes`` calls
    run side by side (the decoder synthesizes that many frames at once). Sessions beyond the first
    are made when first needed. ``io_binding`` (default: on when the session runs on CUDA) binds the
    numpy input and a CPU output through an IOBinding; keeping outputs on the device between calls
    is future work.
    """

    def __init__(self, paths: dict[str, Path], *, providers: list[str] | None = None,
                 threads: int | None = None, io_binding: bool | None = None, lanes: int | None = None) -> None:
        ort = _ort()
        self.providers = list(providers) if providers is not None else default_providers()
        threads = threads or default_threads()
        self.lanes = max(1, lanes if lanes is not None else default_lanes(self.providers, threads))
        so = session_options(max(1, threads // self.lanes))
        self._lanes = {part: _Lanes(lambda part=part: ort.InferenceSession(str(paths[part]), so,
                                                                           providers=self.providers), self.lanes)
                       for part in PARTS}
        self.sessions = {part: lanes.first for part, lanes in self._lanes.items()}
        self.io_binding = (CUDA in self.sessions["analysis"].get_providers()) if io_binding is None else io_binding
        self._names = {part: (s.get_inputs()[0].name, s.get_outputs()[0].name) for part, s in self.sessions.items()}

    def run(self, part: str, x: np.ndarray) -> np.ndarray:
        """Run one transform on a float32 (B,C,H,W) array (thread-safe)."""
        with self._lanes[part].session() as session:
            return self._run(session, part, np.ascontiguousarray(x, dtype=np.float32))

    def _run(self, session: Any, part: str, x: np.ndarray) -> np.ndarray:
        name_in, name_out = self._names[part]
        if not self.io_binding:
            return session.run([name_out], {name_in: x})[0]
        binding = session.io_binding()
        binding.bind_cpu_input(name_in, x)
        binding.bind_output(name_out, "cpu")
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def analyze(self, x: np.ndarray) -> np.ndarray:
        return self.run("analysis", x)

    def synthesize(self, y: np.ndarray) -> np.ndarray:
        """Synthesis output, not clamped (the model clamps)."""
        return self.run("synthesis", y)


def cached_int8_analysis(model: CodecModel, paths: dict[str, Path], *, refresh: bool = False) -> Path:
    """The 8-bit analysis graph of ``model`` (:mod:`vidcodec.int8`) beside its float export ``paths``,
    built there first if missing (its name carries the float graph's and the ranges' hashes)."""
    from . import int8

    ranges = int8.existing_ranges(model.name, model.info.weights)
    with _lock:
        path = paths["analysis"].with_name(f"analysis-int8-{int8.cache_key(export_file_hash(paths['analysis']), ranges)}.onnx")
        if refresh or not path.exists():
            # a shared, read-only cache filled without it: built in the user's own folder, as exports are
            path = _writable_or_fallback(path.parent, model.sha256) / path.name
        if refresh or not path.exists():
            log.debug("quantizing %s's analysis to 8 bits in %s", model.name, path)
            int8.quantize(paths["analysis"], ranges, path)
            for old in path.parent.glob("analysis-int8-*.onnx"):  # from other ranges or float graphs
                if old != path:
                    old.unlink(missing_ok=True)
        return path


def load_transforms(model: CodecModel, int8: bool = False) -> OrtTransforms:
    """Sessions for ``model`` from the ONNX cache (exported on first use; re-exported once if
    unusable); ``int8``: the analysis with 8-bit convolutions (:mod:`vidcodec.int8`)."""

    def paths(refresh: bool = False) -> dict[str, Path]:
        p = cached_export(model, refresh=refresh)
        return {**p, "analysis": cached_int8_analysis(model, p, refresh=refresh)} if int8 else p

    found = paths()
    try:
        return OrtTransforms(found)
    except Exception as e:  # noqa: BLE001 - e.g. a file damaged after its hash was checked
        log.debug("ONNX sessions for %s failed (%s); exporting again", model.name, e)
        return OrtTransforms(paths(refresh=True))


# ---------------------------------------------------------------------------------------- checking


def check_export(model: CodecModel, paths: dict[str, Path], frames: list[np.ndarray], *,
                 threads: int | None = None) -> dict:
    """Run torch and ONNX Runtime on real RGB frames (H×W×3 uint8) and report how far apart they are.

    Latents: max abs error, and the fraction of quantized symbols round(y × gain) that differ, over
    every level of the model. Images: both synthesis transforms decode the same dequantized
    latent (torch's symbols at the highest level); max abs error of the clamped images in [0,1]
    and their PSNR (peak 1, at most 200 dB). ``ok`` says whether all are within this module's CHECK_* marks.
    """
    import torch

    from .codec.vaegan import to_tensor

    if not frames:
        raise ValueError("check_export needs at least one frame")
    rt = OrtTransforms(paths, threads=threads)
    lat_err = lat_max = img_err = sq = 0.0
    pixels = differ = total = 0
    top = model.gains[-1][:, None, None]
    for rgb in frames:
        h, w = rgb.shape[:2]
        x = to_tensor(rgb, model.downscale)
        with torch.inference_mode():
            y_t = model.analysis(torch.from_numpy(x)).numpy()
        y_o = rt.analyze(x)
        lat_err = max(lat_err, float(np.abs(y_t - y_o).max()))
        lat_max = max(lat_max, float(np.abs(y_t).max()))
        for gain in model.gains:
            g = gain[:, None, None]
            differ += int(np.count_nonzero(np.rint(y_t * g) != np.rint(y_o * g)))
            total += y_t.size
        y_q = (np.rint(y_t * top) / top).astype(np.float32)
        with torch.inference_mode():
            d_t = model.synthesis(torch.from_numpy(y_q)).clamp_(0, 1).numpy()[..., :h, :w]
        d_o = np.clip(rt.synthesize(y_q), 0, 1)[..., :h, :w]
        diff = d_t.astype(np.float64) - d_o
        img_err = max(img_err, float(np.abs(diff).max()))
        sq += float(np.square(diff).sum())
        pixels += diff.size
    psnr = float(10 * np.log10(1.0 / max(sq / pixels, 1e-20)))  # 200 dB for identical decodes
    mismatch = differ / total
    return {
        "model": model.name,
        "weights_sha256": model.sha256,
        "providers": rt.sessions["analysis"].get_providers(),
        "frames": len(frames),
        "latent_max_abs": lat_max,
        "latent_max_abs_error": lat_err,
        "image_max_abs_error": img_err,
        "decode_psnr_db": psnr,
        "symbols_total": total,
        "symbols_differing": differ,
        "symbol_mismatch_fraction": mismatch,
        "ok": lat_err <= CHECK_LATENT_TOL and psnr >= CHECK_PSNR_DB and mismatch <= CHECK_SYMBOL_MISMATCH,
    }


def format_check(r: dict) -> str:
    """Human-readable text of a :func:`check_export` report."""
    symbols = (f"  symbols     {r['symbols_differing']} of {r['symbols_total']} differ "
               f"({r['symbol_mismatch_fraction']:.3g}, all levels)")
    verdict = (f"  {'ok' if r['ok'] else 'NOT OK'} (marks: latents <= {CHECK_LATENT_TOL:g}, "
               f"PSNR >= {CHECK_PSNR_DB:g} dB, symbols differing <= {CHECK_SYMBOL_MISMATCH:g})")
    return "\n".join([
        f"torch vs ONNX Runtime ({', '.join(r['providers'])}), {r['model']}, {r['frames']} frames:",
        f"  latents     max abs error {r['latent_max_abs_error']:.3g} (latents up to {r['latent_max_abs']:.3g})",
        symbols,
        f"  decodes     max abs error {r['image_max_abs_error']:.3g}, PSNR {r['decode_psnr_db']:.1f} dB",
        verdict,
    ])
