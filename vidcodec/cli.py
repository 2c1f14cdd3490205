"""The ``vidcodec`` command: thin shells over :mod:`vidcodec.api`.

Exit codes: 0 success, 1 runtime failure, 2 usage or input error, 130 interrupted (Ctrl-C), 143
terminated (SIGTERM), 129 hung up (SIGHUP).
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import ClassVar, NoReturn

from . import __version__, container
from .codec import (
    DEFAULT_FEATURE_BITS,
    DEFAULT_GAN_COEFFS,
    DEFAULT_GAN_GOP,
    DEFAULT_GAN_LAYER,
    DEFAULT_GAN_MODEL,
    DEFAULT_GOP,
    DEFAULT_KEY_BITS,
    DEFAULT_LATENT_BITS,
    DEFAULT_MODEL,
    DEFAULT_SEARCH_ITERS,
    PRESETS,
    SUBPEL_MODES,
)
from .errors import NO_ROOM, OutputExistsError, UsageError, VidcodecError, shown
from .models.zoo import BACKENDS
from .outputs import writable_folder, write_file
from .timespec import parse_time

# What `vidcodec eval` measures by default (vidcodec.evaluate.rd.CODECS lists every one it knows)
DEFAULT_EVAL_CODECS = ("vidcodec", "vidcodec-intra", "x264-medium", "x264-veryfast-zl", "x265-medium", "x264-intra",
                       "jpeg")

# media.PIX_FMTS, written out so that building the parser does not load PyAV (test_cli checks they agree)
PIX_FMTS = ("yuv420p", "yuv444p")

EXAMPLES = """\
examples:
  vidcodec encode samples/vtest.mp4 out.gvc            encode at the default quality
  vidcodec encode in.mkv out.gvc --quality 6 --gop 64  more bits, a keyframe every 64 frames
  vidcodec encode film.mkv part.gvc --start 1:00 -t 10  ten seconds from 1:00
  vidcodec decode out.gvc out.mp4                      decode to H.264 (mp4/mkv/mov) or .y4m
  vidcodec decode out.gvc frames/%04d.png              one PNG a frame, the decoded RGB exactly
  vidcodec decode out.gvc - | ffplay -                 y4m to a player through a pipe
  vidcodec decode out.gvc -f nut - | ffplay -          ... with the sound (NUT: raw video and the audio)
  vidcodec decode out.gvc - --pix-fmt yuv420p | x264 --demuxer y4m -o re.264 -   4:2:0 y4m for other tools
  vidcodec decode out.gvc clip.mp4 --start 60 --frames 250   ten seconds from 1:00 (at 25 fps)
  vidcodec decode --follow live.gvc - | ffplay -       play a stream that is still being written
  vidcodec play out.gvc                                watch in a window (space, arrows, o, q)
  vidcodec play out.gvc --to - | ffplay -              no display: y4m to a player
  cat in.y4m | vidcodec encode - out.gvc               read from stdin
  vidcodec encode rtsp://camera/stream live.gvc --gop 50   a network stream, until it stops sending
  vidcodec encode rtsp://camera/stream "tcp://@:9000?listen" --gop 50   serve it live to receivers ...
  vidcodec play tcp://encoder-host:9000                ... each joins at the next keyframe (also udp://)
  vidcodec encode frames/%04d.png out.gvc --fps 30     an image sequence
  vidcodec info out.gvc --json                         stream header and packet statistics
  vidcodec remux out.gvc part.gvc --start 10 -t 5      cut at keyframes without re-coding (also joins)
  vidcodec export --check samples/vtest.mp4            ONNX export, checked against torch
  vidcodec train --data photos/ videos/ --out runs/my   train your own model (see docs/MODELS.md)
  vidcodec bench clip.mp4 --size 640x360               speed per stage, fps, memory, x264 alongside
"""


# ffmpeg's options that people type out of habit, and what vidcodec takes instead (said when parsing fails)
FFMPEG_HABITS = {
    "-i": "give the input without -i (vidcodec encode IN OUT)", "-ss": "--start TIME",
    "-to": "-t TIME (a duration)", "-vframes": "--frames N", "-frames:v": "--frames N",
    "-b:v": "--bitrate KBPS (e.g. 500)", "-crf": "--quality 1..8", "-g": "--gop N", "-an": "--no-audio",
    "-r": "--fps FPS (for raw frames and image sequences)", "-s": "--size WxH (for raw frames; to scale a video, see -vf)",
    "-pix_fmt": "--pix-fmt", "-c:v": "nothing: vidcodec has one codec (remux copies streams: ffmpeg's -c copy)",
    "-vcodec": "nothing: vidcodec has one codec", "-c": "vidcodec remux to copy streams (ffmpeg's -c copy)",
    "-f": "nothing: a file's format is found by reading it, an output's by its name",
    "-vf": "nothing: vidcodec applies no filters; filter with ffmpeg into a pipe, the sound kept: ffmpeg -i IN "
    "-vf scale=-2:720 -c:v rawvideo -c:a copy -f nut - | vidcodec encode - OUT", "-loglevel": "-q or -v", "-hide_banner": "nothing",
    "-nostdin": "nothing", "-n": "nothing: an existing output is never overwritten without -y",
    "-preset": "--preset auto|medium|fast", "-re": "--re", "-bufsize": "--bufsize KBITS (with --bitrate)",
    "-maxrate": "--bitrate KBPS with --bufsize KBITS", "-q:v": "--quality 1..8", "-qscale:v": "--quality 1..8",
    "-framerate": "--fps FPS (an image sequence's rate)", "-tune": "nothing (live streams: --gop 50)",
    "-threads": "nothing: vidcodec sizes its threads to the machine", "-vn": "nothing: vidcodec codes the video",
    "-map": "nothing: vidcodec codes the input's main video stream and its first audio stream",
}
# ... those that mean the same to every verb (info's table starts from these alone)
_GENERIC_HABITS = {k: FFMPEG_HABITS[k] for k in ("-loglevel", "-hide_banner", "-nostdin", "-threads")}
# What the options of FFMPEG_HABITS (which is encode's) mean to the other verbs; None: not there.
_NOT_WHEN_DECODING = "nothing: a stream is decoded as it was coded (choose at encode: vidcodec encode {})"
_VERB_HABITS: dict[str, dict[str, str | None]] = {
    "encode": {
        "-f": "nothing: the input's format is found by reading it (raw frames: --size WxH, --pix-fmt, --fps); "
        "the output is .gvc",
    },
    "decode": {
        "-i": "give the input without -i (vidcodec decode IN OUT)",
        "-crf": _NOT_WHEN_DECODING.format("--quality"), "-q:v": _NOT_WHEN_DECODING.format("--quality"),
        "-qscale:v": _NOT_WHEN_DECODING.format("--quality"), "-b:v": _NOT_WHEN_DECODING.format("--bitrate"),
        "-g": _NOT_WHEN_DECODING.format("--gop"), "-preset": _NOT_WHEN_DECODING.format("--preset"),
        "-r": "nothing: the stream's timestamps are kept (y4m: its frame rate)",
        "-framerate": "nothing: the stream's timestamps are kept", "-s": "nothing: frames come out at the "
        "stream's size (scale them afterwards: ... | ffmpeg -i - -s WxH OUT)",
        "-pix_fmt": "--pix-fmt yuv420p|yuv444p", "-re": "vidcodec play (paced by the timestamps)",
        "-vf": "nothing: vidcodec applies no filters; filter the decoded frames with ffmpeg, the sound kept: vidcodec decode IN -f nut - "
        "| ffmpeg -i - -vf scale=-2:720 OUT",
        "-bufsize": None, "-maxrate": None, "-tune": None,
        "-f": "-f/--format y4m|nut for stdout or /dev/null; a file's name says its format (ffmpeg's "
        "-f null -: decode to /dev/null)",
    },
    "remux": {
        "-i": "give the input without -i (vidcodec remux IN OUT)",
        "-crf": "nothing: remux copies the packets (re-encode to change the quality)",
        "-b:v": "nothing: remux copies the packets (re-encode to change the rate)",
        "-q:v": "nothing: remux copies the packets", "-qscale:v": "nothing: remux copies the packets",
        "-g": "nothing: remux copies the packets", "-preset": "nothing: remux copies the packets",
        "-vf": "nothing: remux copies the packets (decode, filter and encode to change the pictures)",
        "-c:v": "nothing: remux always copies (ffmpeg's -c copy)", "-c": "nothing: remux always copies",
        "-r": None, "-s": None, "-pix_fmt": None, "-framerate": None, "-bufsize": None, "-maxrate": None,
        "-f": "nothing: remux reads and writes .gvc streams",
    },
    "info": {
        "-i": "give the stream without -i (vidcodec info IN)", "-show_packets": "--packets",
        "-show_frames": "--packets", "-of": "--json", "-print_format": "--json", "-show_streams": "nothing: "
        "info prints the header and the packet statistics", "-show_format": "nothing: info prints them",
        "-select_streams": "nothing: info describes the whole stream",
        "-f": "nothing: info reads .gvc streams (machine-readable output: --json)",
    },
}
_VERB_HABITS["play"] = {**_VERB_HABITS["decode"], "-i": "give the input without -i (vidcodec play IN)",
                        "-re": "nothing: play paces frames by their timestamps",
                        "-f": "nothing: play shows a window (--to OUT.y4m, or --to - for stdout, writes y4m)"}


def _habits(verb: str, known: set[str]) -> dict[str, str]:
    """What to type instead of each ffmpeg option for ``verb`` (an option the verb has is not listed):
    encode's table with the verb's own meanings over it; info's from the generic ones alone."""
    table = {**(_GENERIC_HABITS if verb == "info" else FFMPEG_HABITS), **_VERB_HABITS.get(verb, {})}
    return {k: v for k, v in table.items() if v is not None and k not in known}


