"""Entropy and integer coding: Elias codes, QSGD quantization, table-driven entropy coding."""
