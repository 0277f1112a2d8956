"""Words -> speakers -> lines, and speaker voice profiles."""

from __future__ import annotations

import pytest

from models.data import Diarization, SpeakerTurn, Transcript, Word
from models.diarize import load_diarizer
from models.lines import align_lines_to_turns, assign_speakers, build_lines, ends_sentence
from models.metrics import word_error_rate
from models.speakers import measure_speakers
from models.transcribe import load_transcriber
from polydub.errors import InputError
from tests import speech_material as material


def words_from(spec: list[tuple[str, float, float]]) -> list[Word]:
    return [Word(text=text, start=start, end=end) for text, start, end in spec]


def transcript_of(spec: list[tuple[str, float, float]]) -> Transcript:
    return Transcript(language="en", words=words_from(spec))


def diarization_of(*turns: tuple[str, float, float]) -> Diarization:
    return Diarization(turns=[SpeakerTurn(speaker=s, start=a, end=b) for s, a, b in turns])


TWO_TURNS = diarization_of(("SPEAKER_00", 0.0, 2.0), ("SPEAKER_01", 2.5, 5.0))


def test_each_word_gets_the_speaker_it_overlaps_most():
    words = words_from([("hello", 0.1, 0.5), ("there", 1.7, 2.6), ("friend", 2.3, 3.0), ("again", 7.0, 7.4)])
    speakers = [w.speaker for w in assign_speakers(words, TWO_TURNS)]
    # "there" overlaps SPEAKER_00 by 0.3 s and SPEAKER_01 by 0.1 s; "again" is nearest to SPEAKER_01
    assert speakers == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01", "SPEAKER_01"]
    assert words[0].speaker is None  # the input is not modified


def test_words_in_a_gap_take_the_nearest_turn():
    words = words_from([("um", 2.05, 2.15), ("so", 2.35, 2.45)])
    assert [w.speaker for w in assign_speakers(words, TWO_TURNS)] == ["SPEAKER_00", "SPEAKER_01"]


def test_without_turns_everything_is_one_speaker():
    lines = build_lines(transcript_of([("Hi", 0.0, 0.3), ("you.", 0.4, 0.7)]), Diarization(turns=[]))
    assert [(line.speaker, line.text) for line in lines] == [("SPEAKER_00", "Hi you.")]


def test_lines_split_at_speaker_changes_and_sentence_ends():
    transcript = transcript_of([
        ("Good", 0.1, 0.4), ("morning.", 0.5, 0.9), ("How", 1.0, 1.2), ("are", 1.3, 1.4), ("you?", 1.5, 1.8),
        ("Fine,", 2.6, 2.9), ("thanks.", 3.0, 3.4),
    ])
    lines = build_lines(transcript, TWO_TURNS)
    assert [(line.index, line.speaker, line.text) for line in lines] == [
        (0, "SPEAKER_00", "Good morning."),
        (1, "SPEAKER_00", "How are you?"),
        (2, "SPEAKER_01", "Fine, thanks."),
    ]
    assert [(line.start, line.end) for line in lines] == [(0.1, 0.9), (1.0, 1.8), (2.6, 3.4)]


def test_abbreviations_do_not_end_a_sentence():
    assert ends_sentence("day.") and ends_sentence("really?\"") and not ends_sentence("Dr.")
    lines = build_lines(transcript_of([("Ask", 0.0, 0.2), ("Dr.", 0.3, 0.5), ("Lee.", 0.6, 0.9)]), TWO_TURNS)
    assert [line.text for line in lines] == ["Ask Dr. Lee."]


def test_long_pauses_split_lines():
    transcript = transcript_of([("one", 0.0, 0.3), ("two", 0.5, 0.8), ("three", 1.9, 2.0)])
    one_speaker = diarization_of(("SPEAKER_00", 0.0, 2.0))
    assert [line.text for line in build_lines(transcript, one_speaker, pause_split_s=1.0)] == ["one two", "three"]
    assert [line.text for line in build_lines(transcript, one_speaker, pause_split_s=1.5)] == ["one two three"]


