"""Subtitles of the dub: one cue per spoken line, timed where the dubbed line plays."""

from __future__ import annotations

from pathlib import Path

import pysubs2

from models.data import DubbedLine
from polydub.workdir import atomic_path

_BRACES = str.maketrans("{}", "()")


def build_subtitles(lines: list[DubbedLine]) -> pysubs2.SSAFile:
    """A pysubs2 file with one event per line that has text, in start order."""
    subs = pysubs2.SSAFile()
    for line in sorted(lines, key=lambda l: (l.start, l.index)):
        # braces open SSA override tags, which pysubs2 drops on output: keep them as parentheses
        text = " ".join(line.target_text.split()).translate(_BRACES)
        if not text:
            continue
        start = pysubs2.make_time(s=line.start)
        end = max(pysubs2.make_time(s=line.end), start + 1)  # a cue needs a positive duration
        event = pysubs2.SSAEvent(start=start, end=end)
        event.plaintext = text
        subs.append(event)
    return subs


def write_subtitles(lines: list[DubbedLine], srt: Path, vtt: Path) -> tuple[Path, Path]:
    """Write the target-language text as SRT and WebVTT (atomically); returns both paths.

    Each line with text becomes one cue at its placed start/end, its whitespace folded
    to single spaces and braces shown as parentheses; lines without text (nothing was
    spoken) get no cue.
    """
    subs = build_subtitles(lines)
    for path, format_ in ((Path(srt), "srt"), (Path(vtt), "vtt")):
        with atomic_path(path) as tmp:
            subs.save(str(tmp), format_=format_, encoding="utf-8")
    return Path(srt), Path(vtt)
