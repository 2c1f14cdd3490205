"""Model training: data, losses, loops, checkpoints, packaging of shipped weights."""
