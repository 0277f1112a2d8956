"""Mouth motion from speech: a per-frame opening/spread curve driven by the audio and its phonemes.

Opening follows the loudness envelope of the dubbed speech; phoneme classes (from
espeak-ng, see ``phonemes.py``) shape it: bilabials close the lips, o/u round them,
i/e spread them. The curve anticipates onsets slightly (lips move before the sound is
heard), closes with a short natural release, is smoothed so it never jitters, and is
exactly zero in silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from models.lipsync.phonemes import TimedPhoneme, Viseme


@dataclass(frozen=True)
class MouthPose:
    """Target mouth shape relative to a closed, neutral mouth."""

    opening: float = 0.0  # 0 closed … 1 wide open
    spread: float = 0.0  # -1 rounded … 0 neutral … +1 spread


NEUTRAL = MouthPose()

SILENCE_RMS = 1e-4  # below about -80 dBFS everywhere: the clip is silent
ACTIVE_DB = -40.0  # frames this far below the loudest one do not set the reference level
REFERENCE_PERCENTILE = 95.0  # reference level: a loud speech frame, robust to single clicks
LOUDNESS_EXPONENT = 0.6  # envelope ~ amplitude^0.6 (perceived loudness), so consonants still move
GATE_DB = -35.0  # below this (relative to the reference) the envelope is 0

OPENING_EXPONENT = 0.8
ANTICIPATION_S = 0.04  # onsets start this early (time constant of the pre-onset ramp)
RELEASE_S = 0.05  # the mouth closes with this time constant after the sound stops
SMOOTH_S = 0.03  # Gaussian smoothing of the opening (at least MIN_SMOOTH_FRAMES)
MIN_SMOOTH_FRAMES = 0.8  # keeps frame-to-frame change of the opening ≤ 0.5
SPREAD_SMOOTH_S = 0.06  # lip rounding/spreading co-articulates over a longer span
MIN_CLOSURE_S = 0.08  # a bilabial closes the lips for at least this long
DEAD_ZONE = 0.03  # openings below this are silence (exact zero)
SPREAD_FADE = 0.15  # spread/rounding fades out as the opening falls below this

# per viseme class: factor on the opening, target spread
VISEME_SHAPES: dict[Viseme, tuple[float, float]] = {
    Viseme.CLOSED: (0.0, 0.0),
    Viseme.ROUNDED: (0.75, -0.8),
    Viseme.SPREAD: (0.85, 0.6),
    Viseme.OPEN: (1.1, 0.0),
    Viseme.OTHER: (0.9, 0.0),
}


def _frame_edges(sample_rate: int, fps: float, n_frames: int, n_samples: int) -> np.ndarray:
    edges = np.round(np.arange(n_frames + 1) * (sample_rate / fps)).astype(np.int64)
    return np.clip(edges, 0, n_samples)


def audio_envelope(samples: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Per-video-frame speech envelope in 0–1 (float64, length ``n_frames``).

    RMS of the samples shown during each frame, relative to a loud speech frame of the
    clip (95th percentile of the non-silent frames), so the result does not depend on the
    recording level; compressed like perceived loudness and gated 35 dB below the
    reference. Silence gives exactly 0; frames past the end of the audio are 0.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if n_frames <= 0:
        return np.zeros(0)
    edges = _frame_edges(sample_rate, fps, n_frames, len(x))
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    counts = np.diff(edges)
    rms = np.sqrt(np.maximum(np.diff(energy[edges]), 0.0) / np.maximum(counts, 1))
    rms[counts == 0] = 0.0
    loudest = float(rms.max(initial=0.0))
    if loudest < SILENCE_RMS:
        return np.zeros(n_frames)
    active = rms > loudest * 10 ** (ACTIVE_DB / 20)
    reference = float(np.percentile(rms[active], REFERENCE_PERCENTILE))
    level = np.clip(rms / reference, 0.0, 1.0) ** LOUDNESS_EXPONENT
    gate = (10 ** (GATE_DB / 20)) ** LOUDNESS_EXPONENT
    return np.clip((level - gate) / (1.0 - gate), 0.0, 1.0)


def _retime(phonemes: Sequence[TimedPhoneme], active: np.ndarray, fps: float) -> list[tuple[float, float, Viseme]]:
    """Map the phoneme timeline onto the frames that carry speech (in order, proportionally)."""
    total = max(p.end for p in phonemes)
    weights = active.astype(np.float64)
    if total <= 0 or weights.sum() == 0:
        return []
    cumulative = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()
    times = np.arange(len(active) + 1) / fps
    # cumulative is non-decreasing; interp on its strictly increasing part
    keep = np.concatenate([[True], np.diff(cumulative) > 0])
    to_time = lambda u: float(np.interp(u, cumulative[keep], times[keep]))  # noqa: E731
    return [(to_time(p.start / total), to_time(p.end / total), p.viseme) for p in phonemes]


def _class_fractions(timed: list[tuple[float, float, Viseme]], fps: float, n_frames: int) -> dict[Viseme, np.ndarray]:
    """For each viseme class, the fraction of each frame's interval it occupies."""
    lo = np.arange(n_frames) / fps
    hi = lo + 1.0 / fps
    fractions = {viseme: np.zeros(n_frames) for viseme in Viseme}
    for start, end, viseme in timed:
        if viseme is Viseme.CLOSED and end - start < MIN_CLOSURE_S:
            middle = 0.5 * (start + end)
            start, end = middle - MIN_CLOSURE_S / 2, middle + MIN_CLOSURE_S / 2
        overlap = np.clip(np.minimum(hi, end) - np.maximum(lo, start), 0.0, None) * fps
        fractions[viseme] += overlap
    covered = sum(fractions.values())
    scale = np.where(covered > 1.0, 1.0 / np.maximum(covered, 1e-9), 1.0)
    return {viseme: values * scale for viseme, values in fractions.items()}


