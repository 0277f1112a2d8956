"""Native lip-sync voicing (LTX ``mode=native``): the model speaks each re-drawn line itself.

The compositor returns one voiced span per job (a line seen in one face track). Spans of the
same line are joined on the video's timeline into one WAV, and ``revoice`` puts those WAVs in
place of the synthesized lines, so the mix, the subtitles timing and the quality measures all
follow what the model said.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.audio import write_wav
from models.compositor import VoicedSpan
from models.data import Dub
from models.lipsync.records import VoicedLine
from polydub.workdir import atomic_path


def save_voiced_lines(spans: list[VoicedSpan], fps: float, folder: Path) -> list[VoicedLine]:
    """Join each line's spans (frame order, silence between) and write ``voiced-line-<index>.wav``."""
    by_line: dict[int, list[VoicedSpan]] = {}
    for span in spans:
        if span.line_index >= 0:
            by_line.setdefault(span.line_index, []).append(span)
    voiced = []
    for index, parts in sorted(by_line.items()):
        rate = parts[0].sample_rate
        first, last = min(p.start_frame for p in parts), max(p.end_frame for p in parts)
        audio = np.zeros(int(round((last - first) * rate / fps)), np.float32)
        for part in parts:
            at = int(round((part.start_frame - first) * rate / fps))
            piece = part.audio[: max(0, len(audio) - at)]
            audio[at : at + len(piece)] = piece
        path = folder / f"voiced-line-{index}.wav"
        with atomic_path(path) as tmp:
            write_wav(tmp, audio, rate)
        voiced.append(VoicedLine(index=index, start=first / fps, end=last / fps, audio=str(path)))
    return voiced


def revoice(dub: Dub, voiced: list[VoicedLine]) -> Dub:
    """``dub`` with each voiced line's audio and placement taken from the lip-sync model (speed 1)."""
    by_index = {v.index: v for v in voiced}
    lines = []
    for line in dub.lines:
        v = by_index.get(line.index)
        if v is None:
            lines.append(line)
            continue
        lines.append(
            line.model_copy(
                update={"audio": v.audio, "start": v.start, "end": v.end, "natural_duration": v.end - v.start, "speed": 1.0, "over_bound": False}
            )
        )
    return dub.model_copy(update={"lines": lines})
