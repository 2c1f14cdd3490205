"""Frame ↔ packet coding, one module per mode."""

DEFAULT_QUALITY = 4  # used for models whose card names no default_quality
DEFAULT_MODEL = "vaegan-g"
DEFAULT_GAN_MODEL = "pgan-carphone"  # --mode gan
# Keyframe interval when none is given: x264's default keyint, since a delta costs a fraction of a
# keyframe (on training clips, gop 250 against 32 saved 3-49 % BD-rate); scene cuts still start a GOP.
# Seeking stays cheap: frames before the target are entropy-decoded, not synthesized.
DEFAULT_GOP = 250
# With --bitrate the level can only change at a keyframe, so GOPs are kept this short (seconds).
# 1 s: on diver and bikes (300 frames, 150 and 400 kbit/s) 1-s GOPs held the rate within 3 %,
# 2-s GOPs missed by up to 11 % (levels are ~2x apart, 6 GOPs left too few decisions), and at
# 400 kbit/s their quality was about the same (bikes 31.5 dB at 398 kbit/s against 31.8 at 414).
RATE_GOP_SECONDS = 1.0
DEFAULT_GAN_GOP = 32  # --mode gan: the interval its results in docs/MODELS.md were measured with
# --mode gan (vidcodec.codec.gan): QSGD bits of delta and keyframe latents, search iterations per delta frame
DEFAULT_LATENT_BITS = 6
DEFAULT_KEY_BITS = 8
DEFAULT_SEARCH_ITERS = 60


def default_gop(mode: str = "vaegan", bitrate: float | None = None, fps: float | None = None) -> int:
    """The keyframe interval used when none is given, for a mode, a --bitrate and a frame rate."""
    if mode == "gan":
        return DEFAULT_GAN_GOP
    if bitrate is not None:
        return max(1, round(RATE_GOP_SECONDS * fps)) if fps else 50
    return DEFAULT_GOP
