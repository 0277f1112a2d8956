"""Small audio helpers shared by the backends: read, write, resample, envelope."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly


def read_audio(path: Path | str, sample_rate: int | None = None, mono: bool = True) -> tuple[np.ndarray, int]:
    """Read a sound file as float32; optionally resample and fold to mono.

    Mono audio has shape (n,), multichannel (n, channels).
    """
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    if mono:
        data = data.mean(axis=1)
    if sample_rate and sample_rate != rate:
        gcd = np.gcd(int(rate), int(sample_rate))
        data = resample_poly(data, sample_rate // gcd, rate // gcd, axis=0).astype(np.float32)
        rate = sample_rate
    return data, int(rate)


def write_wav(path: Path | str, samples: np.ndarray, sample_rate: int) -> Path:
    """Write float samples as 16-bit PCM WAV (clipped to [-1, 1])."""
    path = Path(path)
    sf.write(str(path), np.clip(samples, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return path


def duration_seconds(path: Path | str) -> float:
    """Duration of a sound file from its header."""
    info = sf.info(str(path))
    return info.frames / float(info.samplerate)


def speech_bounds(samples: np.ndarray, top_db: float = 40.0) -> tuple[int, int]:
    """First and one-past-last sample of the part louder than ``top_db`` below the peak
    (librosa's frame-RMS trim); (0, 0) for a silent clip."""
    import librosa

    if samples.size == 0 or not np.any(samples):
        return 0, 0
    _, (start, end) = librosa.effects.trim(samples, top_db=top_db, frame_length=512, hop_length=128)
    return int(start), int(end)


def trim_silence(samples: np.ndarray, top_db: float = 40.0) -> np.ndarray:
    """``samples`` without leading and trailing silence (see ``speech_bounds``)."""
    start, end = speech_bounds(samples, top_db)
    return samples[start:end]
