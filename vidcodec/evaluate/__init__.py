"""Metrics, rate–distortion evaluation and benchmarks."""
