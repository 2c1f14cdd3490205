"""Frame ↔ packet coding, one module per mode."""

DEFAULT_QUALITY = 4  # used for models whose card names no default_quality
DEFAULT_MODEL = "vaegan-n"
DEFAULT_GAN_MODEL = "pgan-carphone"  # --mode gan
DEFAULT_GOP = 32
