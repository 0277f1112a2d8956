"""Tiny random models for tests and the GPU smoke bench (never used in production runs).

Each builder makes a model from its library's own config classes, saves it where the
production loader reads it, and returns the folder, so tests and ``bench/gpu_smoke.py``
exercise the real loading and inference code without downloading weights.
"""
