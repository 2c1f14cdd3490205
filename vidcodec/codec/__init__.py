"""Frame ↔ packet coding, one module per mode."""

DEFAULT_QUALITY = 4  # used for models whose card names no default_quality
DEFAULT_MODEL = "vaegan-f"
DEFAULT_GAN_MODEL = "pgan-carphone"  # --mode gan
DEFAULT_GOP = 32
# --mode gan (vidcodec.codec.gan): QSGD bits of delta and keyframe latents, search iterations per delta frame
DEFAULT_LATENT_BITS = 6
DEFAULT_KEY_BITS = 8
DEFAULT_SEARCH_ITERS = 60
