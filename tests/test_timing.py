"""Timing fit: every rule of the planner, and the re-synthesis at the planned speed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.audio import duration_seconds, write_wav
from models.data import SpeakerProfile, SynthesizedLine, TranslatedLine, Voice
from models.synthesize import load_synthesizer, synthesize_lines
from models.timing import Placement, TimingBounds, fit_timing, plan_timing
from polydub.errors import InputError

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # property tests need the optional `hypothesis` package
    given = None

BOUNDS = TimingBounds()  # 0.85 .. 1.25, 0.1 s margin


def line(index: int, start: float, end: float, speaker: str = "A", text: str = "x") -> TranslatedLine:
    return TranslatedLine(index=index, speaker=speaker, start=start, end=end, source_text="x", target_text=text)


def plan_one(natural: float, window: float = 2.0, next_start: float | None = None, media: float = 100.0, bounds=BOUNDS) -> Placement:
    lines = [line(0, 1.0, 1.0 + window)]
    durations = [natural]
    if next_start is not None:
        lines.append(line(1, next_start, next_start + 1.0))
        durations.append(1.0)
    return plan_timing(lines, durations, media, bounds)[0]


# --- rule 2: a line whose needed speed is inside the bounds fills its window -------------

@pytest.mark.parametrize("natural", [1.7, 2.0, 2.3, 2.5])
def test_a_line_within_the_bounds_fills_its_window(natural):
    placed = plan_one(natural, window=2.0, next_start=10.0)
    assert placed.speed == pytest.approx(natural / 2.0)
    assert placed.start == 1.0 and placed.end == pytest.approx(3.0)
    assert placed.borrowed_s == 0.0 and not placed.over_bound


# --- rule 3: a short line is slowed at most to min_speed ---------------------------------

def test_a_short_line_is_slowed_at_most_to_min_speed():
    placed = plan_one(1.0, window=2.0, next_start=10.0)
    assert placed.speed == BOUNDS.min_speed
    assert placed.end == pytest.approx(1.0 + 1.0 / BOUNDS.min_speed)
    assert placed.end < 3.0 and placed.borrowed_s == 0.0 and not placed.over_bound


# --- rule 4: a long line borrows the silence after it, only what it needs -----------------

def test_a_long_line_borrows_just_enough_silence_to_reach_max_speed():
    placed = plan_one(3.0, window=2.0, next_start=5.0)  # needs 1.5x; 2.4 s at max speed
    assert placed.speed == pytest.approx(BOUNDS.max_speed)
    assert placed.borrowed_s == pytest.approx(0.4)
    assert placed.end == pytest.approx(1.0 + 2.4)
    assert not placed.over_bound


def test_borrowing_stops_at_the_margin_before_the_next_line():
    placed = plan_one(3.0, window=2.0, next_start=3.45)  # 0.45 s of silence, 0.35 usable
    assert placed.borrowed_s == pytest.approx(0.35)
    assert placed.over_bound


def test_the_last_line_borrows_up_to_the_end_of_the_media():
    fits = plan_one(3.0, window=2.0, media=3.5)
    assert fits.borrowed_s == pytest.approx(0.4) and not fits.over_bound
    short = plan_one(3.0, window=2.0, media=3.2)
    assert short.borrowed_s == pytest.approx(0.2) and short.over_bound


def test_overlapping_source_lines_leave_nothing_to_borrow():
    lines = [line(0, 0.0, 2.0), line(1, 1.5, 3.0)]
    placed = plan_timing(lines, [3.0, 1.5], 10.0, BOUNDS)
    assert placed[0].borrowed_s == 0.0 and placed[0].over_bound


# --- rule 5: a line still too long is kept whole at max speed and flagged ----------------

def test_a_line_still_too_long_is_kept_at_max_speed_and_overlaps():
    placed = plan_one(4.0, window=2.0, next_start=3.5)
    assert placed.over_bound
    assert placed.speed == BOUNDS.max_speed
    assert placed.end - placed.start == pytest.approx(4.0 / BOUNDS.max_speed)  # whole: never cut
    assert placed.end > 3.5  # it overlaps the next line
    assert placed.borrowed_s == pytest.approx(3.5 - BOUNDS.gap_margin_s - 3.0)


# --- rule 1: no drift; rule 6: silent lines ----------------------------------------------

def test_every_line_starts_at_its_original_start_even_after_an_overlong_one():
    lines = [line(0, 0.0, 1.0), line(1, 1.2, 2.0), line(2, 5.0, 6.0)]
    placed = plan_timing(lines, [5.0, 1.0, 1.0], 6.0, BOUNDS)
    assert [p.start for p in placed] == [0.0, 1.2, 5.0]
    assert placed[0].over_bound and placed[0].end > placed[1].start


def test_a_line_without_speech_gets_speed_one_and_no_span():
    placed = plan_one(0.0, window=2.0, next_start=5.0)
    assert (placed.speed, placed.start, placed.end, placed.over_bound) == (1.0, 1.0, 1.0, False)


def test_a_zero_length_window_borrows_what_follows():
    placed = plan_timing([line(0, 2.0, 2.0), line(1, 4.0, 5.0)], [1.0, 1.0], 10.0, BOUNDS)[0]
    assert placed.borrowed_s == pytest.approx(0.8) and not placed.over_bound


def test_lines_in_any_order_come_back_in_that_order_with_neighbours_by_time():
    lines = [line(7, 5.0, 6.0), line(3, 0.0, 2.0)]
    placed = plan_timing(lines, [1.0, 3.0], 10.0, BOUNDS)
    assert [p.index for p in placed] == [7, 3]
    assert placed[1].borrowed_s == pytest.approx(0.4) and not placed[1].over_bound


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="natural durations"):
        plan_timing([line(0, 0, 1)], [], 5.0, BOUNDS)
    with pytest.raises(InputError, match=">= 0"):
        plan_timing([line(0, 0, 1)], [-1.0], 5.0, BOUNDS)
    with pytest.raises(InputError, match="timing bounds"):
        TimingBounds(min_speed=1.2, max_speed=1.1)


# --- the same rules as properties over random timelines -----------------------------------

if given is not None:

    @st.composite
    def timelines(draw):
        count = draw(st.integers(1, 8))
        starts, t = [], 0.0
        for _ in range(count):
            t += draw(st.floats(0.0, 4.0))
            starts.append(round(t, 3))
        windows = [draw(st.floats(0.0, 5.0)) for _ in range(count)]
        naturals = [draw(st.one_of(st.just(0.0), st.floats(0.05, 10.0))) for _ in range(count)]
        media = starts[-1] + windows[-1] + draw(st.floats(0.0, 3.0))
        lines = [line(i, s, s + w) for i, (s, w) in enumerate(zip(starts, windows))]
        return lines, naturals, media

    @settings(max_examples=300, deadline=None, database=None)
    @given(timelines())
    def test_planner_properties(case):
        lines, naturals, media = case
        placed = plan_timing(lines, naturals, media, BOUNDS)
        for i, (ln, nat, p) in enumerate(zip(lines, naturals, placed)):
            limit = lines[i + 1].start - BOUNDS.gap_margin_s if i + 1 < len(lines) else media
            silence = max(0.0, limit - ln.end)
            window = ln.end - ln.start
            assert p.index == ln.index and p.start == ln.start  # no drift
            if nat == 0:
                assert p.speed == 1.0 and p.end == p.start
                continue
            assert BOUNDS.min_speed - 1e-9 <= p.speed <= BOUNDS.max_speed + 1e-9
            assert p.end - p.start == pytest.approx(nat / p.speed)  # the whole line, never cut
            assert 0.0 <= p.borrowed_s <= silence + 1e-9
            if window > 0 and nat / window <= BOUNDS.max_speed:
                assert p.borrowed_s == 0.0 and not p.over_bound
                assert p.end <= ln.end + 1e-9
            else:
                assert p.speed == BOUNDS.max_speed
            assert p.over_bound == (nat / BOUNDS.max_speed > window + silence + 1e-9)
            if p.over_bound:
                assert p.borrowed_s == pytest.approx(silence)  # took all the silence there was
            elif p.borrowed_s > 0:
                assert p.end == pytest.approx(ln.end + p.borrowed_s)  # took only what it needed


# --- fit_timing: real espeak at the planned speeds ----------------------------------------

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@needs_espeak
def test_fit_timing_speaks_each_line_at_its_planned_length(tmp_path):
    synth = load_synthesizer("espeak")
    voices = synth.assign_voices([SpeakerProfile(speaker="A", median_f0_hz=120.0, speech_seconds=9.0)], "es")
    texts = [
        "Esta frase tiene que ir un poco más rápida.",
        "Esta otra puede ir algo más despacio que antes.",
        "Una frase corta.",
        "Y esta última es demasiado larga para el poco tiempo que tiene.",
        "",  # a line with nothing to say
    ]
    drafts = [line(i, 0.0, 1.0, text=t) for i, t in enumerate(texts)]
    natural = synthesize_lines(synth, drafts, voices, "es", tmp_path / "natural")
    n = [s.duration for s in natural]
    # windows built from the real natural durations: speed 1.2, speed 0.9, far too long, far too short
    starts = [0.0, n[0] / 1.2 + 1.0, n[0] / 1.2 + n[1] / 0.9 + 2.0]
    starts.append(starts[2] + 3 * n[2] + 1.0)
    ends = [starts[0] + n[0] / 1.2, starts[1] + n[1] / 0.9, starts[2] + 3 * n[2], starts[3] + n[3] / 2]
    starts.append(ends[3] + 0.1)
    ends.append(ends[3] + 0.15)
    lines = [line(i, s, e, text=t) for i, (s, e, t) in enumerate(zip(starts, ends, texts))]
    media = ends[3] + 0.2
    dub = fit_timing(synth, lines, natural, voices, "es", media, BOUNDS, tmp_path / "fit")
    plan = plan_timing(lines, n, media, BOUNDS)

    assert dub.language == "es" and dub.speed_bounds == (0.85, 1.25) and dub.voices == voices
    for dubbed, ln, nat, p in zip(dub.lines, lines, natural, plan):
        assert dubbed.start == ln.start and (dubbed.window_start, dubbed.window_end) == (ln.start, ln.end)
        assert dubbed.natural_duration == nat.duration
        real = duration_seconds(dubbed.audio)
        assert dubbed.end - dubbed.start == pytest.approx(real)
        assert dubbed.speed == (pytest.approx(nat.duration / real) if real else 1.0)
        assert real == pytest.approx(p.duration, rel=0.05)  # espeak's rate hits the plan
        assert dubbed.over_bound == p.over_bound
    assert dub.lines[0].speed == pytest.approx(1.2, rel=0.05)
    assert dub.lines[1].speed == pytest.approx(0.9, rel=0.05)
    assert dub.lines[2].speed == pytest.approx(BOUNDS.min_speed, rel=0.05)
    assert dub.lines[3].over_bound and dub.lines[3].speed == pytest.approx(BOUNDS.max_speed, rel=0.05)
    assert (dub.lines[4].speed, dub.lines[4].end) == (1.0, starts[4])
    assert all(Path(d.audio).parent == (tmp_path / "fit").resolve() for d in dub.lines)  # the stage owns its files
    assert not list((tmp_path / "fit").glob("*.retry*"))


class SluggishSynth:
    """A stand-in engine whose rate control undershoots (duration ∝ speed^-0.6), as some TTS do."""

    name, version = "sluggish", "1"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def synthesize(self, text: str, voice: Voice, language: str, out: Path, speed: float = 1.0) -> float:
        seconds = 2.0 * speed**-0.6
        write_wav(out, 0.1 * np.sin(np.arange(int(seconds * 16000)) * 0.1), 16000)
        self.calls.append(speed)
        return duration_seconds(out)


def test_a_missed_length_is_corrected_within_three_takes(tmp_path):
    synth = SluggishSynth()
    voices = [Voice(speaker="A", name="x", pitch=0)]
    natural_wav = write_wav(tmp_path / "n.wav", np.zeros(32000), 16000)
    natural = [SynthesizedLine(index=0, audio=str(natural_wav), duration=2.0)]
    dub = fit_timing(synth, [line(0, 0.0, 1.6)], natural, voices, "es", 5.0, BOUNDS, tmp_path)
    assert 2 <= len(synth.calls) <= 3  # planned 1.25, measured 10 % long, asked again faster
    assert synth.calls[0] == 1.25 and synth.calls == sorted(synth.calls)
    first_miss = abs(2.0 * 1.25**-0.6 - 1.6)
    assert abs(dub.lines[0].duration - 1.6) < first_miss
    assert BOUNDS.min_speed <= dub.lines[0].speed <= BOUNDS.max_speed
    assert not list(tmp_path.glob("*.take*"))


def test_the_real_speed_stays_inside_the_bounds(tmp_path):
    """An engine that overshoots the rate must not push a line's measured speed past the bound."""

    class Overshooting(SluggishSynth):
        def synthesize(self, text, voice, language, out, speed=1.0):
            seconds = 2.0 * speed**-1.2
            write_wav(out, 0.1 * np.sin(np.arange(int(seconds * 16000)) * 0.1), 16000)
            self.calls.append(speed)
            return duration_seconds(out)

    synth = Overshooting()
    voices = [Voice(speaker="A", name="x", pitch=0)]
    natural_wav = write_wav(tmp_path / "n.wav", np.zeros(32000), 16000)
    natural = [SynthesizedLine(index=0, audio=str(natural_wav), duration=2.0)]
    dub = fit_timing(synth, [line(0, 0.0, 1.0)], natural, voices, "es", 5.0, BOUNDS, tmp_path)  # needs 2.0, capped at 1.25
    assert len(synth.calls) >= 2
    assert BOUNDS.min_speed <= dub.lines[0].speed <= BOUNDS.max_speed
