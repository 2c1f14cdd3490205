"""Frame ↔ packet coding, one module per mode."""
