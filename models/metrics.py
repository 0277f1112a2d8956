"""Quality measures: word error rate, diarization error rate, RTTM input/output."""

from __future__ import annotations

from pathlib import Path

import jiwer
from pyannote.core import Annotation, Segment

from models.data import Diarization, SpeakerTurn

_NORMALIZE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.SubstituteRegexes({r"[^\w\s']": " "}),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER after lower-casing and removing punctuation (jiwer)."""
    return float(jiwer.wer(reference, hypothesis, reference_transform=_NORMALIZE, hypothesis_transform=_NORMALIZE))


def to_annotation(diarization: Diarization, uri: str = "source") -> Annotation:
    """A pyannote Annotation of the speaker turns."""
    annotation = Annotation(uri=uri)
    for i, turn in enumerate(diarization.turns):
        annotation[Segment(turn.start, turn.end), i] = turn.speaker
    return annotation


def read_rttm(path: Path | str) -> Diarization:
    """Speaker turns from an RTTM file (all recordings in it)."""
    turns = []
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        fields = raw.split()
        if len(fields) >= 8 and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            turns.append(SpeakerTurn(speaker=fields[7], start=start, end=start + length))
    return Diarization(turns=sorted(turns, key=lambda t: t.start))


def write_rttm(diarization: Diarization, path: Path | str, uri: str = "source") -> Path:
    """Write speaker turns as RTTM (pyannote.core's writer)."""
    with open(path, "w", encoding="utf-8") as handle:
        to_annotation(diarization, uri).write_rttm(handle)
    return Path(path)


def diarization_error_rate(
    reference: Diarization, hypothesis: Diarization, collar: float = 0.0, duration: float | None = None
) -> float:
    """DER of ``hypothesis`` against ``reference`` (pyannote.metrics, optimal speaker mapping).

    ``collar`` is the total width in seconds ignored around each reference boundary;
    ``duration`` (the recording's length) sets the evaluated region, default: both extents.
    """
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    if duration is None:
        duration = max((t.end for t in [*reference.turns, *hypothesis.turns]), default=0.0)
    uem = Timeline([Segment(0.0, duration)])
    return float(DiarizationErrorRate(collar=collar)(to_annotation(reference), to_annotation(hypothesis), uem=uem))
