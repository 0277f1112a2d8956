"""Voice activity detection with silero-vad (the model ships inside the package)."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

VAD_SAMPLE_RATE = 16000
# silero-vad keeps recurrent state inside the model object: one user at a time
_MODEL_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def silero_model():
    """The process-wide silero-vad model (the JIT build shipped inside the silero-vad package)."""
    from silero_vad import load_silero_vad

    return load_silero_vad()


def speech_regions(
    samples_16k: np.ndarray,
    threshold: float = 0.5,
    min_speech_ms: int = 250,
    min_silence_ms: int = 300,
    speech_pad_ms: int = 30,
) -> list[tuple[float, float]]:
    """Speech regions (start, end) in seconds of 16 kHz mono audio."""
    import torch
    from silero_vad import get_speech_timestamps

    if samples_16k.size == 0:
        return []
    with _MODEL_LOCK:
        stamps = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(samples_16k, dtype=np.float32)),
            silero_model(),
            sampling_rate=VAD_SAMPLE_RATE,
            threshold=threshold,
            min_speech_duration_ms=min_speech_ms,
            min_silence_duration_ms=min_silence_ms,
            speech_pad_ms=speech_pad_ms,
            return_seconds=False,
        )
    return [(s["start"] / VAD_SAMPLE_RATE, s["end"] / VAD_SAMPLE_RATE) for s in stamps]


def speech_fraction(regions: list[tuple[float, float]], start: float, end: float) -> float:
    """Share of [start, end] covered by speech regions."""
    if end <= start:
        return 0.0
    covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions)
    return covered / (end - start)