# Suffixes that make an argument starting with a dash a file's name (_Parser.error's hint)
_MEDIA_SUFFIXES = frozenset((".gvc", ".mp4", ".mkv", ".mov", ".webm", ".avi", ".y4m", ".nut", ".ts", ".flv",
                             ".yuv", ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm"))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line naming the verb, as the commands' own errors
    (argparse's default prints the whole usage block first, a screenful for encode), with what to type
    instead of the ffmpeg options among ``argv`` (:data:`FFMPEG_HABITS`)."""

    argv: ClassVar[list[str]] = []

    def __init__(self, *args, **kwargs) -> None:
        # no abbreviations: --time would be --timeout, --fr --frames and --ref --refine (a 0.1 fps encode),
        # silently; a codec's options are typed out, as ffmpeg's are
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        table = _habits(self.prog.split()[-1], set(self._option_string_actions))
        used = [arg for arg in dict.fromkeys(_Parser.argv) if arg in table]
        habits = [f"{arg} -> {table[arg]}" for arg in used]
        if "-v" in _Parser.argv:  # ffmpeg's -v LEVEL: vidcodec's -v takes none
            level = _Parser.argv[_Parser.argv.index("-v") + 1:][:1]
            if level and level[0] in ("quiet", "panic", "fatal", "error", "warning", "info", "verbose", "debug"):
                habits.append(f"-v {level[0]} -> -q (quiet) or -v (more detail)")
        if "argument -f/--format: invalid choice: 'null'" in message:  # ffmpeg's -f null -
            habits.append(f"-f null -> decode to {os.devnull} (vidcodec decode IN {os.devnull})")
        hint = f"; ffmpeg's options are not vidcodec's: {'; '.join(habits)}" if habits else ""
        # a file whose name starts with a dash is read as options (`encode -x.mp4 o.gvc`: "output required";
        # `decode x.gvc -y.mkv`: "-y: ignored explicit argument"): one that exists, or is named as a video's
        argv = _Parser.argv[:_Parser.argv.index("--")] if "--" in _Parser.argv else _Parser.argv  # (after: names)
        dashed = [a for a in dict.fromkeys(argv) if a.startswith("-") and a != "-"
                  and a not in self._option_string_actions
                  and (os.path.lexists(a) or Path(a).suffix.lower() in _MEDIA_SUFFIXES)]
        if dashed:
            hint += (f"; {', '.join(dashed)} {'is a file name' if len(dashed) == 1 else 'are file names'} read "
                     f"as options: give {'it' if len(dashed) == 1 else 'them'} as "
                     f"{', '.join('./' + a for a in dashed)}")
        # an ffmpeg option read as short ones with the rest glued on (-vframes as -v -f "rames", -threads
        # as -t "hreads", -q:v as -q ":v", -vf as -v -f taking the next word): argparse's complaint about
        # the rest, or about the short option it found in it, is only noise
        short = re.match(r"argument -(\w)[/ :]", message)
        if used and ("ignored explicit argument" in message
                     or any(f"'{a[k:]}'" in message for a in used for k in range(2, len(a)))
                     or (short is not None and any(short.group(1) in a[1:] for a in used))):
            message = "unrecognized arguments: " + " ".join(used)
        self.exit(2, f"{self.prog}: error: {message}{hint} (see '{self.prog} --help')\n")


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only when it has a meaningful one (not None, not a False switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _kbits(text: str) -> float:
    """A --bitrate or --bufsize value in kbit: a number (kbit), or with ffmpeg's suffixes k, M or G
    (network.si_number, bits): 500, 500k and 0.5M are the same."""
    from .network import si_number

    try:
        return si_number(text) / 1e3 if text[-1:] in ("k", "K", "M", "G") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of kbit (e.g. 500, 500k or 1.5M)") from None


def _stdout_format(value: str) -> str:
    """decode's -f: y4m or nut, under ffmpeg's name for y4m too (yuv4mpegpipe; ffmpeg's -f null is
    named by the habits' table)."""
    name = value.lower()
    return {"yuv4mpegpipe": "y4m"}.get(name, name)


def _time(text: str) -> Fraction:
    """A --start or -t value: seconds (90, 1.5) or [HH:]MM:SS[.frac] (1:30, 00:01:30.5), as ffmpeg's -ss."""
    try:
        return parse_time(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_backend(p: argparse.ArgumentParser, decoding: bool = False) -> None:
    if decoding:  # decode and play run the synthesis only
        p.add_argument("--backend", choices=list(BACKENDS), default="auto",
                       help="auto (the default): the synthesis in bfloat16 on a CPU with AMX and no CUDA where "
                       "the frames to decode are not known to hold under 40 million pixels, about 175 frames at "
                       "640x360 or 20 at 1080p, which repay torch's import (1.1-1.5x as fast at 640x360, 2.8x at 1080p on an "
                       "AMX Xeon, pictures within a few hundredths of a dB); likewise on a CPU with AVX512-BF16 but "
                       "no AMX from 100 million pixels (1.2-1.6x as fast on an AMD EPYC); a stream of unknown length (a pipe, a "
                       "live stream) starts in ort, its first pictures not waiting for torch, and goes on in bf16 from the "
                       "frame where three quarters of those pixels have been decoded; else as ort; ort and int8: the "
                       "synthesis in ONNX Runtime, float32 (int8 quantizes only an encoder's analysis); torch; "
                       "bf16: torch in bfloat16 (CPUs with AVX512-BF16 or AMX, CUDA GPUs; imports torch, about 1.2 s)")
        return
    p.add_argument("--backend", choices=list(BACKENDS), default="auto",
                   help="auto (the default): to encode, bf16 on a CPU with AMX (Intel Xeon from Sapphire Rapids "
                   "on) and no CUDA, unless the input is known to have under 50 frames (torch's import would "
                   "cost more than it saves), else int8 on a CPU with 8-bit dot products (AVX512-VNNI or AVX-VNNI) when "
                   "the model ships int8 ranges, else ort; decoding, bf16 on the same terms from 40 million pixels, or "
                   "from 100 million on a CPU with AVX512-BF16 but no AMX (see 'vidcodec decode --help'), else ort. Or "
                   "run the transforms with ONNX Runtime (ort: exported once to a cache, float32), torch, torch in "
                   "bfloat16 (bf16: on CPUs with AVX512-BF16 or AMX, or CUDA GPUs; networks about 2x faster than "
                   "float32 with AVX512-BF16, 3-4x with AMX, pictures within a few hundredths of a dB; imports "
                   "torch, about 1.2 s), or ONNX Runtime with "
                   "the encoder's analysis in 8-bit convolutions (int8: about 2x faster analysis on the CPU for "
                   "0.5-1 %% more bits at the same quality; decoding is as with ort)")


def _add_follow(p: argparse.ArgumentParser) -> None:
    p.add_argument("--follow", action="store_true",
                   help="the input is still being written: at its end wait for more until the writer closes it "
                   "(index and footer written) or it stops growing")
    p.add_argument("--follow-timeout", type=float, metavar="SECONDS",
                   help="with --follow, finish after this long without growth (default 10)")


NET_INPUT = ("tcp://HOST:PORT (a sender serving with ?listen), tcp://@:PORT?listen (wait for one), "
             "udp://@:PORT (datagrams sent to this machine; udp://@GROUP:PORT joins a multicast group)")


def _add_net_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="a tcp:// or udp:// input that, once it has begun, sends nothing this long ends there "
                   "(default 15; 0 waits for ever). The wait for a sender to begin is not limited (Ctrl-C ends "
                   "it); a stream that is closed (TCP), or whose last datagram holds its end (UDP), ends at once")


def _follow_timeout(a: argparse.Namespace) -> float:
    """--follow-timeout's seconds (10 when not given); refused without --follow, where it would do nothing."""
    if a.follow_timeout is None:
        return 10.0
    if not a.follow:
        raise UsageError("--follow-timeout is for --follow (reading a stream that is still being written)")
    return a.follow_timeout


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary on stderr")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def _add_duration(p: argparse.ArgumentParser, what: str, done: str) -> None:
    """``-t``/``--duration`` as ffmpeg's ``-t``, for encode and decode."""
    p.add_argument("-t", "--duration", type=_time, metavar="TIME",
                   help=f"{what} (the frames that begin less than TIME after the first one {done}), in seconds "
                   "or [HH:]MM:SS[.frac], as ffmpeg -t")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``vidcodec`` command."""
    parser = _Parser(
        prog="vidcodec",
        description="vidcodec: a learned video codec. Encodes any video PyAV reads into a .gvc stream "
        "and decodes it back.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vidcodec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    enc = sub.add_parser(
        "encode", help="encode a video into a .gvc stream",
        description="Encode a video (any file PyAV opens, - for stdin, an image sequence or a network URL) into a .gvc stream.",
        formatter_class=_Defaults,
    )
    enc.add_argument("input", help="input video path, - for stdin, an image sequence (frame%%04d.png), or a URL "
                     "FFmpeg reads (rtsp://, rtmp://, udp://, http://...; a live one that stops sending for --timeout ends)")
    enc.add_argument("output", help="output .gvc path, - for stdout, or a network URL: tcp://HOST:PORT (a "
                     "receiver listening there), tcp://@:PORT?listen (serve: wait for a first receiver, then send "
                     "to every one that connects, each from the next keyframe), udp://HOST:PORT (datagrams; "
                     "?pkt_size=N (default 1472), ?ttl=N for a multicast group, ?broadcast=1, ?bitrate=N "
                     "(e.g. 5M) paces the datagrams: keyframes are not sent in one burst)")
    enc.add_argument("--quality", type=int,
                     help="quality level, 1 (fewest bits) to the model's highest; default: the model's default "
                     "(5 for the default vaegan-i; docs/MODELS.md gives each model's)")
    enc.add_argument("--bitrate", type=_kbits, metavar="KBPS",
                     help="hold this average bitrate (kbit/s; 500, 500k and 0.5M are the same) instead of a fixed "
                     "--quality: the level is "
                     "chosen at each keyframe, and each delta frame's rate-distortion trade-off is steered to "
                     "pay the excess back (a keyframe at another level only when that cannot)")
    enc.add_argument("--bufsize", type=_kbits, metavar="KBITS",
                     help="with --bitrate, the most the stream may run ahead of its budget before a GOP is cut "
                     "short at a lower level (default: 2 s of the bitrate; 1.5 GOPs for GOPs of 1.3-2 s, 3 s for longer ones)")
    enc.add_argument("--gop", type=int, metavar="N",
                     help=f"a keyframe at least every N frames (and at scene cuts); 1 = intra only. Default "
                     f"{DEFAULT_GOP} (as x264; with --bitrate too), "
                     f"{DEFAULT_GAN_GOP} with --mode gan. Live streams want ~2 s (e.g. 50 at 25 fps): a viewer "
                     "joins, and a lost packet heals, at the next keyframe")
    enc.add_argument("--coder", choices=["ans", "elias"],
                     help="ans (default): uniform quantization, ANS with the model's integer tables; elias: the seed's "
                     "method, QSGD stochastic quantization per channel + Elias-gamma codes (QSGD scales each "
                     "channel by its norm, so a delta costs what a keyframe does: every frame comes out a "
                     "keyframe)")
    enc.add_argument("--latent-bits", type=int, metavar="B",
                     help="QSGD bits (2..16; 4, 6 or 8 are usual) with --coder elias (default 4), and of the "
                     f"latent differences of --mode gan (default {DEFAULT_LATENT_BITS}; "
                     f"{DEFAULT_FEATURE_BITS} for its feature-map corrections)")
    enc.add_argument("--model", help=f"installed model name, or NAME@HASH-PREFIX for one of several weights of "
                     f"that name (default {DEFAULT_MODEL}; with --mode gan {DEFAULT_GAN_MODEL})")
    gan = enc.add_argument_group(
        "GAN mode", "--mode gan codes every frame as the latent (by default: an 8×8 feature map) of a "
        "generator, found by gradient descent (keyframes from the generator's encoder, other frames "
        "warm-started from the previous frame's state), QSGD-quantized and Elias-coded: extreme compression for clips of the generator's domain "
        "(see docs/MODELS.md; a warning says when a clip is far outside it)")
    gan.add_argument("--mode", choices=["vaegan", "gan"], default="vaegan", help="vaegan: the default codec")
    gan.add_argument("--search-iters", type=int, default=DEFAULT_SEARCH_ITERS, metavar="N",
                     help="most search iterations per delta frame (keyframes: 4N); the search also stops "
                     "when the loss stalls")
    gan.add_argument("--key-bits", type=int, default=DEFAULT_KEY_BITS, metavar="B", help="QSGD bits of keyframe latents")
    gan.add_argument("--gan-layer", default=str(DEFAULT_GAN_LAYER), metavar="z|N",
                     help="where the search inverts the generator: z = its input latent (the seed's method, "
                     "fewest bytes, softest pictures); N = its N×N feature map, each frame a sparse correction "
                     f"of the previous one (default {DEFAULT_GAN_LAYER}: on carphone SSIM 0.81 at 191× against "
                     "0.72 at 422× for z)")
    gan.add_argument("--coeffs", type=int, default=DEFAULT_GAN_COEFFS, metavar="K",
                     help="with a feature-map --gan-layer: values a delta frame's correction may change "
                     f"(keyframes 3K; default {DEFAULT_GAN_COEFFS}); the rate grows about linearly with K")
    gan.add_argument("--gop-batch", type=int, default=1, metavar="N",
                     help="search N GOPs side by side (batched generator calls; useful on a GPU, adds N GOPs "
                     "of latency)")
    enc.add_argument("--start", type=_time, metavar="TIME",
                     help="begin at the first input frame this long after the first one, as ffmpeg -ss before "
                     "-i (seeks where the input can; audio that begins before it is dropped)")
    enc.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    _add_duration(enc, "code this long of the input", "coded")
    enc.add_argument("--re", "--realtime", dest="realtime", action="store_true",
                     help="read the input at its own pace, each frame when its time has come (ffmpeg's -re): a "
                     "file served to receivers as if it were live (a live input keeps its pace without it)")
    enc.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="a URL input that, once it has begun, sends nothing this long ends there, its frames "
                     "coded (default 15; 0 waits for ever, e.g. for a camera that sends only on motion). The "
                     "wait for a sender to begin is not limited (Ctrl-C ends it)")
    enc.add_argument("--workers", type=int, default=1, metavar="N",
                     help="entropy-code N GOPs side by side in worker processes (keyframes then stay on "
                     "multiples of --gop after scene cuts too; adds N GOPs of latency and their latents in "
                     "memory; not with --bitrate or --refine; the workers never keep a learned prediction's "
                     "fraction, which one process chooses by synthesizing the pictures: a few per cent more bits "
                     "on camera motion). For many-core machines")
    raw = enc.add_argument_group("raw input (headerless frames, e.g. a live pipe)")
    raw.add_argument("--size", metavar="WxH", help="the input is raw frames of this size (rawvideo)")
    raw.add_argument("--fps", type=str, help="raw input frame rate (e.g. 25 or 30000/1001; default 25); also "
                     "an image sequence's (input frame%%04d.png, as ffmpeg -framerate; default 25)")
    raw.add_argument("--pix-fmt", help="raw input pixel format (FFmpeg name: yuv420p, rgb24, ...; default yuv420p)")
    enc.add_argument("--refine", type=int, default=0, metavar="N",
                     help="take N gradient steps on each frame's latent (rate + distortion through the decoder) "
                     "before quantizing: fewer bits for the same quality, much slower encoding; decoding is "
                     "unchanged")
    enc.add_argument("--subpel", choices=SUBPEL_MODES, default=SUBPEL_MODES[0],
                     help="motion prediction of delta frames: learned (the model's sub-pixel predictor, vectors "
                     "to the pixel; default) or bilinear (quarter-latent-pixel vectors, bilinear: faster to "
                     "encode and decode, more bits where the camera pans)")
    enc.add_argument("--preset", choices=PRESETS, default=PRESETS[0],
                     help="speed against bits, as x264's presets: medium weighs each moving delta by "
                     "synthesizing its picture twice, with and without the learned prediction's fraction "
                     "(format 14.0); fast never keeps the fraction and makes no pictures while coding deltas: "
                     "a third to a half less CPU time, a few per cent more bits where the camera moves; auto "
                     "(default): medium where a GPU or a CPU with AMX makes those pictures cheaply, else fast, "
                     "so that a 2-core machine encodes 640x360 in real time (-v names the one chosen). The "
                     "decoder's work is the same")
    enc.add_argument("--no-prefilter", action="store_true",
                     help="code keyframes from the source as it is: by default each keyframe on the --gop grid "
                     "is coded from a copy whose still pixels are averaged with the next 8 frames (sensor noise "
                     "costs bits and matches no later frame; holds 8 frames back at each keyframe: live streams that "
                     "want the least latency turn it off)")
    enc.add_argument("--no-colour", action="store_true",
                     help="send no colour corrections: by default each keyframe, and every 12th frame after it "
                     "where a new one pays, carries the 3x4 colour transform (24 bytes) that brings the decoded "
                     "picture closest to the source; the decoder applies it from that frame on (format 11.0)")
    enc.add_argument("--no-audio", action="store_true",
                     help="drop the input's audio (by default its first audio stream is carried through untouched)")
    enc.add_argument("--repeat-header", action="store_true",
                     help="repeat the stream header before every keyframe so readers can join mid-stream "
                     "(on by default when the output is a pipe, socket or terminal; stdout redirected to a "
                     "file is a file)")
    enc.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output if it exists")
    _add_backend(enc)
    _add_common(enc)

    dec = sub.add_parser(
        "decode", help="decode a .gvc stream to a video file or y4m",
        description="Decode a .gvc stream. The output format follows the extension: .mp4/.mkv/.mov "
        "(H.264, high quality) or .y4m; - writes y4m to stdout; an image sequence (frames/%04d.png; "
        ".png/.bmp/.ppm/.tif/.tiff) gets one file a frame, numbered from 1, the decoded RGB exactly (lossless: "
        "for comparing frames; .jpg/.webp at quality 95, for thumbnails); with --frames 1 an image name "
        "without a number is one picture (vidcodec decode in.gvc thumb.jpg --start 5 --frames 1).",
    )
    dec.add_argument("input", help=".gvc path, - for stdin, or a network URL: " + NET_INPUT)
    dec.add_argument("-f", "--format", choices=["y4m", "nut"], type=_stdout_format,
                     help="what - (stdout) or /dev/null carries: y4m (video only; the default; ffmpeg's yuv4mpegpipe), or nut: the frames uncompressed and the "
                     "stream's audio, for a player with sound (vidcodec decode in.gvc -f nut - | ffplay -)")
    dec.add_argument("output", help="output .mp4/.mkv/.mov/.y4m path, an image sequence (frames/%%04d.png), "
                     "one picture with --frames 1 (thumb.png), - for y4m on stdout, or /dev/null to decode "
                     "and drop the pictures (to time or check a decode, as ffmpeg's -f null -)")
    dec.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output if it exists")
    dec.add_argument("--no-audio", action="store_true", help="do not mux the stream's audio back (mp4/mkv/mov)")
    dec.add_argument("--start", type=_time, metavar="TIME",
                     help="begin at the first frame this long or more after the stream's first frame, in "
                     "seconds or [HH:]MM:SS[.frac], as ffmpeg's -ss (seeks to the keyframe before it)")
    _add_duration(dec, "write this long of the stream", "written")
    dec.add_argument("--frames", type=int, metavar="N",
                     help="stop after N decoded frames (y4m holds one frame rate: for a variable-rate stream it "
                     "repeats frames to keep the timing, so it can get more than N)")
    dec.add_argument("--pix-fmt", choices=PIX_FMTS,
                     help="the output's pixel format. Default: the source's, as the stream records it "
                     "(format 11.1: yuv420p for 4:2:0 sources of even size, yuv444p for 4:4:4 and RGB); "
                     "otherwise y4m yuv444p and mp4/mkv/mov yuv420p (yuv444p when a side is odd). yuv420p "
                     "halves a pipe's bytes and suits tools that take 4:2:0 only (even sizes only); yuv444p "
                     "keeps full chroma (H.264 High 4:4:4 profile)")
    dec.add_argument("--workers", type=int, default=1, metavar="N",
                     help="decode the symbols of N GOPs side by side in worker processes (same frames; for "
                     "machines with cores to spare: each GOP in flight holds its frames' symbols in memory)")
    _add_follow(dec)
    _add_net_timeout(dec)
    _add_backend(dec, decoding=True)
    _add_common(dec)

    pl = sub.add_parser(
        "play", help="watch a .gvc stream in a window (or decode it to y4m for a player)",
        description="Play a .gvc stream in a window, paced by its timestamps; late frames are dropped (and "
        "counted) to keep real time. Keys: space pause, left/right previous/next keyframe, o on-screen "
        "info, q or Esc quit. Without a display: --to out.y4m, or --to - to pipe y4m into a player "
        "(`vidcodec play x.gvc --to - | ffplay -`). The window needs OpenCV with GUI support "
        "(opencv-python, not -headless).",
    )
    pl.add_argument("input", help=".gvc path, - for stdin, or a network URL: " + NET_INPUT)
    pl.add_argument("--to", metavar="OUT", help="no window: write y4m to this .y4m path, or - for stdout, "
                    "as 'vidcodec decode' does: as fast as it decodes, the player it feeds keeps the pace")
    pl.add_argument("--pix-fmt", choices=PIX_FMTS,
                    help="with --to: the y4m's pixel format (default: the source's where the stream records it, "
                    "else yuv444p; yuv420p halves the bytes)")
    pl.add_argument("--start", type=_time, metavar="TIME",
                    help="begin this long after the stream's first frame, in seconds or [HH:]MM:SS[.frac] "
                    "(seeks to the keyframe before)")
    pl.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    _add_follow(pl)
    _add_net_timeout(pl)
    pl.add_argument("--no-info", action="store_true", help="start with the on-screen info line hidden (o toggles)")
    pl.add_argument("-y", "--overwrite", action="store_true", help="with --to, overwrite the output if it exists")
    _add_backend(pl, decoding=True)
    _add_common(pl)

    rm = sub.add_parser(
        "remux", help="copy .gvc streams into a new one without re-coding: cut at keyframes, join, repair",
        description="Copy the packets of a .gvc stream into a new one, byte for byte (as ffmpeg -c copy): "
        "--start/-t/--frames cut a stretch out at keyframes (the output begins at the last keyframe at or "
        "before --start); several inputs are joined end to end when a decoder reads them alike (same size, "
        "model, coder, format version; the same audio codec parameters), each one's timestamps kept where "
        "they go on from the one before (segments of one recording) and else moved to follow it, and so are "
        "the streams of a file or pipe made with cat; a stream whose encoder was killed (cut off, no keyframe "
        "index) or that is damaged is rewritten whole and indexed, its deltas after damage dropped up to the "
        "next keyframe. Exit 1 when frames of the stretch asked for are lost to damage (the output is "
        "written); a cut-off input is not an error.",
        epilog="examples:\n  vidcodec remux film.gvc part.gvc --start 1:00 -t 30   thirty seconds from the "
        "keyframe at or before 1:00\n  vidcodec remux a.gvc b.gvc c.gvc all.gvc              join three "
        "streams\n  vidcodec remux killed.gvc fixed.gvc                   index a stream whose encoder was "
        "killed\n  cat live.gvc | vidcodec remux - part.gvc --frames 250  from a pipe\n"
        "  vidcodec remux film.gvc seg%03d.gvc --segment-time 10  ten-second files, each starting at a keyframe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rm.add_argument("inputs", nargs="+", metavar="INPUT", help=".gvc paths, joined in this order (- for stdin, "
                    "or a network URL, once: " + NET_INPUT + "; e.g. record a live stream)")
    rm.add_argument("output", help="the new .gvc path, - for stdout, or a network URL as encode's output takes "
                    "(tcp://HOST:PORT, tcp://@:PORT?listen, udp://HOST:PORT; with --re a stored stream is served "
                    "live at its own pace)")
    rm.add_argument("--start", type=_time, metavar="TIME",
                    help="begin at the last keyframe at or before this long after the first frame, in seconds or "
                    "[HH:]MM:SS[.frac] (with several inputs, of the joined timeline)")
    rm.add_argument("-t", "--duration", type=_time, metavar="TIME",
                    help="copy this long: the frames that begin less than TIME after --start (without it, after the "
                    "first frame), from the keyframe at or before --start on, in seconds or [HH:]MM:SS[.frac], as "
                    "ffmpeg -ss -t -c copy")
    rm.add_argument("--frames", type=int, metavar="N", help="stop after N frames")
    rm.add_argument("--segment-time", type=_time, metavar="TIME",
                    help="split the output into files of about TIME each, every one a whole stream beginning at a "
                    "keyframe (the first keyframe TIME or more after a segment's start begins the next), named by "
                    "the output's number as ffmpeg's segment muxer: seg%%03d.gvc gives seg000.gvc, seg001.gvc, ...; "
                    "from a pipe too (vidcodec encode rtsp://... - | vidcodec remux - seg%%05d.gvc --segment-time 10)")
    rm.add_argument("--re", "--realtime", dest="realtime", action="store_true",
                    help="send the frames at their own pace, as ffmpeg's -re: each one when its time has come, "
                    "counted from the first (a stored stream served to receivers as if live; without it a network "
                    "output gets the whole stream as fast as the receivers take it, and UDP as fast as it sends)")
    rm.add_argument("--no-audio", action="store_true", help="leave the audio out")
    rm.add_argument("--repeat-header", action="store_true",
                    help="repeat the stream header before every keyframe (on by default when the output is a "
                    "pipe, socket or terminal, as encode does)")
    rm.add_argument("-y", "--overwrite", action="store_true", help="overwrite the output if it exists")
    _add_net_timeout(rm)
    _add_common(rm)

    info = sub.add_parser("info", help="show a .gvc stream's header and packet statistics (like ffprobe)",
                          description="Print a .gvc stream's header fields, its packets' counts and sizes by "
                          "kind, frames, duration and bit rate, its keyframes, the frames decode would give, and "
                          "whether it is damaged anywhere (exit 1; decode exits 1 only where that loses frames, "
                          "not for a damaged audio packet or keyframe index), cut off (exit 2) or unfinished (no "
                          "index), without decoding a frame. N/A: not known (e.g. a stream without packets).",
                          epilog="examples:\n  vidcodec info out.gvc\n  vidcodec info out.gvc --json | jq .frames\n"
                          "  vidcodec info out.gvc --packets | awk '$2 == \"key\"'   the keyframes' sizes and times\n"
                          "  cat out.gvc | vidcodec info -\n"
                          "  vidcodec info udp://@:9000 -t 5                     five seconds of a live stream",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("input", help=".gvc path, - for stdin, or a network URL: " + NET_INPUT)
    _add_net_timeout(info)
    info.add_argument("--frames", type=int, metavar="N",
                      help="read only the first N frames (a live stream: report after N frames, not at its end)")
    info.add_argument("-t", "--duration", type=_time, metavar="TIME",
                      help="read only this long of the stream (the frames that begin less than TIME after the "
                      "first one), in seconds or [HH:]MM:SS[.frac], as ffprobe -read_intervals %%+TIME")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.add_argument("--packets", action="store_true",
                      help="also list every packet, as ffprobe -show_packets: stream (0 video, 1 audio), type, pts, "
                      "time in seconds from the first frame, payload size, bytes with its header, byte offset, flags")
    info.add_argument("-q", "--quiet", action="store_true", help="no log lines on stderr but errors (the report "
                      "is on stdout)")
    info.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    ev = sub.add_parser(
        "eval", help="rate-distortion against x264, x265 and JPEG on the same frames (BD-rate, plots)",
        description="Encode the first frames of each clip with vidcodec at every quality (with the default GOP "
        "and intra-only), x264 (medium; veryfast + zerolatency; medium intra-only), x265 medium (where PyAV "
        "has it), each at several CRFs, and per-frame JPEG. Rates are real file sizes. Prints each vidcodec "
        "level beside x264 at the same bpp, intra vs JPEG and x264's intra at 0.1 and 0.25 bpp, and the "
        "BD-rate of vidcodec against each codec, and of its intra mode against x264's and JPEG, on PSNR and "
        "MS-SSIM (negative = vidcodec needs fewer bits). Every codec's output is compared as RGB with the "
        "clip read as RGB (x264 and x265 get and return frames converted as vidcodec's are); PSNR-Y is the "
        "BT.601 full-range luma of those RGB frames, not the coded Y plane that ffmpeg's psnr filter reads "
        "(on limited-range video that reads about 1.3 dB higher).",
        formatter_class=_Defaults,
    )
    ev.add_argument("clips", nargs="*", metavar="CLIP|DIR", help="video files, or folders of them")
    # where _clips_last puts a clip given after a list option's values (`--codecs vidcodec jpeg clip.mp4`)
    ev.add_argument("--clip", dest="more_clips", action="append", default=[], help=argparse.SUPPRESS)
    ev.add_argument("--frames", type=int, default=50, help="frames per clip")
    ev.add_argument("--size", metavar="WxH", help="scale the frames to this size first (e.g. 640x360), as bench "
                    "--size: every codec is measured on the scaled frames")
    ev.add_argument("--gop", type=int, metavar="N",
                    help=f"keyframe interval of vidcodec and of x264/x265 (-g) alike (default {DEFAULT_GOP}; "
                    f"--mode gan {DEFAULT_GAN_GOP})")
    ev.add_argument("--model", help=f"installed model to evaluate (default {DEFAULT_MODEL}; --mode gan: "
                    f"{DEFAULT_GAN_MODEL})")
    ev.add_argument("--codecs", nargs="+", metavar="CODEC",
                    help="codecs to run (default: " + " ".join(DEFAULT_EVAL_CODECS) + "; vidcodec: encode with --preset "
                    "medium on every machine; x264-intra: x264 medium with every frame a keyframe, for "
                    "vidcodec-intra; vidcodec-fast: vidcodec with --preset fast; vidcodec-int8, vidcodec-ort and "
                    "vidcodec-bf16: with --backend int8, ort or bf16; against these the table gives vidcodec's "
                    "BD-rate)")
    ev.add_argument("--qualities", nargs="+", type=int, metavar="Q", help="vidcodec quality levels (default all)")
    ev.add_argument("--table", choices=["rd", "seed"], default="rd",
                    help="rd: levels vs x264, intra vs JPEG and BD-rates; seed: the seed paper's layout "
                    "(method or channels -> SSIM, PSNR, compression ratio)")
    ev.add_argument("--bitrate", nargs="+", type=_kbits, metavar="KBPS",
                    help="instead of the RD sweep: encode each clip with --bitrate at each target and report the "
                    "achieved rate, the largest rate over 2 s, the quality, and x264 medium's one-pass "
                    "average bitrate mode at the same target")
    ev.add_argument("--mode", choices=["vaegan", "gan"], default="vaegan",
                    help="gan: measure a GAN generator instead (--model, default " + DEFAULT_GAN_MODEL + "): the "
                    "seed's Table 1 layout (16-bit, lossy 8/6/4-bit latents, JPEG q=1: SSIM, PSNR, CR, seconds "
                    "per frame) and the iterations a warm-started search needs against a cold one")
    ev.add_argument("--skip", type=int, default=0, metavar="N",
                    help="start at frame N of each clip (e.g. past a title card, or a generator's held-out frames)")
    ev.add_argument("--search-iters", type=int, default=DEFAULT_SEARCH_ITERS, metavar="N", help="--mode gan: as for encode")
    ev.add_argument("--gan-layer", default=str(DEFAULT_GAN_LAYER), metavar="z|N", help="--mode gan: as for encode")
    ev.add_argument("--coeffs", type=int, default=DEFAULT_GAN_COEFFS, metavar="K", help="--mode gan: as for encode")
    ev.add_argument("--out", metavar="DIR", help="write points.csv/json, bdrate.csv, summary.csv and rd.png here "
                    "(with --bitrate: ratecontrol.csv)")
    ev.add_argument("--json", metavar="PATH", help="also write every measured point to this JSON file")
    ev.add_argument("-y", "--overwrite", action="store_true",
                    help="replace the results already in --out, or the --json file")
    _add_common(ev)

    be = sub.add_parser(
        "bench", help="speed: per-stage times, end-to-end fps, memory, and x264 on the same frames",
        description="Measure where the time goes (per-stage median and p95 milliseconds, one frame at a time), "
        "end-to-end encode and decode frame rates through the same code as the CLI (pipelined), peak memory, "
        "and x264 veryfast/medium encode and decode rates on the same frames in the same run, with ratios. "
        "Prints the machine (CPU, threads, GPU, providers, allocator). Run it with tcmalloc preloaded "
        "(see the README).",
        formatter_class=_Defaults,
    )
    be.add_argument("clip", nargs="?", help="video file (default: the bundled samples/bikes.mp4)")
    be.add_argument("--size", metavar="WxH", help="resize the frames to this size first (e.g. 640x360)")
    be.add_argument("--frames", type=int, default=100, help="frames to use (at least 2: a keyframe and a delta)")
    be.add_argument("--runs", type=int, default=3, help="repetitions (medians are reported)")
    be.add_argument("--quality", type=int, help="quality level (default: the model's)")
    be.add_argument("--model", default=DEFAULT_MODEL, help="installed model name")
    be.add_argument("--json", action="store_true", help="machine-readable output")
    be.add_argument("--subpel", choices=SUBPEL_MODES, default=SUBPEL_MODES[0],
                    help="delta prediction to time, as 'vidcodec encode --subpel'")
    be.add_argument("--preset", choices=PRESETS, default=PRESETS[0], help="encoder preset to time, as "
                    "'vidcodec encode --preset' (default auto: the one encode chooses here, named in the report)")
    be.add_argument("--gop", type=int, default=DEFAULT_GOP, help="keyframe interval of the encodes")
    be.add_argument("--workers", type=int, default=1, metavar="N",
                    help="end-to-end encode and decode with N GOPs side by side in worker processes, as "
                    "'vidcodec encode/decode --workers' (give a --gop that makes several GOPs)")
    _add_backend(be)
    _add_common(be)

    tr = sub.add_parser(
        "train", help="train a VAE-GAN model on folders of images and videos",
        description="Train a VAE-GAN model (all quality levels at once) on images and video frames: rate from "
        "the learned entropy model, SSIM/MS-SSIM + L1 distortion weighted by saliency, an adversarial term "
        "on (image, latent) pairs, nested channel dropout. Writes checkpoints with their TOML config, "
        "log.csv, val.csv and curves.png into --out; --resume continues a run. For several processes run "
        "`torchrun --nproc-per-node N -m vidcodec train ...`. Package a checkpoint for encode/decode with "
        "`python -m vidcodec.train.package OUT/best.safetensors WEIGHTS_DIR` and put WEIGHTS_DIR in "
        "VIDCODEC_MODEL_PATH.",
    )
    from .train.cli_args import add_arguments  # argparse only: torch is not imported here

    add_arguments(tr)
    _add_common(tr)

    tg = sub.add_parser(
        "train-gan", help="train a progressive GAN generator (and its encoder) for --mode gan",
        description="Train a PGAN generator that grows from 4x4 to its final resolution (pixel norm, "
        "equalized learning rate, minibatch-stddev discriminator, WGAN-GP), with an encoder growing "
        "alongside so that real frames have good latents (--rec-weight 0 for a plain PGAN). Frames are "
        "squashed to the square resolution; the last --holdout of every video is kept for validation. "
        "Writes last/best checkpoints, config.toml, log.csv and curves.png into --out; --resume continues. "
        "--install DIR writes the shipped form (NAME.safetensors + NAME.json model card); put DIR in "
        "VIDCODEC_MODEL_PATH and encode with `vidcodec encode --mode gan --model NAME`.",
        epilog="example: vidcodec train-gan --data data/videos/carphone.mp4 --name pgan-talk "
        "--domain 'talking head' --out runs/pgan-talk --install weights/",
    )
    from .train.cli_args import add_gan_arguments

    add_gan_arguments(tg)
    _add_common(tg)

    ex = sub.add_parser(
        "export", help="export a model's transforms to ONNX, optionally checked against torch",
        description="Export the analysis and synthesis transforms of an installed model to ONNX (opset 17, "
        "dynamic batch, height and width). Without --out this fills the cache that encode and decode "
        "use ($VIDCODEC_CACHE, default $XDG_CACHE_HOME/vidcodec, else ~/.cache/vidcodec). --check runs torch and ONNX Runtime on a "
        "clip's first frames and reports latent and image errors and how many quantized symbols differ; "
        "the exit status is 1 if they are outside the marks it prints. The files' inputs and outputs "
        "(x: RGB in [0,1], sides multiples of 16 -> y: the unquantized latent -> x_hat, unclamped) are in "
        "docs/DESIGN.md, under Inference.",
        formatter_class=_Defaults,
    )
    ex.add_argument("--model", default=DEFAULT_MODEL, help="installed model name")
    ex.add_argument("--out", metavar="DIR", help="write analysis.onnx, synthesis.onnx and manifest.json here "
                    "instead of the cache")
    ex.add_argument("--check", metavar="CLIP", help="compare torch and ONNX Runtime on this video's first frames")
    ex.add_argument("--frames", type=int, metavar="N", help="frames of the --check clip (default 8)")
    ex.add_argument("-y", "--overwrite", action="store_true", help="replace an export already in --out")
    ex.add_argument("--json", action="store_true", help="print the paths and the check report as JSON")
    _add_common(ex)
    parser.verbs = sub.choices  # each verb's own parser, by name: main() reports stray arguments with it
    return parser


def _cmd_encode(a: argparse.Namespace) -> int:
    from . import api  # torch and PyAV load here, not for --help or --version
    from .media import frame_pattern

    out = sys.stdout.buffer if a.output == "-" else a.output
    raw = None
    framerate = None
    if a.size is None and a.fps is not None and frame_pattern(a.input):
        framerate, a.fps = a.fps, None  # an image sequence's rate, as ffmpeg's -framerate
    if a.size is None and a.pix_fmt is not None and frame_pattern(a.input):
        raise UsageError("--pix-fmt describes raw input; an image sequence's files say what they hold")
    if a.size is None and (a.fps is not None or a.pix_fmt is not None):
        if a.input != "-" and Path(a.input).is_file():  # a container: say so, not "give --size" (then refused)
            from .media import refuse_container_as_raw

            given = " and ".join(o for o, v in (("--fps", a.fps), ("--pix-fmt", a.pix_fmt)) if v is not None)
            refuse_container_as_raw(Path(a.input), given, "; --fps also gives an image sequence's rate, e.g. "
                                    f"frame%04d.png; to change a video's rate, convert it first: ffmpeg -i IN -r {a.fps} OUT"
                                    if a.fps is not None else "")
        raise UsageError("--fps and --pix-fmt describe raw input: give --size WxH too (a container file "
                         "carries its own; --fps also gives an image sequence's rate, e.g. frame%04d.png)")
    if a.size is not None:
        a.pix_fmt = a.pix_fmt or "yuv420p"
        from .media import RawFormat

        w, h = _parse_size(a.size)
        raw = RawFormat(w, h, api.frame_rate("25" if a.fps is None else a.fps), a.pix_fmt)
    stop = threading.Event()
    # GAN mode searches about a second a frame, and --gop-batch GOPs at once: more than the grace period
    with _finish_on_interrupt(stop, None if a.mode == "gan" else FINISH_GRACE_S):
        s = api.encode(a.input, out, quality=a.quality, gop=a.gop, coder=a.coder, latent_bits=a.latent_bits,
                       model=a.model, overwrite=a.overwrite, progress=not a.quiet, max_frames=a.frames,
                       backend=a.backend, bitrate=a.bitrate, bufsize=a.bufsize,
                       repeat_header=True if a.repeat_header else None, raw=raw,
                       audio=not a.no_audio, refine=a.refine, subpel=a.subpel, mode=a.mode,
                       search_iters=a.search_iters, key_bits=a.key_bits, gop_batch=a.gop_batch,
                       gan_layer=a.gan_layer, coeffs=a.coeffs, workers=a.workers, colour=not a.no_colour,
                       preset=a.preset, prefilter=not a.no_prefilter, start=a.start, stop=stop,
                       framerate=framerate, network_timeout=a.timeout, duration=a.duration, realtime=a.realtime)
    if stop.is_set() and not s.frames:  # (its output removed: api._drop_frameless)
        interrupt = KeyboardInterrupt()
        interrupt.add_note(api.NOTHING_ENCODED)
        raise interrupt
    if not a.quiet:
        if a.bitrate is not None:
            used = ", ".join(f"q{q}: {n}" for q, n in s.qualities.items())
            print(f"rate control: target {a.bitrate:.1f} kbit/s, achieved {s.video_kbps:.1f} kbit/s of video "
                  f"({100 * (s.video_kbps / a.bitrate - 1):+.1f} %); frames per quality: {used}", file=sys.stderr)
        rate = f"{s.kbps:.1f} kbit/s" + (f" (video {s.video_kbps:.1f}, audio {s.kbps - s.video_kbps:.1f})"
                                         if s.audio_bytes else "")
        print(f"encoded {s.frames} frame{'' if s.frames == 1 else 's'} ({s.keyframes} key) {s.width}x{s.height} -> {a.output}: "
              f"{s.bytes} bytes, {s.bpp:.4f} bpp, {rate}, {s.fps:.1f} fps", file=sys.stderr)
    if stop.is_set():  # finished early by Ctrl-C: the stream is complete, the input was not
        raise KeyboardInterrupt
    return 0


# After a first Ctrl-C an encode finishes the frames it has read; if it has not within this many
# seconds (an input that stalls mid-read), the interrupt takes effect as a second Ctrl-C does.
FINISH_GRACE_S = 3.0
_INTERRUPTED = threading.Event()  # Ctrl-C or SIGTERM during this command


def _stopping() -> None:
    """The command was asked to stop (Ctrl-C, SIGTERM): remembered for the exit code, and the pipeline's
    stages no longer wait long for threads that may be stuck in a read."""
    _INTERRUPTED.set()
    from . import pipeline

    pipeline.JOIN_TIMEOUT_S = pipeline.STOPPING_JOIN_S  # stages no longer wait long for their threads


@contextlib.contextmanager
def _finish_on_interrupt(stop: threading.Event, grace: float | None = FINISH_GRACE_S):
    """The first Ctrl-C sets ``stop`` (the encode stops reading and codes and writes what it holds:
    a keyframe waits for the prefilter's next frames, and a live stream would otherwise lose them, as
    FFmpeg's first Ctrl-C does not); a second one, or ``grace`` seconds later (None: only a second
    one), interrupts."""
    timer: list[threading.Timer] = []

    def first(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        _stopping()
        logging.getLogger("vidcodec").info("interrupted: finishing the frames already read (Ctrl-C again "
                                           "to stop at once)")
        if grace is None:
            return
        # a real signal to the main thread: it also wakes a wait on a lock (_thread.interrupt_main would not;
        # it is the fallback where there are no POSIX threads' signals, on Windows)
        main = threading.main_thread().ident
        kill = getattr(signal, "pthread_kill", None)
        timer.append(threading.Timer(grace, kill, (main, signal.SIGINT)) if kill is not None
                     else threading.Timer(grace, _thread.interrupt_main))
        timer[0].daemon = True
        timer[0].start()

    with _signal_handler(signal.SIGINT, first):
        try:
            yield
        finally:
            for t in timer:
                t.cancel()


def _cmd_decode(a: argparse.Namespace) -> int:
    from . import api

    s = api.decode(a.input, a.output, overwrite=a.overwrite, progress=not a.quiet, backend=a.backend,
                   start=a.start, max_frames=a.frames, follow=a.follow, follow_timeout=_follow_timeout(a),
                   audio=not a.no_audio, workers=a.workers, pix_fmt=a.pix_fmt, duration=a.duration,
                   stdout_format=a.format)  # None: y4m on stdout
    if not a.quiet:
        concealed = f", {s.concealed} concealed" if s.concealed else ""
        grid = (f", {s.pictures} pictures on the y4m's one frame rate" if s.pictures is not None
                and s.pictures != s.frames else "")
        print(f"decoded {s.frames} frame{'' if s.frames == 1 else 's'}{concealed}{grid} -> {a.output} "
              f"({s.fps:.1f} fps)", file=sys.stderr)
    if s.concealed:
        print(f"vidcodec decode: error: the stream is damaged ({s.damaged} damaged region(s)): {s.concealed} of "
              f"{s.frames} frames were concealed by repeating the previous frame", file=sys.stderr)
        return 1
    return 0


def _cmd_remux(a: argparse.Namespace) -> int:
    from .streamcopy import remux

    s = remux(a.inputs, a.output, start=a.start, duration=a.duration, max_frames=a.frames,
              segment_time=a.segment_time, audio=not a.no_audio, overwrite=a.overwrite,
              repeat_header=a.repeat_header or None, progress=not a.quiet, realtime=a.realtime)
    if not a.quiet:
        audio = f", {s.audio_packets} audio packet{'' if s.audio_packets == 1 else 's'}" if s.audio_packets else ""
        began = f", from {s.start:.3f} s" if s.start else ""
        out = a.output if not s.segments else (f"{len(s.segments)} segment{'' if len(s.segments) == 1 else 's'}, "
                                               f"{s.segments[0]} to {s.segments[-1]}")
        print(f"remuxed {s.frames} frame{'' if s.frames == 1 else 's'} ({s.keyframes} key){audio}{began} -> "
              f"{out} ({s.bytes} bytes)", file=sys.stderr)
    if s.dropped or s.damaged:
        print(f"vidcodec remux: error: the input is damaged where it was copied ({s.damaged} damaged region(s) "
              f"whose frames are lost; {s.dropped} packet(s) left out that cannot decode: deltas after damage, up to the "
              "next keyframe, and packets out of order); "
              "the output holds the frames that decode", file=sys.stderr)
        return 1
    return 0


def _cmd_play(a: argparse.Namespace) -> int:
    from . import play  # torch, PyAV, OpenCV load here

    if a.frames is not None and a.frames < 1:
        from .errors import UsageError

        raise UsageError(f"--frames must be at least 1 (got {a.frames})")
    src = container.stdin_stream() if a.input == "-" else a.input
    s = play.play(src, to=a.to, start=a.start, max_frames=a.frames, backend=a.backend, follow=a.follow,
                  follow_timeout=_follow_timeout(a), overwrite=a.overwrite, show_info=not a.no_info,
                  pix_fmt=a.pix_fmt)
    if not a.quiet:
        dropped = f", dropped {s.dropped} late frame(s) to keep real time" if s.dropped else ""
        print(f"played {s.shown} frames{dropped}" + (f", {s.concealed} concealed" if s.concealed else ""),
              file=sys.stderr)
    if s.concealed:
        print(f"vidcodec play: error: the stream is damaged: {s.concealed} frames were concealed", file=sys.stderr)
        return 1
    return 0


def _num(value: object, spec: str) -> str:
    """A number as ffprobe prints it (fixed decimals); None (unknown) as ffprobe's N/A."""
    if value is None:
        return "N/A"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def format_probe(r: dict) -> str:
    """Human-readable ``vidcodec info`` text of a :func:`vidcodec.container.probe` report."""
    h = r["header"]
    joined = (f" (a parameters packet's: the stream was joined at byte {r['joined_at']})"
              if r.get("joined_at") is not None else "")
    lines = [f"{r['format']} version {r['version']}, header {r['header_size']} bytes{joined}"]
    names = {str(container.EXT_AUDIO): "audio track", str(container.EXT_SAMPLE_ASPECT): "sample aspect ratio",
             str(container.EXT_SUBPEL): "sub-pixel table", str(container.EXT_CHROMA): "source chroma",
             str(container.EXT_COLOUR): "colour description"}
    for k, v in h.items():
        if k == "extensions":  # payloads in hex are for --json; people get what they are and their size
            v = ", ".join(f"{names.get(t, 'tag ' + t)} ({len(x) // 2} bytes)" for t, x in v.items()) or "none"
        elif k == "pts_step" and v is None:
            v = "none (pts in time-base units)"
        elif k == "frame_count" and v == 0:
            counted = r.get("index_frame_count")
            v = ("0 (not recorded: the writer did not know it" + (f"; the index counts {counted})" if counted else ")"))
        elif v is None:
            v = "none"
        elif isinstance(v, str):  # the model's name, as the stream spells it
            v = shown(v)
        elif k == "quality" and (used := r.get("keyframe_qualities")) and set(used) != {v}:
            # informative only (each key payload's level decodes; --bitrate writes 1): what each GOP got
            v = f"{v} (informative; each GOP's, in order: {', '.join(map(str, used[:20]))}{' ...' if len(used) > 20 else ''})"
        lines.append(f"  {k:<14} {v}")
    if r.get("audio"):
        au = r["audio"]
        lines.append(f"audio: {au['error']}" if "error" in au else
                     f"audio: {au['codec']}, {au['sample_rate']} Hz, {au['layout'] or str(au['channels']) + ' channels'}")
    frames = str(r["frames"])
    # (read only in part, --frames or -t: of the frames found there)
    expected = r["frames"] if r.get("stopped") else max(r.get("index_frame_count") or h.get("frame_count") or 0,
                                                         r["frames"])
    decodable = r.get("decodable_frames", r["frames"])
    if _frame_damage(r) and expected != decodable:  # what decode makes of it: the others concealed
        frames = f"{decodable} decodable of {expected} (decode conceals the rest)"
    elif _short(r):
        frames = f"{r['frames']} (of the {h['frame_count']} its header announces)"
    lines.append(f"packets: {r['packet_count']} ({r['packet_bytes']} bytes), frames: {frames}, "
                 f"duration: {_num(r['duration_seconds'], '.6f')} s, size: {r['bytes']} bytes, "
                 f"bit rate: {_num(r['bit_rate'], '.0f')} bit/s")
    for kind, st in r["packets"].items():
        if st.get("count"):
            lines.append(f"  {kind:<10} " + ", ".join(f"{k} {round(v, 1) if isinstance(v, float) else v}" for k, v in st.items()))
    lines.append(f"keyframes at pts: {r['keyframe_pts'][:20]}{' ...' if len(r['keyframe_pts']) > 20 else ''}")
    if r.get("flagged_packets"):
        # format 11.0 mode 0: flag bit 0 is a colour correction (docs/FORMAT.md)
        colour = int(r["version"].split(".")[0]) >= 11 and h["mode"] == "vaegan"
        lines.append("flagged packets: " + ", ".join(
            f"{k} x{n}" + (" (colour correction)" if colour and k == "0x01" else "")
            for k, n in r["flagged_packets"].items()))
    if r.get("stopped"):
        lines.append("read: stopped there, as asked (--frames or -t); the rest of the stream and its index not read")
    elif r.get("index_damaged"):
        lines.append("index: damaged (ignored: readers scan the stream instead)")
    elif r.get("index_read") and not r["index_present"]:  # the index whole, the footer after it not
        lines.append("index: read at the stream's end, but the footer after it is missing or cut off (the file was "
                     "cut short after the writer closed it; every packet is whole, and seeking scans)")
    else:
        lines.append(f"index: {'present' if r['index_present'] else 'absent'}"
                     + ("" if r["index_present"] or r["truncated"] or r["damaged"]
                        else " (the writer did not close the stream: stopped, crashed or cut off?)"))
    if r["damaged"]:
        lines.append(f"damaged regions: {len(r['damaged'])} (first at byte {r['damaged'][0]['offset']})")
    if r["truncated"]:
        lines.append(f"truncated: {r['truncated']['message']}")
    if "packet_list" in r:
        lines.append(f"{'stream':>6} {'type':<10} {'pts':>12} {'time':>12} {'size':>8} {'bytes':>8} {'offset':>12} flags")
        lines.extend(f"{p['stream']:>6} {p['type']:<10} {p['pts']:>12} {p['time']:>12.6f} {p['size']:>8} "
                     f"{p['bytes']:>8} {p['offset']:>12} 0x{p['flags']:02x}" for p in r["packet_list"])
    return "\n".join(lines)


def _audio_summary(report: dict) -> dict | None:
    """What ffprobe says first of an audio stream (codec, sample rate, channels), from the audio
    track's description in the header; None without one, {"error": ...} when it cannot be read."""
    data = report["header"].get("extensions", {}).get(str(container.EXT_AUDIO))
    if data is None:
        return None
    from . import media

    try:
        stream = media.AudioTrack.from_bytes(bytes.fromhex(data)).template()
        ctx = stream.codec_context
        return {"codec": ctx.name, "sample_rate": ctx.sample_rate, "channels": ctx.channels,
                "layout": ctx.layout.name if ctx.layout is not None else None}
    except (VidcodecError, ValueError, AttributeError) as e:
        return {"error": str(e)}


def _cmd_info(a: argparse.Namespace) -> int:
    if a.frames is not None and a.frames < 1:
        raise UsageError(f"--frames must be at least 1 (got {a.frames})")
    if a.duration is not None and a.duration <= 0:
        raise UsageError(f"--duration (-t) must be a time above 0 (got {float(a.duration):g})")
    from .codec.vaegan import key_level

    report = container.probe(container.stdin_stream() if a.input == "-" else a.input, packets=a.packets,
                             max_frames=a.frames, duration=a.duration, key_level=key_level)
    audio = _audio_summary(report)
    if audio is not None:
        report["audio"] = audio
    print(json.dumps(report, indent=2, default=str) if a.json else format_probe(report))
    # The report (stdout) says it too; stderr has the error lines, as decode's, for scripts and logs.
    damage = [d for d in report["damaged"] if not d.get("index")]  # packets' (the index has its line below)
    if damage:
        lost = "" if _frame_damage(report) else " (no frame is lost: decode conceals none)"
        print(f"vidcodec info: error: {len(damage)} damaged region(s), the first at byte "
              f"{damage[0]['offset']}{lost}", file=sys.stderr)
    if report["truncated"]:
        print(f"vidcodec info: error: {report['truncated']['message']}", file=sys.stderr)
    elif report["trailing_at"] is not None and not report["damaged"]:
        # a whole stream, then more (`cat a.gvc b.gvc`): decode reads the first stream and exits 0
        print(f"vidcodec info: warning: the stream ends at byte {report['trailing_at']} and other data follows "
              "(streams joined with cat?); this reports the first stream, which decode reads (vidcodec remux "
              "joins streams: vidcodec remux a.gvc b.gvc ab.gvc)", file=sys.stderr)
    elif report["index_damaged"] and not damage:
        print("vidcodec info: error: the keyframe index or the footer is damaged (the packets are whole)",
              file=sys.stderr)
    elif _short(report):
        print(f"vidcodec info: warning: the stream ends without its index after {report['frames']} of the "
              f"{report['header']['frame_count']} frames its header announces: its encoder was stopped, killed or "
              "cut off at a packet's end, or is still writing (vidcodec remux IN OUT indexes what is there)",
              file=sys.stderr)
    # a truncated stream is an input error (2), as for decode; damage anywhere (1), where decode fails
    # only for damage that loses frames; a whole stream followed by other data is not damaged
    if report["truncated"]:
        return 2
    if report["trailing_at"] is not None and not report["damaged"]:
        return 0
    return 1 if report["damaged"] or report["index_damaged"] else 0


def _short(report: dict) -> bool:
    """Whether a probe report's stream ends, unindexed and whole, before the frames its header announces."""
    return (not report["index_present"] and not report.get("index_read") and not report.get("stopped")
            and not report["truncated"] and not report["damaged"] and report["trailing_at"] is None
            and report.get("joined_at") is None  # a late joiner's header counts the frames before it joined
            and report["frames"] < (report["header"].get("frame_count") or 0))


def _frame_damage(report: dict) -> list[dict]:
    """The damaged regions of a probe report that can take frames with them: not the keyframe index,
    not one audio packet whose header was whole."""
    return [d for d in report["damaged"] if not d.get("index") and d.get("stream") in (None, 0) and not d.get("repeat")]


def _cmd_eval(a: argparse.Namespace) -> int:
    from .evaluate import rd

    if a.frames < 1:
        raise UsageError(f"--frames must be at least 1 (got {a.frames})")
    if a.skip < 0:
        raise UsageError(f"--skip must be 0 or more frames (got {a.skip})")
    size = _parse_size(a.size)
    if size:
        rd.check_metric_size(f"--size {a.size}", *size)
    clips = rd.expand_clips(a.clips)
    _check_eval_options(a)
    if a.codecs is None:
        a.codecs = list(DEFAULT_EVAL_CODECS)
    if a.mode != "gan" and a.gop == 1 and "vidcodec" in a.codecs and "vidcodec-intra" in a.codecs:
        raise UsageError("--gop 1 makes vidcodec's curve every-frame-a-keyframe, which is vidcodec-intra's: give "
                         "--codecs without one of the two, or a --gop above 1")
    rd.check_codecs(a.codecs, a.model or DEFAULT_MODEL)  # before the first clip's minutes of work, not after
    _check_outputs(out_dir=a.out, out_file=a.json)
    _refuse_earlier_results(a)
    if a.mode == "gan":
        rd.check_clips(clips)
        return _eval_gan(a, clips, size)
    ours = rd.measures_vidcodec(a.codecs)
    if a.model is not None and not ours:
        raise UsageError(f"--model {a.model}: none of --codecs ({' '.join(a.codecs)}) is vidcodec's, so no model "
                         "is measured; add vidcodec to --codecs, or leave --model out")
    if a.qualities and not ours:
        raise UsageError("--qualities: none of --codecs is vidcodec's; add vidcodec to --codecs, or leave it out")
    if a.model is None:
        a.model = DEFAULT_MODEL
    if a.qualities or ours:  # the model and levels, checked now
        from . import api

        levels = api.quality_range(a.model)
        bad = [q for q in a.qualities or [] if q not in levels]
        if bad:
            raise UsageError(f"--qualities {' '.join(map(str, bad))}: {a.model} has levels {levels.start} to "
                             f"{levels.stop - 1}")
    rd.check_clips(clips)  # every clip opens and is large enough, before the first one is measured
    if a.bitrate:
        rows = []
        for clip in clips:
            rows += rd.rate_control_rows(clip, a.bitrate, a.frames, a.gop, a.model, a.skip, size=size)
        print(rd.format_table(rows))
        if a.out:
            rd.write_csv(rows, _results_folder(a) / "ratecontrol.csv")
        if a.json:
            write_file(a.json, json.dumps(rows, indent=1, default=str) + "\n")
        return 0
    points, done = [], 0
    try:
        for i, clip in enumerate(clips):
            if not a.quiet:
                print(f"[{i + 1}/{len(clips)}] {clip}", file=sys.stderr)
            points += rd.evaluate_clip(clip, frames=a.frames, gop=a.gop or DEFAULT_GOP, codecs=a.codecs,
                                       model=a.model, qualities=a.qualities, skip=a.skip, size=size)
            done += 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the clips measured so far are reported, then the interrupt
        if not points:
            raise
        print(f"vidcodec eval: interrupted; reporting the {done} clip(s) measured before it", file=sys.stderr)
        _eval_report(a, points)
        raise
    except VidcodecError:  # a later clip that cannot be measured: the earlier ones' minutes are not lost
        if not points:
            raise
        print(f"vidcodec eval: {clips[done]} cannot be measured (below); reporting the {done} clip(s) measured "
              "before it", file=sys.stderr)
        _eval_report(a, points)
        raise
    _eval_report(a, points)
    return 0


def _eval_report(a: argparse.Namespace, points: list) -> None:
    """eval's tables on stdout and its files (--out, --json) for ``points``."""
    from .evaluate import rd

    written: list[Path] = []
    out = _results_folder(a) if a.out else None
    if a.table == "seed":
        seed = rd.seed_table(points)
        print(rd.format_table(seed))
        if out:
            rd.write_csv(seed, out / "seed_table.csv")
            written.append(out / "seed_table.csv")
    else:
        summary = rd.summarize(points)
        # without a vidcodec curve (x264 against x265, say) there is no summary: the points themselves
        print(rd.format_table(summary or [p.as_dict() for p in points]))
        print()
        bd = rd.all_bd_rates(points)
        print(rd.format_table(bd))
        note = rd.bd_note(bd)
        if note:
            print(note)
    if out:
        paths = rd.save_report(points, out)
        if not a.quiet:
            print("wrote " + ", ".join(str(p) for p in [*paths.values(), *written]), file=sys.stderr)
    if a.json:
        write_file(a.json, json.dumps([p.as_dict() for p in points], indent=1) + "\n")


def _check_eval_options(a: argparse.Namespace) -> None:
    """UsageError for eval options that the chosen measurement would ignore without a word."""
    if a.gop is not None and a.gop < 1:  # not 0 taken as the default, or x264 given -g -5
        raise UsageError(f"--gop must be 1 to {container.MAX_GOP} frames (1 = every frame a keyframe; got {a.gop})")
    given = [flag for flag, on in (("--codecs", a.codecs is not None), ("--qualities", bool(a.qualities)),
                                   ("--table seed", a.table == "seed")) if on]
    gan_only = [flag for flag, on in (("--search-iters", a.search_iters != DEFAULT_SEARCH_ITERS),
                                      ("--gan-layer", a.gan_layer != str(DEFAULT_GAN_LAYER)),
                                      ("--coeffs", a.coeffs != DEFAULT_GAN_COEFFS)) if on]
    if a.mode == "gan":
        if a.gan_layer == "z" and a.coeffs != DEFAULT_GAN_COEFFS:
            raise UsageError("--coeffs is the sparse correction of a --gan-layer feature map: not with --gan-layer z")
        if a.frames < 2:  # said now, not after the seed table's encodes
            raise UsageError(f"--mode gan measures a warm-started search from frame to frame: --frames must be at "
                             f"least 2 (got {a.frames})")
        if given or a.bitrate:
            raise UsageError(f"{', '.join(given + (['--bitrate'] if a.bitrate else []))}: not with --mode gan, "
                             "which measures the seed's table (its rates are set by --gan-layer and --coeffs)")
        return
    if gan_only:
        raise UsageError(f"{', '.join(gan_only)}: for --mode gan only")
    if a.qualities and len(set(a.qualities)) < len(a.qualities):
        raise UsageError(f"--qualities names a level more than once ({' '.join(map(str, a.qualities))})")
    if a.bitrate and given:
        raise UsageError(f"{', '.join(given)}: not with --bitrate, which measures vidcodec's rate control "
                         "against x264's one-pass average bitrate at each target")


EVAL_FILES = ("points.csv", "points.json", "bdrate.csv", "summary.csv", "rd.png", "ratecontrol.csv",
              "seed_table.csv", "gan.json")  # what eval writes into --out


def _refuse_earlier_results(a: argparse.Namespace) -> None:
    """OutputExistsError, before any work, for an --out that holds an earlier eval's results or a
    --json file that exists, unless -y."""
    if a.overwrite:
        return
    if a.out and (found := [n for n in EVAL_FILES if (Path(a.out) / n).exists()]):
        raise OutputExistsError(f"{a.out} already holds results ({', '.join(found)}); pass -y to replace them "
                                "(all of them: a run writes only its own), or give another --out")
    if a.json and Path(a.json).exists():
        raise OutputExistsError(f"{a.json} exists; pass -y to replace it, or give another --json")


def _results_folder(a: argparse.Namespace) -> Path:
    """eval's --out, made if need be, without an earlier run's results (-y replaces them; left there, a
    --bitrate run's ratecontrol.csv sat beside an older run's points and plot as if one run's)."""
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in EVAL_FILES:
        (out / name).unlink(missing_ok=True)
    return out


def _check_outputs(*, out_dir: str | None = None, out_file: str | None = None) -> None:
    """UsageError now, not after minutes of work, for an output folder that is a file or an output
    file that is a folder or in a folder that does not exist."""
    if out_dir and Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise UsageError(f"{out_dir} is a file: give a folder (new or existing) for the outputs")
    if out_dir and writable_folder(out_dir) is None:  # the folder, or the nearest one above it that exists
        raise UsageError(f"{out_dir}: cannot write there; give a folder you can write to")
    if out_file:
        path = Path(out_file)
        if path.is_dir():
            raise UsageError(f"{out_file} is a folder: give a file name for the JSON")
        if not path.parent.is_dir():
            raise UsageError(f"{path.parent} does not exist: create it, or give another path for the JSON")
        if writable_folder(path.parent) is None or (path.exists() and not os.access(path, os.W_OK)):
            raise UsageError(f"{out_file}: cannot write there; give a path you can write to")


def _eval_gan(a: argparse.Namespace, clips: list[Path], size: tuple[int, int] | None) -> int:
    from .evaluate import gan, rd
    from .models import zoo

    model = a.model or DEFAULT_GAN_MODEL
    info = zoo.find(model)  # before any clip's minutes of search: the model is there and a generator
    if info.meta.get("kind") != "pgan":
        raise UsageError(f"model {info.name} is a VAE-GAN model: --mode gan measures a GAN generator (default "
                         f"{DEFAULT_GAN_MODEL}); measure {info.name} with --mode vaegan")
    a.gop = a.gop or DEFAULT_GAN_GOP
    rows, studies, points = [], [], []
    for i, clip in enumerate(clips):
        if not a.quiet:
            print(f"[{i + 1}/{len(clips)}] {clip}", file=sys.stderr)
        ref, rate = rd.read_frames(clip, a.frames, a.skip, size)
        measured = gan.seed_table_points(clip, ref, rate, model=model, gop=a.gop, search_iters=a.search_iters,
                                         gan_layer=a.gan_layer, coeffs=a.coeffs)
        rows += gan.seed_table(measured)
        points += [p for p, _ in measured]
        studies.append(gan.warm_start_study(clip, ref, model=model))
    print(rd.format_table(rows))
    print()
    print(rd.format_table([{k: v for k, v in s.items() if k not in ("cap", "tol_db")} for s in studies]))
    if a.out:
        out = _results_folder(a)
        rd.write_csv(rows, out / "seed_table.csv")
        write_file(out / "gan.json", json.dumps({"model": model, "skip": a.skip, "frames": a.frames, "gop": a.gop,
                                                  "search_iters": a.search_iters, "gan_layer": a.gan_layer,
                                                  "coeffs": a.coeffs, "table": rows,
                                                  "warm_start": studies}, indent=1) + "\n")
    if a.json:
        write_file(a.json, json.dumps([p.as_dict() for p in points], indent=1) + "\n")
    return 0


def _parse_size(text: str | None) -> tuple[int, int] | None:

    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size must look like 640x360 (got {text!r})") from None
    if not (1 <= w <= 16384 and 1 <= h <= 16384):  # the format's range (docs/FORMAT.md), as files get
        raise UsageError(f"--size must be between 1x1 and 16384x16384 (got {text})")
    return w, h


def _cmd_bench(a: argparse.Namespace) -> int:
    from .evaluate import bench

    r = bench.bench(a.clip, _parse_size(a.size), a.frames, a.backend, a.model, a.quality, gop=a.gop, runs=a.runs,
                    subpel=a.subpel, workers=a.workers, preset=a.preset)
    print(json.dumps(r, indent=2) if a.json else bench.format_report(r))
    return 0


def _notes(interrupt: BaseException) -> str:
    """What the library added to an interrupt (``add_note``: what it kept or removed), for its one line."""
    return "".join(f" {note}" for note in getattr(interrupt, "__notes__", ()))


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so that it is handled alike."""

    signum, said = signal.SIGTERM, "terminated"


class _HungUp(_Terminated):
    """SIGHUP (the terminal or the ssh connection that ran the command went away), handled as SIGTERM."""

    signum, said = getattr(signal, "SIGHUP", 1), "hung up"


@contextlib.contextmanager
def _interrupt_on_sigterm():
    """A SIGTERM (``kill``, a job scheduler's or a container's stop) ends a command as Ctrl-C does:
    outputs finished (an mp4 gets its index, a stream its packets so far), training checkpointed;
    the exit code is then 143, Ctrl-C's 130. (Without it a decode to mkv stopped this way left an
    empty file.) A SIGHUP likewise, exit 129 (its default had killed the process: an mp4 without its
    index, which players refuse), unless it is ignored (``nohup``: the command goes on)."""
    def stop(signum, frame):
        _stopping()
        raise _HungUp if signum == signal.SIGHUP else _Terminated

    def interrupt(signum, frame):  # Ctrl-C as Python's own handler, and stages stop waiting long for threads
        _stopping()
        raise KeyboardInterrupt

    with contextlib.ExitStack() as stack:
        stack.enter_context(_signal_handler(signal.SIGTERM, stop))
        if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) is signal.SIG_DFL:
            stack.enter_context(_signal_handler(signal.SIGHUP, stop))
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            stack.enter_context(_signal_handler(signal.SIGINT, interrupt))
        yield


@contextlib.contextmanager
def _signal_handler(signum: int, handler):
    """``handler`` for ``signum`` inside the block, the one before it restored after; nothing changes
    where signals cannot be set (not the main thread: an embedding program's, whose signals are its own)."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _cmd_train(a: argparse.Namespace) -> int:
    from .train import vaegan  # torch loads here

    cfg = vaegan.config_from_args(a)
    if int(os.environ.get("RANK", "0")) > 0:  # under torchrun: rank 0 says it all (every rank reads the same data)
        a.quiet = True
        logging.getLogger("vidcodec").setLevel(logging.ERROR)
    best = vaegan.train(cfg, progress=not a.quiet)
    if not a.quiet:
        print(_train_outcome(best), file=sys.stderr)
    return 0


def _train_outcome(best: Path) -> str:
    """What a finished `vidcodec train` left in its folder: the best checkpoint, else the last one (a
    resumed run whose folder has no best.safetensors trained and saved, but had said it wrote nothing)."""
    if best.exists():
        return f"best checkpoint: {best}"
    last = best.with_name("last.safetensors")
    if last.exists():
        return (f"last checkpoint: {last} (no best.safetensors: no validation ran, or none improved on the run's "
                "best; `python -m vidcodec.train.package` takes either)")
    return "no checkpoint written (no step was trained)"


def _check_install_folder(folder: Path) -> None:
    """UsageError unless ``folder`` is, or can be made as, a writable folder (``--install``)."""
    if writable_folder(folder) is None:
        there = next(p for p in (folder, *folder.parents) if p.exists())
        if not there.is_dir():
            raise UsageError(f"--install {folder}: {there} is a file; give a folder to install the generator into")
        raise UsageError(f"--install {folder}: {there} is not writable; give a folder you can write to")


def _cmd_train_gan(a: argparse.Namespace) -> int:
    from .train import pgan  # torch loads here
    from .train.cli_args import gan_config_from_args

    cfg = gan_config_from_args(a)
    if a.install:  # said before the training, not after it
        _check_install_folder(Path(a.install))
    try:
        best = pgan.train(cfg, progress=not a.quiet, resume=a.resume)
    except KeyboardInterrupt:
        # Ctrl-C is how a train-gan phase is stopped (it has no --steps): --install still installs what
        # the run has, its best checkpoint (the last one without validation)
        run = Path(cfg.out)
        kept = run / "best.safetensors" if (run / "best.safetensors").exists() else run / "last.safetensors"
        if a.install and kept.exists():
            out = pgan.export_generator(kept, Path(a.install) / f"{cfg.name}.safetensors")
            print(f"interrupted: installed {kept} as {out} (+ {out.with_suffix('.json').name})", file=sys.stderr)
        raise
    if not a.quiet:
        print(f"{'best' if best.name.startswith('best') else 'last (no validation)'} checkpoint: {best}",
              file=sys.stderr)
    if a.install:
        out = pgan.export_generator(best, Path(a.install) / f"{cfg.name}.safetensors")
        if not a.quiet:
            print(f"installed: {out} (+ {out.with_suffix('.json').name})", file=sys.stderr)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from . import media, runtime  # torch and ONNX load here
    from .models import zoo

    if a.frames is not None and not a.check:
        raise UsageError("--frames sets how many frames --check compares: give --check CLIP with it")
    if a.out is not None and not str(a.out).strip():  # `--out ""` (an unset shell variable): not the cache
        raise UsageError("--out is empty: give the folder to write the export to, or leave --out out to fill the cache")
    if a.out == "-":
        raise UsageError("--out names a folder for the three files of an export (analysis.onnx, synthesis.onnx, "
                         "manifest.json), not stdout: give a folder, e.g. --out export/")
    a.frames = 8 if a.frames is None else a.frames
    if a.frames < 1:
        raise UsageError(f"--frames must be at least 1 (got {a.frames})")
    m = zoo.load(a.model, backend="torch")  # an unknown model is the first thing to say
    if m.kind == "pgan":
        raise UsageError(f"{a.model} is a GAN generator: export writes a VAE-GAN model's analysis and synthesis "
                         "transforms (--mode gan searches its latents with torch)")
    if a.out and not a.overwrite:
        there = [name for name in ("analysis.onnx", "synthesis.onnx", "manifest.json") if (Path(a.out) / name).exists()]
        if there:
            raise UsageError(f"{a.out} already holds an export ({', '.join(there)}); pass -y to replace it")
    frames = []
    if a.check:  # read the clip first: a bad clip must not leave an export behind
        with media.open_source(a.check) as src:
            frames = [f.rgb for _, f in zip(range(a.frames), src)]
        if not frames:
            raise UsageError(f"{a.check} has no frames to check")
    _check_outputs(out_dir=a.out)
    paths = runtime.export_onnx(m, Path(a.out)) if a.out else runtime.cached_export(m, refresh=True)
    report = runtime.check_export(m, paths, frames) if a.check else None
    if a.json:
        print(json.dumps({"paths": {k: str(v) for k, v in paths.items()}, "check": report}, indent=2))
    else:
        print("\n".join(f"{part}: {path}" for part, path in paths.items()))
        if report:
            print(runtime.format_check(report))
    return 0 if report is None or report["ok"] else 1


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error`` or one of the exceptions it was raised from or during is a ``kind``."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _refuse_urls(args: argparse.Namespace) -> None:
    """A URL given to a verb that reads files: say so, and what to do (only encode opens URLs)."""
    from .urls import is_url

    given = [getattr(args, "input", None), getattr(args, "clip", None), *(getattr(args, "clips", None) or []),
             *(getattr(args, "inputs", None) or [])]
    from .network import is_network_url

    url = next((g for g in given if is_url(g)), None)
    if args.command in ("decode", "play") and is_network_url(out := getattr(args, "output", None)
                                                             or getattr(args, "to", None)):
        raise UsageError(f"{args.command} writes pictures to files or - (stdout), not {out}; a .gvc stream goes "
                         "over the network: `vidcodec remux IN.gvc URL --re` or `vidcodec encode IN URL`")
    if url is None or args.command == "encode":
        return
    if args.command in ("decode", "play", "info", "remux"):
        if is_network_url(url):
            return  # opened by _network_inputs
        fetch = f"curl -s {url}" if url.lower().startswith(("http", "ftp")) else "nc or socat receiving it"
        raise UsageError(f"{args.command} reads a .gvc file, - (stdin), tcp:// or udp://, not {url.split(':', 1)[0]}"
                         f"://; pipe the stream in: {fetch} | vidcodec {args.command} - ...")
    raise UsageError(f"{args.command} measures video files, not URLs; download {url} first")


@contextlib.contextmanager
def _network_inputs(args: argparse.Namespace) -> Iterator[None]:
    """tcp:// and udp:// inputs of decode, play, info and remux opened (a listening one waits for its
    sender here) and given to the verb as the byte streams they are; closed at the end. --timeout is
    refused where no input is a network one."""
    timeout = getattr(args, "timeout", None)
    if args.command not in ("decode", "play", "info", "remux"):
        yield
        return
    from .network import DEFAULT_TIMEOUT_S, is_network_url, open_input

    names = ["input"] if hasattr(args, "input") else []
    urls = [g for g in ([args.input] if names else args.inputs) if is_network_url(g)]
    if not urls:
        if timeout is not None:
            raise UsageError("--timeout is for tcp:// and udp:// inputs (a file's end is its end; --follow has "
                             "--follow-timeout)")
        yield
        return
    if len(urls) > 1 or (not names and "-" in args.inputs):
        raise UsageError("one input at a time can be a network stream or stdin; give the others as paths")
    if getattr(args, "follow", False):
        raise UsageError("--follow is for a file still being written; a network input is read as it arrives")
    _check_output_before_waiting(args)
    with open_input(urls[0], timeout=DEFAULT_TIMEOUT_S if timeout is None else timeout) as stream:
        if names:
            args.input = stream
        else:
            args.inputs = [stream if g == urls[0] else g for g in args.inputs]
        yield


def _check_output_before_waiting(args: argparse.Namespace) -> None:
    """What is wrong with the output file of decode, remux or play --to (it exists without -y, a kind
    never written, a missing folder), said before a listening input waits for its sender: else the
    receiver waits, and fails once the sender has connected (the verb checks it again, as from Python)."""
    from .network import is_network_url

    out = getattr(args, "to", None) if args.command == "play" else getattr(args, "output", None)
    if not isinstance(out, str) or out == "-" or is_network_url(out):
        return
    from . import api

    if args.command == "remux":  # as remux checks it
        from .streamcopy import check_output_name

        check_output_name(out)
        if "%" not in out:  # segments: each one's file is checked as it is made
            api._check_output(out, args.overwrite)
        return
    if args.command == "play":  # --to: a y4m, which play then decodes to
        from .play import check_to

        check_to(out)
    if out != os.devnull:  # (decode drops the pictures there)
        api.check_decode_output(out, args.overwrite)


def _os_error_text(e: OSError, args: argparse.Namespace) -> str:
    """An OSError in words, as ffmpeg gives it: the file it concerns, then the system's reason; a write
    that failed for lack of room (no file named) is the output's."""
    reason = e.strerror or str(e)
    if type(e).__module__.split(".")[0] == "av" and str(e.filename).endswith("()"):
        return f"{reason} ({e.filename})"  # PyAV's "filename" is then the FFmpeg call that failed
    if e.filename is not None:
        return f"{e.filename} -> {e.filename2}: {reason}" if e.filename2 is not None else f"{e.filename}: {reason}"
    out = getattr(args, "output", None) or getattr(args, "to", None)
    if out not in (None, "-") and e.errno in NO_ROOM:
        return f"cannot write {out}: {reason}"  # (the stdin spool's own failures say so themselves)
    if e.errno in NO_ROOM and args.command == "info":  # its report, on stdout (`> report.json`)
        return f"cannot write the report to stdout: {reason}"
    return reason


# eval's options that take several values, and what their values look like (a codec's name, a number)
EVAL_LISTS = {"--codecs": re.compile(r"(vidcodec|x264|x265|jpeg)[\w-]*"), "--qualities": re.compile(r"[\d.]+"),
              "--bitrate": re.compile(r"[\d.]+[kKMG]?")}


def _clips_last(argv: list[str]) -> list[str]:
    """``vidcodec eval --codecs vidcodec x264-medium clip.mp4``, options first as in ffmpeg: argparse takes
    every word after a list option as its value, the clip too ("CLIP|DIR is required"). A value of
    eval's list options that is not one (:data:`EVAL_LISTS`) and names a file or folder that exists is
    moved to the end, among the clips."""
    verb = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if verb is None or argv[verb] != "eval":
        return argv
    kept, clips, pattern = argv[:verb + 1], [], None
    for a in argv[verb + 1:]:
        if a.startswith("-") and a != "-":
            pattern = EVAL_LISTS.get(a)
        elif pattern is not None and not pattern.fullmatch(a) and os.path.exists(a):
            clips += ["--clip", a]  # (eval's hidden option: the clips are its positionals and these)
            continue
        kept.append(a)
    return kept + clips


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used as the process status)."""
    parser = build_parser()
    _Parser.argv = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    args, extra = parser.parse_known_args(_clips_last(list(_Parser.argv)))
    if extra and args.command == "remux" and not any(e.startswith("-") and e != "-" for e in extra):
        # `remux a.gvc b.gvc --segment-time 10 seg%03d.gvc`: argparse ends the inputs at the option
        args.inputs, args.output, extra = [*args.inputs, args.output, *extra[:-1]], extra[-1], []
    if extra:  # named by the verb's parser: `vidcodec encode ... --bogus` is encode's error, not vidcodec's
        parser.verbs[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "eval":
        args.clips = [*args.clips, *args.more_clips]
        if not args.clips:
            parser.verbs["eval"].error("the following arguments are required: CLIP|DIR")
    _pipe_names(args)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
                        format="vidcodec: %(message)s", stream=sys.stderr)
    handlers = {"encode": _cmd_encode, "decode": _cmd_decode, "info": _cmd_info, "eval": _cmd_eval,
                "export": _cmd_export, "train": _cmd_train, "train-gan": _cmd_train_gan,
                "bench": _cmd_bench, "play": _cmd_play, "remux": _cmd_remux}
    _INTERRUPTED.clear()
    try:
        return _run(args, argv, handlers)
    finally:  # a caller's main([...]) must not leave its process with short stage joins
        if "vidcodec.pipeline" in sys.modules:
            pipeline = sys.modules["vidcodec.pipeline"]
            pipeline.JOIN_TIMEOUT_S = pipeline.DEFAULT_JOIN_TIMEOUT_S


def _cli_text(message: str) -> str:
    """A library error's message as the command line says it: without the Python API's names that it
    gives beside the options' ("max_frames (--frames)" is --frames, "(overwrite=True from Python)" goes)."""
    message = re.sub(r"\b[a-z]+_[a-z_]+ \((--[a-z-]+)\)", r"\1", message)  # a keyword's name, then its option
    message = re.sub(r" \((?:[a-z_]+=|overwrite=True from Python)\)", "", message)  # "(network_timeout=)"
    return re.sub(r"\(([^()]*?), [a-z_]+=\)", r"(\1)", message)  # "(-t, duration=)"


def _pipe_names(args: argparse.Namespace) -> None:
    """ffmpeg's names of stdin and stdout, ``pipe:0``/``pipe:`` as an input and ``pipe:1``/``pipe:`` as an
    output, are ``-`` (a file named so is ``./pipe:1``)."""
    for name, ok in (("input", ("pipe:", "pipe:0")), ("output", ("pipe:", "pipe:1")), ("to", ("pipe:", "pipe:1"))):
        if getattr(args, name, None) in ok:
            setattr(args, name, "-")
    if getattr(args, "inputs", None):
        args.inputs = ["-" if i in ("pipe:", "pipe:0") else i for i in args.inputs]


def _out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` says that memory ran out: Python's MemoryError (numpy's _ArrayMemoryError), ONNX
    Runtime's std::bad_alloc, torch's allocator."""
    text = str(e)
    return isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or any(
        w in text for w in ("std::bad_alloc", "can't allocate memory", "Failed to allocate memory",
                            "CUDA out of memory", "CUDA failure 2: out of memory"))


def _closed_stdout(args: argparse.Namespace) -> None:
    """A command started with stdout closed (``>&-``: cron jobs, daemons) writes its text to nowhere, as
    ffmpeg does (it had ended in a traceback after its work was done); UsageError for one whose output
    is ``-``."""
    global _NOWHERE
    if sys.stdout is not None and sys.stdout is not _NOWHERE:
        return
    if "-" in (getattr(args, "output", None), getattr(args, "to", None)):
        raise UsageError("stdout is closed (>&-): give an output file, or run with stdout open for the pipe")
    if sys.stdout is None:
        sys.stdout = _NOWHERE = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process


_NOWHERE: object = None  # what a closed stdout was replaced with (a later main([...]) still refuses "-")


def _run(args: argparse.Namespace, argv: list[str] | None, handlers: dict) -> int:
    """The verb's handler with main()'s error handling (its exit code)."""
    try:
        _closed_stdout(args)
        with _interrupt_on_sigterm():
            _refuse_urls(args)
            with _network_inputs(args):
                code = handlers[args.command](args)
        sys.stdout.flush()  # here, not at exit, so that a closed pipe is handled below
    except VidcodecError as e:
        if e.exit_code == 0:  # e.g. the reader of a pipe went away: a quiet, normal end
            return 0
        print(f"vidcodec {args.command}: error: {_cli_text(str(e))}", file=sys.stderr)
        code = e.exit_code
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly, as decode does
        from . import media

        media._silence(sys.stdout)
        if not _INTERRUPTED.is_set():
            # a stream cut short is said (as decode says it); text cut short by `| head` is what its reader
            # asked for, said only with -v (ffprobe says nothing)
            logging.getLogger("vidcodec").log(logging.INFO if args.command in ("encode", "remux") else logging.DEBUG,
                                              "output pipe closed by its reader; stopping")
            return 0
        # a Ctrl-C to the whole pipeline also ended its reader: still an interrupted command
        print(f"vidcodec {args.command}: interrupted", file=sys.stderr)
        code = 130
    except OSError as e:  # e.g. disk full, permission denied: one line, no traceback
        print(f"vidcodec {args.command}: error: {_os_error_text(e, args)}", file=sys.stderr)
        code = 1
        try:  # what stdout still holds (a report to a full disk): not flushed again at exit, a second error
            sys.stdout.flush()
        except (OSError, ValueError):
            from . import media

            media._silence(sys.stdout)
    except _Terminated as e:
        with contextlib.suppress(OSError, ValueError):  # (a hang-up's terminal may be gone)
            print(f"vidcodec {args.command}: {e.said}{_notes(e)}", file=sys.stderr)
        code = 128 + e.signum
    except KeyboardInterrupt as e:
        print(f"vidcodec {args.command}: interrupted{_notes(e)}", file=sys.stderr)
        code = 130
    except ImportError as e:  # Ctrl-C while a verb's libraries load: some (onnxruntime) wrap it in theirs
        if not _caused_by(e, KeyboardInterrupt):
            raise
        print(f"vidcodec {args.command}: interrupted", file=sys.stderr)
        code = 130
    except Exception as e:  # out of memory (numpy's, ONNX Runtime's, torch's words): one line
        if not _out_of_memory(e):
            raise
        logging.getLogger("vidcodec").debug("out of memory", exc_info=e)  # -v: where
        lanes = " or code fewer frames at once (VIDCODEC_LANES=1)" if args.command in ("encode", "decode", "play") else ""
        print(f"vidcodec {args.command}: error: out of memory: this needs more than the process may use (ulimit -v, a "
              f"container's or the GPU's limit); free some, give smaller pictures{lanes}", file=sys.stderr)
        code = 1
    if code in (129, 130, 143) and argv is None:  # the command itself, not a caller's main([...])
        # The outputs are finished; a thread may still wait in a read of a live pipe, holding stdin's
        # lock, and Python's shutdown would then abort ("could not acquire lock for <stdin> at
        # interpreter shutdown", exit -6 instead of 130): leave without it.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    return code
