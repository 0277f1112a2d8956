"""Choose one voice-cloning reference clip per speaker from that speaker's own clean speech.

1. Clean runs: the speaker's turns, each shrunk by ``GUARD_S`` wherever another
   speaker's turn is within ``GUARD_S`` (so no other voice bleeds in), and consecutive
   turns of the speaker joined when the gap between them is short and nobody else speaks in it.
2. Windows: every run of at least ``min_s`` seconds gives windows of ``min_s``..``max_s``
   seconds (a run up to ``max_s`` is one window; a longer one is scanned in
   ``max_s`` windows every ``HOP_S``).
3. Score: the window's SNR: mean power of its louder half of 20 ms frames over the
   mean power of its quietest 10 % (the noise floor between syllables and words). The
   highest SNR wins; a longer window wins a tie (within 0.5 dB).
If no run reaches ``min_s``, the longest clean run is returned and ``short`` is set.
The same clip serves the speaker for the whole video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.audio import read_audio, write_wav
from models.data import Diarization
from models.record import Record
from polydub.errors import InputError
from polydub.workdir import atomic_path

GUARD_S = 0.2
JOIN_GAP_S = 1.0
HOP_S = 0.5
FRAME_S = 0.02
TIE_DB = 0.5


class ReferenceClip(Record):
    """A span of the source that holds one speaker alone, chosen as the cloning reference."""

    speaker: str
    start: float
    end: float
    snr_db: float
    short: bool = False  # no clean run reached the minimum length
    audio: str = ""  # the clip as a WAV, when written

    @property
    def duration(self) -> float:
        return self.end - self.start


class VoiceReferences(Record):
    """One reference clip per speaker: the voices a cloning synthesizer copies for the whole video."""

    clips: list[ReferenceClip]


def clean_runs(diarization: Diarization, speaker: str, join_gap_s: float = JOIN_GAP_S) -> list[tuple[float, float]]:
    """Spans where only ``speaker`` speaks (see the module notes), sorted."""
    own = sorted((t.start, t.end) for t in diarization.turns if t.speaker == speaker)
    others = sorted((t.start - GUARD_S, t.end + GUARD_S) for t in diarization.turns if t.speaker != speaker)
    pieces: list[tuple[float, float]] = []
    for start, end in own:
        cuts = [(start, end)]
        for o_start, o_end in others:  # subtract every other speaker's (guarded) turn
            cuts = [p for a, b in cuts for p in ((a, min(b, o_start)), (max(a, o_end), b)) if p[1] - p[0] > 0]
        pieces.extend(cuts)
    runs: list[tuple[float, float]] = []
    for start, end in sorted(pieces):
        if runs and start - runs[-1][1] <= join_gap_s and not any(a < start and b > runs[-1][1] for a, b in others):
            runs[-1] = (runs[-1][0], max(end, runs[-1][1]))
        else:
            runs.append((start, end))
    return runs


def snr_db(samples: np.ndarray, sample_rate: int) -> float:
    """Speech-to-floor ratio (dB) of a stretch of mono audio (see the module notes)."""
    frame = max(1, int(FRAME_S * sample_rate))
    n = len(samples) // frame
    if n < 10:
        return -np.inf
    power = np.sort((samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(axis=1))
    floor = power[: max(1, n // 10)].mean()
    loud = power[n // 2 :].mean()
    return float(10 * np.log10((loud + 1e-12) / (floor + 1e-12)))


def choose_reference(
    audio: Path | str,
    diarization: Diarization,
    speaker: str,
    min_s: float = 6.0,
    max_s: float = 15.0,
    out: Path | str | None = None,
) -> ReferenceClip:
    """The best reference clip of ``speaker`` in ``audio``; written to ``out`` (a WAV) when given."""
    if not any(t.speaker == speaker for t in diarization.turns):
        raise InputError(f"speaker '{speaker}' has no turns")
    samples, rate = read_audio(audio)
    total = len(samples) / rate
    runs = [(max(0.0, a), min(total, b)) for a, b in clean_runs(diarization, speaker)]
    runs = [(a, b) for a, b in runs if b > a]
    if not runs:
        raise InputError(f"speaker '{speaker}' never speaks alone, so no clean reference clip exists")
    windows = []
    for a, b in runs:
        if b - a < min_s:
            continue
        if b - a <= max_s:
            windows.append((a, b))
            continue
        start = a
        while start + max_s <= b + 1e-9:
            windows.append((start, start + max_s))
            start += HOP_S
        windows.append((b - max_s, b))
    short = not windows
    if short:
        windows = [max(runs, key=lambda r: r[1] - r[0])]
    scored = [(snr_db(samples[int(a * rate) : int(b * rate)], rate), a, b) for a, b in windows]
    best = max(score for score, _, _ in scored)
    score, start, end = max((s for s in scored if s[0] >= best - TIE_DB), key=lambda s: (s[2] - s[1], s[0]))
    clip = ReferenceClip(speaker=speaker, start=round(start, 3), end=round(end, 3), snr_db=round(score, 2), short=short)
    if out is not None:
        out = Path(out)
        with atomic_path(out) as tmp:
            write_wav(tmp, samples[int(start * rate) : int(end * rate)], rate)
        clip = clip.model_copy(update={"audio": str(out.resolve())})
    return clip
