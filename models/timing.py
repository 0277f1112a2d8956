"""Timing fit: place every dubbed line at its original start, at a bounded speed.

The rules of ``plan_timing`` (each one is tested):

1. Every line starts exactly at its original start (no drift, whatever came before).
2. Its *window* is the original line's span ``end - start``. The speed it needs is
   ``natural / window``; a line that fits in ``[min_speed, max_speed]`` fills its window.
3. A line shorter than its window is slowed down, but at most to ``min_speed``; it then
   ends before its window does.
4. A line that would need more than ``max_speed`` first borrows the silence after its
   window, up to the next line's start minus ``gap_margin_s`` (for the last line: up to
   the end of the media), and only as much as it needs to come down to ``max_speed``;
   ``borrowed_s`` says how much it took.
5. A line still too long is kept whole at ``max_speed`` (never dropped, never cut) and
   marked ``over_bound``: it overlaps the next line (or runs past the end of the media,
   where the mix cuts it).
6. A line with no speech (natural duration 0) gets speed 1 and an empty span.

"The next line" is the next one by start time; lines may come in any order and the
placements come back in the same order as the lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from models.data import Dub, DubbedLine, SynthesizedLine, TranslatedLine, Voice
from models.synthesize import line_wav_name, voice_for
from polydub.errors import InputError
from polydub.workdir import copy_atomic

MAX_DURATION_MISS = 0.03  # re-synthesize when a line misses its planned length by more
MAX_ATTEMPTS = 3
BOUND_MARGIN = 0.02  # a corrected take aims this far inside the bounds (espeak rates are whole words per minute)


@dataclass(frozen=True)
class TimingBounds:
    """Allowed speed factors (1 = natural) and the silence kept before the next line."""

    min_speed: float = 0.85
    max_speed: float = 1.25
    gap_margin_s: float = 0.1

    def __post_init__(self) -> None:
        if not (0 < self.min_speed <= 1.0 <= self.max_speed) or self.gap_margin_s < 0:
            raise InputError(f"bad timing bounds: need 0 < min_speed <= 1 <= max_speed and gap_margin_s >= 0, got {self}")


@dataclass(frozen=True)
class Placement:
    """Where and how fast one line is played in the dub."""

    index: int
    start: float
    end: float
    speed: float
    borrowed_s: float = 0.0
    over_bound: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


def plan_timing(lines: list[TranslatedLine], natural_durations: list[float], media_duration: float, bounds: TimingBounds) -> list[Placement]:
    """Place each line at its original start with a speed in the bounds where possible (see module doc)."""
    if len(lines) != len(natural_durations):
        raise InputError(f"{len(lines)} lines but {len(natural_durations)} natural durations")
    for line, natural in zip(lines, natural_durations):
        if not (natural >= 0 and math.isfinite(natural)):
            raise InputError(f"line {line.index}: natural duration must be >= 0, got {natural}")
    order = sorted(range(len(lines)), key=lambda i: (lines[i].start, i))
    placements: list[Placement | None] = [None] * len(lines)
    for rank, i in enumerate(order):
        line = lines[i]
        if rank + 1 < len(order):
            limit = lines[order[rank + 1]].start - bounds.gap_margin_s
        else:
            limit = media_duration
        placements[i] = _place(line, natural_durations[i], silence_after=max(0.0, limit - line.end), bounds=bounds)
    return [p for p in placements if p is not None]


def _place(line: TranslatedLine, natural: float, silence_after: float, bounds: TimingBounds) -> Placement:
    """One line's placement given the silence it may borrow after its window."""
    window = max(0.0, line.end - line.start)
    if natural == 0:
        return Placement(line.index, line.start, line.start, 1.0)
    if natural <= window * bounds.max_speed:
        speed = max(natural / window, bounds.min_speed)
        return Placement(line.index, line.start, line.start + natural / speed, speed)
    needed = natural / bounds.max_speed - window  # the extra time that brings it to max_speed
    borrowed = min(needed, silence_after)
    speed = bounds.max_speed  # borrowing stops at max_speed; without enough silence it stays there
    return Placement(line.index, line.start, line.start + natural / speed, speed, borrowed, needed > silence_after)


def fit_timing(
    synth,
    lines: list[TranslatedLine],
    natural: list[SynthesizedLine],
    voices: list[Voice],
    language: str,
    media_duration: float,
    bounds: TimingBounds,
    out_dir: Path,
) -> Dub:
    """Re-speak every line at its planned speed (espeak's rate), checking the real length.

    A line that misses its planned length by more than 3 %, or whose real speed falls
    outside the bounds, is spoken again at a corrected rate (at most three takes). A line at speed 1 keeps (a copy of) its
    natural recording; every line's audio ends up in ``out_dir``. Each DubbedLine starts
    at the original start and ends after its real audio; its speed is natural duration /
    final duration.
    """
    by_index = {s.index: s for s in natural}
    missing = [line.index for line in lines if line.index not in by_index]
    if missing:
        raise InputError(f"no natural-speed synthesis for lines {missing}")
    spoken = [by_index[line.index] for line in lines]
    plan = plan_timing(lines, [s.duration for s in spoken], media_duration, bounds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dubbed = []
    for line, nat, place in zip(lines, spoken, plan):
        voice = voice_for(voices, line.speaker)
        audio = (out_dir / line_wav_name(line.index)).resolve()
        if nat.duration == 0 or place.speed == 1.0:  # already right: keep the natural recording
            copy_atomic(nat.audio, audio)
            duration = nat.duration
        else:
            duration = _speak_to_length(synth, line.target_text, voice, language, audio, nat.duration, place.speed, place.duration, bounds)
        dubbed.append(
            DubbedLine(
                index=line.index,
                speaker=line.speaker,
                source_text=line.source_text,
                target_text=line.target_text,
                window_start=line.start,
                window_end=line.end,
                audio=str(audio),
                natural_duration=nat.duration,
                speed=nat.duration / duration if duration > 0 else 1.0,
                start=line.start,
                end=line.start + duration,
                over_bound=place.over_bound,
            )
        )
    return Dub(language=language, lines=dubbed, voices=voices, speed_bounds=(bounds.min_speed, bounds.max_speed))


def _speak_to_length(
    synth, text: str, voice: Voice, language: str, out: Path, natural: float, speed: float, target: float, bounds: TimingBounds
) -> float:
    """Speak at ``speed``, correcting espeak's rate (at most ``MAX_ATTEMPTS`` times) until the
    real length is within 3 % of ``target`` and its speed factor inside the bounds.

    The best take (inside the bounds first, then closest to ``target``) is left at ``out``.
    """
    shortest, longest = natural / bounds.max_speed, natural / bounds.min_speed
    best: tuple[tuple[bool, float], float] | None = None
    for attempt in range(MAX_ATTEMPTS):
        take = out if attempt == 0 else out.with_name(f"{out.stem}.take{attempt}{out.suffix}")
        got = synth.synthesize(text, voice, language, take, speed=speed)
        in_bounds = shortest * (1 - 1e-9) <= got <= longest * (1 + 1e-9)
        score = (not in_bounds, abs(got - target))
        if best is None or score < best[0]:
            if take != out:
                take.replace(out)
            best = (score, got)
        else:
            take.unlink(missing_ok=True)
        if got <= 0 or (in_bounds and abs(got - target) <= MAX_DURATION_MISS * target):
            break
        aim = min(max(target, shortest * (1 + BOUND_MARGIN)), longest * (1 - BOUND_MARGIN))
        speed *= got / aim
    return best[1]
