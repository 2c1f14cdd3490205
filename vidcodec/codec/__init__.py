"""Frame ↔ packet coding, one module per mode."""

DEFAULT_QUALITY = 4  # used for models whose card names no default_quality
DEFAULT_MODEL = "vaegan-i"
DEFAULT_GAN_MODEL = "pgan-carphone"  # --mode gan
# Keyframe interval when none is given: x264's default keyint, since a delta costs a fraction of a
# keyframe (on training clips, gop 250 against 32 saved 3-49 % BD-rate); scene cuts still start a GOP.
# Seeking stays cheap: frames before the target are entropy-decoded, not synthesized. The same with
# --bitrate (2026-12-05): the rate controller steers each delta's lambdas, so it no longer needs
# 1-s GOPs to change level, which cost vtest (still camera) 183 % PSNR BD-rate against gop 250 at
# fixed levels, diver 9 %, bikes 3 % (100 frames; docs/eval/ratecontrol-long-gop).
DEFAULT_GOP = 250
# encode --subpel: format 10.0 motion prediction of delta frames, the default first
SUBPEL_MODES = ("learned", "bilinear")
# encode --preset, the default (auto) first: "medium" codes as every measurement here was made; "fast" never
# weighs keeping the learned prediction's fraction (format 14.0's fine deltas: two syntheses a
# weighed delta, a third of diver's and nearly all of bikes' deltas). Measured 2026-12-05 on 200
# frames of diver at 640x360 through the CLI (2-core VM, tcmalloc): 24.9 -> 16.5 s of CPU.
# "auto" (the default) is one of them for the machine: see resolve_preset.
PRESETS = ("auto", "medium", "fast")
AUTO_PRESET = PRESETS[0]
DEFAULT_GAN_GOP = 32  # --mode gan: the interval its results in docs/MODELS.md were measured with
# --mode gan (vidcodec.codec.gan): QSGD bits of delta and keyframe latents, search iterations per delta frame
DEFAULT_LATENT_BITS = 6
DEFAULT_KEY_BITS = 8
DEFAULT_SEARCH_ITERS = 60
# --mode gan: where the search inverts the generator. None: its input latent z (the seed's method);
# N: its N x N feature map, corrected sparsely frame to frame (format 6.0), how many values a delta
# frame's correction may change (keyframes: KEY_COEFFS_FACTOR x), and its QSGD bits. Chosen on
# carphone's training frames 30-59 (docs/MODELS.md, pgan-carphone): K 300 at 6 bits SSIM 0.802 at
# 170x, K 300 at 5 bits 0.799 at 208x, K 400 at 5 bits 0.817 at 177x, K 350 at 5 bits between.
DEFAULT_GAN_LAYER = 8
DEFAULT_GAN_COEFFS = 350
DEFAULT_FEATURE_BITS = 5


def gan_latent_bits(layer: int | None) -> int:
    """The default QSGD bits of a GAN-mode delta: latent differences (``layer`` None) or corrections."""
    return DEFAULT_LATENT_BITS if layer is None else DEFAULT_FEATURE_BITS


def default_gop(mode: str = "vaegan", bitrate: float | None = None, fps: float | None = None) -> int:
    """The keyframe interval used when none is given, for a mode (``bitrate`` and ``fps`` no longer
    change it: rate control keeps the default GOP; they stay for callers that pass them)."""
    if mode == "gan":
        return DEFAULT_GAN_GOP
    return DEFAULT_GOP


def resolve_preset(preset: str) -> str:
    """``preset``, or for ``"auto"`` the one this machine encodes in real time with, as WebRTC's
    encoders choose their speed by the machine: ``"medium"`` where the pictures that weigh its fine
    deltas are cheap (:func:`vidcodec.runtime.judge_pays`: a CUDA GPU, or a CPU with AMX), else
    ``"fast"``. On the 2-core AMD EPYC VM without AMX (2026-12-07, 640x360 through the CLI, nine
    clips) medium encoded at 12.4-27.2 fps, five clips under 20, where fast encoded at 24.7-36.6;
    the AMX VM encodes them at 30.2-66.6 fps in medium. Every machine decodes every stream alike:
    the preset is the encoder's alone."""
    if preset != AUTO_PRESET:
        return preset
    from .. import runtime

    return "medium" if runtime.judge_pays() else "fast"
