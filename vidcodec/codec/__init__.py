"""Frame ↔ packet coding, one module per mode."""

DEFAULT_QUALITY = 4
DEFAULT_GOP = 32