def _attack_release(values: np.ndarray, fps: float) -> np.ndarray:
    """Peak follower run backward (pre-onset ramp) then forward (natural release)."""
    pre = np.exp(-1.0 / max(ANTICIPATION_S * fps, 1e-6))
    post = np.exp(-1.0 / max(RELEASE_S * fps, 1e-6))
    out = values.copy()
    for i in range(len(out) - 2, -1, -1):
        out[i] = max(out[i], out[i + 1] * pre)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] * post)
    return out


def mouth_poses(
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    n_frames: int,
    phonemes: Sequence[TimedPhoneme] | None = None,
) -> list[MouthPose]:
    """One ``MouthPose`` per video frame for the speech in ``samples``.

    ``phonemes`` (seconds from the start of ``samples``, e.g. from ``phonemes_for``) are
    re-timed onto the frames that carry speech, then close the lips on bilabials, round
    them on o/u and spread them on i/e. The opening is zero in silence, rises slightly
    before each onset, decays naturally after it and changes by at most about 0.5 per
    frame.
    """
    if n_frames <= 0:
        return []
    envelope = audio_envelope(samples, sample_rate, fps, n_frames)
    opening = _attack_release(envelope**OPENING_EXPONENT, fps)
    spread = np.zeros(n_frames)
    if phonemes:
        timed = _retime(phonemes, envelope > 0, fps)
        fractions = _class_fractions(timed, fps, n_frames)
        factor = 1.0 - sum(fractions.values())  # frames outside every phoneme keep the envelope
        for viseme, (gain, shape) in VISEME_SHAPES.items():
            factor = factor + fractions[viseme] * gain
            spread += fractions[viseme] * shape
        opening = opening * factor
    sigma = max(SMOOTH_S * fps, MIN_SMOOTH_FRAMES)
    opening = gaussian_filter1d(opening, sigma, mode="nearest")
    opening = np.clip((opening - DEAD_ZONE) / (1.0 - DEAD_ZONE), 0.0, 1.0)
    spread = gaussian_filter1d(spread, max(SPREAD_SMOOTH_S * fps, MIN_SMOOTH_FRAMES), mode="nearest")
    spread = np.clip(spread * np.clip(opening / SPREAD_FADE, 0.0, 1.0), -1.0, 1.0)  # neutral in silence
    return [MouthPose(float(o), float(s)) for o, s in zip(opening, spread)]