def test_long_runs_split_at_a_natural_break():
    # 20 words over 10 s without a full stop; a comma and a longer gap after word 9
    spec = [(f"w{i}" + ("," if i == 9 else ""), i * 0.5 + (0.3 if i > 9 else 0.0), i * 0.5 + 0.4 + (0.3 if i > 9 else 0.0)) for i in range(20)]
    one_speaker = diarization_of(("SPEAKER_00", 0.0, 12.0))
    lines = build_lines(transcript_of(spec), one_speaker, max_line_seconds=8.0)
    assert [line.text.split()[-1] for line in lines] == ["w9,", "w19"]
    assert all(line.duration <= 8.0 for line in lines)
    short = build_lines(transcript_of(spec), one_speaker, max_line_seconds=2.0)
    assert all(line.duration <= 2.0 for line in short)
    assert " ".join(line.text for line in short) == " ".join(text for text, _, _ in spec)


def test_lines_snap_to_nearby_turn_edges():
    lines = build_lines(transcript_of([("Early", 0.0, 0.5), ("start.", 0.6, 1.6), ("Late", 2.9, 3.5), ("one.", 3.6, 4.7)]), TWO_TURNS)
    turns = diarization_of(("SPEAKER_00", 0.3, 1.5), ("SPEAKER_01", 2.6, 4.9))
    aligned = align_lines_to_turns(lines, turns, tolerance_s=0.4)
    assert [(line.start, line.end) for line in aligned] == [(0.3, 1.5), (2.6, 4.9)]
    assert [line.text for line in aligned] == [line.text for line in lines]
    far = align_lines_to_turns(lines, turns, tolerance_s=0.1)
    assert [(line.start, line.end) for line in far] == [(line.start, line.end) for line in lines]


@pytest.fixture(scope="module")
def interview(tmp_path_factory):
    return material.two_speaker_conversation(tmp_path_factory.mktemp("lines"))


def test_interview_lines_follow_the_speakers(interview):
    audio, truth, texts = interview
    transcript = load_transcriber().transcribe(audio)
    diarization = load_diarizer().diarize(audio)
    lines = build_lines(transcript, diarization)
    assert [line.index for line in lines] == list(range(len(lines)))
    assert word_error_rate(" ".join(texts), " ".join(line.text for line in lines)) <= 0.15
    # the found labels map one-to-one onto the true speakers
    mapping: dict[str, set[str]] = {}
    for line in lines:
        middle = (line.start + line.end) / 2
        true_speaker = min(truth.turns, key=lambda t: max(t.start - middle, middle - t.end, 0.0)).speaker
        mapping.setdefault(line.speaker, set()).add(true_speaker)
    assert all(len(found) == 1 for found in mapping.values())
    assert len(mapping) == 2
    # at least one line per true turn
    assert len(lines) >= len(truth.turns)


def test_speaker_profiles_tell_low_from_high_voice(interview):
    audio, truth, _ = interview
    profiles = {p.speaker: p for p in measure_speakers(audio, truth)}
    low, high = profiles[material.LOW_MALE.name], profiles[material.HIGH_FEMALE.name]
    assert 60 < low.median_f0_hz < 150 < 180 < high.median_f0_hz < 400
    for profile in profiles.values():
        expected = sum(t.duration for t in truth.turns if t.speaker == profile.speaker)
        assert profile.speech_seconds == pytest.approx(expected, abs=0.01)


def test_speaker_profiles_handle_no_speech_and_bad_input(tmp_path):
    audio = material.silence(tmp_path, seconds=2.0)
    silent = measure_speakers(audio, diarization_of(("SPEAKER_00", 0.5, 1.5)))
    assert silent[0].median_f0_hz == 0.0 and silent[0].speech_seconds == pytest.approx(1.0)
    assert measure_speakers(audio, Diarization(turns=[])) == []
    with pytest.raises(InputError):
        measure_speakers(tmp_path / "missing.wav", Diarization(turns=[]))
