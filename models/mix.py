"""Mix the dubbed speech over the original soundtrack (lite: duck the mix; studio: over the background stem).

The original mix is ducked by ``duck_db`` while a dubbed line plays (smooth ramps of
``RAMP_S`` that finish as the speech starts and begin as it ends), the speech is added
on both channels, and the result is matched to the source's integrated loudness
(EBU R128 / ITU-R BS.1770 via pyloudnorm) under a true-peak ceiling of -1 dBTP (peaks
measured on a 4x oversampled signal; a look-ahead gain limiter holds the ceiling).
Lines sit at their absolute sample positions and the output has exactly the source's
number of samples, so nothing drifts. The whole soundtrack is processed in memory.

With a separated background stem (studio profile, ``mix_over_background``) the dub is
laid over the background at full level instead (no original dialogue to hide), with the
same loudness matching and true-peak limiting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from models.audio import read_audio, write_wav
from models.data import Dub, MixResult
from polydub.errors import InputError
from polydub.workdir import atomic_path

SAMPLE_RATE = 48000
RAMP_S = 0.05  # each duck ramp takes 2 x RAMP_S (two moving averages)
CEILING_DBTP = -1.0
CEILING_MARGIN_DB = 0.1  # aim a little below the ceiling so 16-bit rounding cannot cross it
LIMITER_WINDOW_S = 0.01
OVERSAMPLE = 4
FALLBACK_LUFS = -23.0  # target loudness when the source is silent (EBU R128)
SILENT_LUFS = -70.0  # reported for silence (pyloudnorm says -inf; BS.1770's absolute gate is -70)
LOUDNESS_TOLERANCE_LU = 0.2
CHUNK = 1 << 18  # samples per block when oversampling


def mix_dub(source_mix_48k: Path, dub: Dub, out_dir: Path, duck_db: float = -18.0) -> MixResult:
    """Write ``out_dir/speech.wav`` (the dub alone, 48 kHz mono) and ``out_dir/mix.wav`` (48 kHz stereo)."""
    source = _read_stereo(Path(source_mix_48k))
    n = len(source)
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    if n < int(meter.block_size * SAMPLE_RATE):
        raise InputError(f"source audio {source_mix_48k} is shorter than {meter.block_size} s; cannot measure its loudness")
    speech, spans = place_speech(dub, n)
    gain = duck_gain(spans, n, duck_db)
    mix = source * gain[:, None] + speech[:, None]
    return _finish_mix(mix, speech, float(meter.integrated_loudness(source)), meter, Path(out_dir))


def mix_over_background(
    background_48k: Path, dub: Dub, out_dir: Path, source_mix_48k: Path | None = None, duck_db: float = 0.0
) -> MixResult:
    """Mix the dub over the separated background stem (studio profile) instead of ducking the original mix.

    The background (music/effects, no original dialogue) plays at full level unless
    ``duck_db`` < 0 asks for a light duck under the dub. The result is matched to the
    loudness of ``source_mix_48k`` (the original mix, dialogue included; the background
    itself when not given) under the same true-peak ceiling as ``mix_dub``, with exactly
    the background's number of samples. Writes ``speech.wav`` and ``mix.wav`` like ``mix_dub``.
    """
    background = _read_stereo(Path(background_48k))
    n = len(background)
    meter = pyloudnorm.Meter(SAMPLE_RATE)
    if n < int(meter.block_size * SAMPLE_RATE):
        raise InputError(f"background audio {background_48k} is shorter than {meter.block_size} s; cannot measure its loudness")
    reference = _read_stereo(Path(source_mix_48k)) if source_mix_48k is not None else background
    speech, spans = place_speech(dub, n)
    gain = duck_gain(spans, n, duck_db) if duck_db < 0 else np.ones(n, dtype=np.float32)
    mix = background * gain[:, None] + speech[:, None]
    return _finish_mix(mix, speech, float(meter.integrated_loudness(reference)), meter, Path(out_dir))


def _finish_mix(mix: np.ndarray, speech: np.ndarray, source_lufs: float, meter: pyloudnorm.Meter, out_dir: Path) -> MixResult:
    """Match ``mix`` to the source loudness under the true-peak ceiling; write speech.wav and mix.wav."""
    n = len(mix)
    target = source_lufs if np.isfinite(source_lufs) else FALLBACK_LUFS
    mix = match_loudness(mix, meter, target)
    true_peak = true_peak_dbtp(mix)
    output_lufs = float(meter.integrated_loudness(mix))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    speech_path, mix_path = out_dir / "speech.wav", out_dir / "mix.wav"
    peak = float(np.max(np.abs(speech))) if n else 0.0
    with atomic_path(speech_path) as tmp:
        write_wav(tmp, speech / peak * 0.99 if peak > 0.99 else speech, SAMPLE_RATE)
    with atomic_path(mix_path) as tmp:
        write_wav(tmp, mix, SAMPLE_RATE)
    return MixResult(
        audio=str(mix_path.resolve()),
        speech_stem=str(speech_path.resolve()),
        source_lufs=round(source_lufs, 2) if np.isfinite(source_lufs) else SILENT_LUFS,
        output_lufs=round(output_lufs, 2) if np.isfinite(output_lufs) else SILENT_LUFS,
        true_peak_dbtp=round(true_peak, 2),
        duration=n / SAMPLE_RATE,
    )


def _read_stereo(path: Path) -> np.ndarray:
    """The source mix as (n, 2) float32 at 48 kHz (mono is doubled, more channels folded)."""
    if not path.exists():
        raise InputError(f"source audio not found: {path}")
    audio, _ = read_audio(path, sample_rate=SAMPLE_RATE, mono=False)
    if audio.shape[1] != 2:
        audio = np.repeat(audio.mean(axis=1, keepdims=True), 2, axis=1)
    return audio.astype(np.float32)


def place_speech(dub: Dub, n: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Every line's audio added at its absolute start sample; returns the track and the spoken spans."""
    speech = np.zeros(n, dtype=np.float32)
    spans = []
    for line in dub.lines:
        audio, _ = read_audio(line.audio, sample_rate=SAMPLE_RATE)
        begin = max(0, int(round(line.start * SAMPLE_RATE)))
        take = audio[: max(0, n - begin)]
        if take.size == 0:
            continue
        speech[begin : begin + take.size] += take
        spans.append((begin, begin + take.size))
    return speech, spans


