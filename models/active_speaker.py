"""Active-speaker matching: which face is each diarized speaker, from mouth motion vs. voice activity.

For every face identity, its mouth opening (``models.faces.mouth``) is turned into a
mouth-activity signal: the absolute frame-to-frame change of the opening, averaged
over a centred window of ``window_s`` seconds, inside each track (NaN where the face
is not visible). For every speaker, a voice-activity signal is 1 on the frames inside
its turns, 0 elsewhere, smoothed with the same window. The score of a (speaker, face)
pair is the Pearson correlation of the two signals over the frames where the face is
visible (0 when either is constant there, or the face is visible for less than
``window_s``).

Speakers and faces are paired one to one (``scipy.optimize.linear_sum_assignment`` on
the confidences) and a pair is kept only if its confidence reaches ``min_confidence``::

    confidence = max(0, (score - chance) / (1 - chance)) * min(1, seen_speech_s / EVIDENCE_S)
    chance     = min(0.5, 2 / sqrt(visible_frames / window))

``chance`` is about two standard errors of the correlation of unrelated signals, given
that smoothed signals have one independent value per window: a score at chance level
gives 0, a perfect one 1. ``seen_speech_s`` is how long the speaker speaks while that
face is visible: a correlation resting on less than ``EVIDENCE_S`` seconds of speech is
trusted less. Speakers left without a face are off-screen (identity None); faces left
without a speaker are silent.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.ndimage import uniform_filter1d

from models.data import Diarization, SpeakerTurn
from models.faces.mouth import mouth_signal
from models.faces.records import FaceAnalysis, SpeakerFace, SpeakerFaces

WINDOW_S = 0.4  # smoothing window of both activity signals
EVIDENCE_S = 3.0  # seconds of the speaker's speech on screen for full confidence
MIN_CONFIDENCE = 0.2


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of every run of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def mouth_activity(opening: np.ndarray, window: int) -> np.ndarray:
    """Windowed mean absolute change of a mouth-opening series; NaN stays NaN (gaps split the runs)."""
    opening = np.asarray(opening, dtype=np.float64)
    activity = np.full(opening.shape, np.nan)
    for start, end in _runs(np.isfinite(opening)):
        change = np.abs(np.diff(opening[start:end], prepend=opening[start]))
        if end - start > 1:
            change[0] = change[1]  # the first frame has no predecessor
        activity[start:end] = uniform_filter1d(change, size=max(1, window), mode="nearest")
    return activity


def voice_activity(turns: list[SpeakerTurn], fps: float, frame_count: int, window: int) -> np.ndarray:
    """Fraction of the smoothing window in which the speaker speaks, per frame (frame centres)."""
    times = (np.arange(frame_count) + 0.5) / fps
    speaking = np.zeros(frame_count)
    for turn in turns:
        speaking[(times >= turn.start) & (times < turn.end)] = 1.0
    return uniform_filter1d(speaking, size=max(1, window), mode="nearest")


def identity_opening(analysis: FaceAnalysis, identity: str) -> np.ndarray:
    """An identity's mouth opening on the video's frame axis (mean where two of its tracks overlap)."""
    signals = [mouth_signal(track.load_geometry(), analysis.frame_count) for track in analysis.tracks_of(identity)]
    if not signals:
        return np.full(analysis.frame_count, np.nan)
    stacked = np.stack(signals)
    seen = np.isfinite(stacked)
    total = np.where(seen, stacked, 0.0).sum(axis=0)
    count = seen.sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equal-length series; 0 when either is (nearly) constant."""
    a = a - a.mean()
    b = b - b.mean()
    norm = float(np.sqrt((a**2).sum() * (b**2).sum()))
    return float((a * b).sum() / norm) if norm > 1e-12 else 0.0


def chance_correlation(visible_frames: int, window: int) -> float:
    """About two standard errors of the correlation of unrelated smoothed signals (at most 0.5)."""
    independent = max(visible_frames / max(window, 1), 1.0)
    return min(0.5, 2.0 / float(np.sqrt(independent)))


def match_speakers(analysis: FaceAnalysis, diarization: Diarization, min_confidence: float = MIN_CONFIDENCE) -> SpeakerFaces:
    """Map every diarized speaker to the face identity whose mouth follows its voice, or to None."""
    fps = analysis.fps if analysis.fps > 0 else 25.0
    window = max(1, round(WINDOW_S * fps))
    speakers = diarization.speakers
    identities = analysis.identities
    voices = {s: voice_activity([t for t in diarization.turns if t.speaker == s], fps, analysis.frame_count, window) for s in speakers}
    scores = np.zeros((len(speakers), len(identities)))
    confidence = np.zeros_like(scores)
    for j, identity in enumerate(identities):
        activity = mouth_activity(identity_opening(analysis, identity), window)
        visible = np.isfinite(activity)
        if visible.sum() < window:
            continue
        chance = chance_correlation(int(visible.sum()), window)
        for i, speaker in enumerate(speakers):
            scores[i, j] = pearson(activity[visible], voices[speaker][visible])
            seen_speech_s = float((voices[speaker][visible] > 0.5).sum()) / fps
            confidence[i, j] = max(0.0, (scores[i, j] - chance) / (1.0 - chance)) * min(1.0, seen_speech_s / EVIDENCE_S)
    matched: dict[int, int] = {}
    if scores.size:
        rows, cols = linear_sum_assignment(-confidence)
        matched = {int(i): int(j) for i, j in zip(rows, cols) if confidence[i, j] >= min_confidence and confidence[i, j] > 0}
    entries = [
        SpeakerFace(
            speaker=speaker,
            identity=identities[matched[i]] if i in matched else None,
            confidence=round(float(confidence[i, matched[i]]), 4) if i in matched else 0.0,
            scores={identity: round(float(scores[i, j]), 4) for j, identity in enumerate(identities)},
        )
        for i, speaker in enumerate(speakers)
    ]
    used = {identities[j] for j in matched.values()}
    return SpeakerFaces(speakers=entries, silent_identities=[x for x in identities if x not in used])
