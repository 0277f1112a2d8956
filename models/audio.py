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


def rms_envelope(samples: np.ndarray, sample_rate: int, hop_seconds: float = 0.01, window_seconds: float = 0.03) -> np.ndarray:
    """Root-mean-square envelope of mono audio, one value per hop."""
    hop = max(1, int(round(hop_seconds * sample_rate)))
    win = max(hop, int(round(window_seconds * sample_rate)))
    padded = np.pad(samples.astype(np.float64), (win // 2, win // 2))
    power = np.convolve(padded**2, np.ones(win) / win, mode="valid")
    return np.sqrt(power[::hop][: int(np.ceil(len(samples) / hop))])