def duck_gain(spans: list[tuple[int, int]], n: int, duck_db: float) -> np.ndarray:
    """Per-sample linear gain for the original mix: ``duck_db`` under speech, 1 elsewhere, smooth ramps."""
    ramp = max(1, int(RAMP_S * SAMPLE_RATE))
    ducked = np.zeros(n, dtype=np.float32)
    for begin, end in spans:  # widen each span so the ramps finish where the speech starts/ends
        ducked[max(0, begin - ramp) : min(n, end + ramp)] = 1.0
    for _ in range(2):  # a moving average of a moving average: an S-shaped ramp
        ducked = uniform_filter1d(ducked, size=ramp, mode="nearest")
    for begin, end in spans:
        ducked[begin:end] = 1.0
    return (10.0 ** (duck_db * ducked / 20.0)).astype(np.float32)


def match_loudness(mix: np.ndarray, meter: pyloudnorm.Meter, target_lufs: float, rounds: int = 4) -> np.ndarray:
    """Gain ``mix`` to ``target_lufs`` while a limiter keeps it under the true-peak ceiling."""
    for _ in range(rounds):
        level = meter.integrated_loudness(mix)
        if not np.isfinite(level):
            break
        mix = limit_true_peak(mix * np.float32(10.0 ** ((target_lufs - level) / 20.0)))
        if abs(meter.integrated_loudness(mix) - target_lufs) <= LOUDNESS_TOLERANCE_LU:
            break
    peak = true_peak_dbtp(mix)
    ceiling = CEILING_DBTP - CEILING_MARGIN_DB
    if peak > ceiling:  # a last safety trim: the limiter's smoothing can leave a hair over
        mix = mix * np.float32(10.0 ** ((ceiling - peak) / 20.0))
    return mix


def limit_true_peak(mix: np.ndarray) -> np.ndarray:
    """Look-ahead limiter: the smallest smooth gain that keeps every oversampled peak under the ceiling."""
    ceiling = 10.0 ** ((CEILING_DBTP - CEILING_MARGIN_DB) / 20.0)
    peaks = oversampled_peaks(mix)
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12)).astype(np.float32)
    if needed.min() >= 1.0:
        return mix
    size = 2 * int(LIMITER_WINDOW_S * SAMPLE_RATE / 2) + 1
    # min over a window, then an average over the same window: never above ``needed`` at any sample
    gain = uniform_filter1d(minimum_filter1d(needed, size=size, mode="nearest"), size=size, mode="nearest")
    return mix * np.minimum(gain, needed)[:, None]


def oversampled_peaks(audio: np.ndarray) -> np.ndarray:
    """For each sample, the largest absolute value of the 4x oversampled signal around it (all channels)."""
    audio = audio.reshape(len(audio), -1)
    n = len(audio)
    pad = 64
    peaks = np.zeros(n, dtype=np.float32)
    for begin in range(0, n, CHUNK):
        end = min(n, begin + CHUNK)
        lo, hi = max(0, begin - pad), min(n, end + pad)
        up = resample_poly(audio[lo:hi], OVERSAMPLE, 1, axis=0)
        up = up[(begin - lo) * OVERSAMPLE : (end - lo) * OVERSAMPLE]
        peaks[begin:end] = np.abs(up).reshape(end - begin, OVERSAMPLE, -1).max(axis=(1, 2))
    return np.maximum(peaks, np.abs(audio).max(axis=1))


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True peak in dBTP, measured on the 4x oversampled signal."""
    if audio.size == 0:
        return -np.inf
    peak = float(oversampled_peaks(audio).max())
    return 20.0 * np.log10(peak) if peak > 0 else -200.0
