"""Reference clip choice for voice cloning, on espeak-ng conversations with known turns."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf

from models.audio import read_audio, write_wav
from models.data import Diarization, SpeakerTurn
from models.synthesize.reference import ReferenceClip, choose_reference, clean_runs, snr_db
from polydub.errors import InputError
from tests.speech_material import HIGH_FEMALE, LOW_MALE, conversation

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

LONG_A = "Every morning I walk down to the water and watch the boats come in, and then I sit on the old wall and wait for the sun."
LONG_B = "The fishermen sort their fish on the stones, the birds wait on the roofs, and the market slowly fills with people buying bread."
SCRIPT = [(LOW_MALE, LONG_A), (HIGH_FEMALE, "Is that so?"), (LOW_MALE, LONG_B), (HIGH_FEMALE, "Yes.")]


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """Two long turns of the low voice; noise is added over the first one only."""
    folder = tmp_path_factory.mktemp("talk")
    wav, truth, _ = conversation(folder, SCRIPT, pauses_s=(0.7,))
    samples, rate = read_audio(wav)
    first = truth.turns[0]
    noisy = samples.copy()
    span = slice(int(first.start * rate), int(first.end * rate))
    noisy[span] += 0.05 * np.random.default_rng(0).standard_normal(span.stop - span.start).astype(np.float32)
    return write_wav(folder / "noisy.wav", noisy, rate), truth


def test_the_cleaner_of_two_long_turns_is_chosen_and_written(talk, tmp_path):
    wav, truth = talk
    a_turns = [t for t in truth.turns if t.speaker == LOW_MALE.name]
    assert all(t.duration >= 6.0 for t in a_turns)  # both turns qualify on length
    clip = choose_reference(wav, truth, LOW_MALE.name, out=tmp_path / "ref.wav")
    assert isinstance(clip, ReferenceClip) and not clip.short
    second = a_turns[1]
    assert second.start - 1e-3 <= clip.start < clip.end <= second.end + 1e-3  # the noise-free turn
    assert 6.0 <= clip.duration <= 15.0
    others = [t for t in truth.turns if t.speaker != LOW_MALE.name]
    assert all(clip.end <= t.start or clip.start >= t.end for t in others)
    samples, rate = read_audio(wav)
    noisy_snr = snr_db(samples[int(a_turns[0].start * rate) : int(a_turns[0].end * rate)], rate)
    assert clip.snr_db > noisy_snr + 10
    written, written_rate = sf.read(clip.audio)
    assert written_rate == rate and abs(len(written) / rate - clip.duration) < 0.01


def test_a_speaker_with_only_short_turns_gets_the_longest_clean_run_flagged(talk):
    wav, truth = talk
    clip = choose_reference(wav, truth, HIGH_FEMALE.name)
    assert clip.short and clip.duration < 6.0
    b_turns = [t for t in truth.turns if t.speaker == HIGH_FEMALE.name]
    longest = max(b_turns, key=lambda t: t.duration)
    assert longest.start - 1e-3 <= clip.start < clip.end <= longest.end + 1e-3


def test_long_runs_are_cut_to_the_maximum_and_other_voices_are_kept_out():
    turns = [SpeakerTurn(speaker="A", start=0.0, end=10.0), SpeakerTurn(speaker="B", start=9.0, end=12.0),
             SpeakerTurn(speaker="A", start=12.5, end=13.0), SpeakerTurn(speaker="A", start=13.4, end=30.0)]
    runs = clean_runs(Diarization(turns=turns), "A")
    # A's first turn loses its overlap with B plus the guard; the 12.5 and 13.4 turns join (short gap, nobody between)
    assert runs == [(0.0, pytest.approx(8.8)), (12.5, 30.0)]


def test_window_length_is_bounded(tmp_path):
    rate = 16000
    t = np.arange(40 * rate) / rate
    buzz = (0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    wav = write_wav(tmp_path / "long.wav", buzz, rate)
    clip = choose_reference(wav, Diarization(turns=[SpeakerTurn(speaker="A", start=1.0, end=39.0)]), "A", max_s=15.0)
    assert clip.duration == pytest.approx(15.0) and 1.0 <= clip.start and clip.end <= 39.0
    with pytest.raises(InputError):
        choose_reference(wav, Diarization(turns=[SpeakerTurn(speaker="A", start=1.0, end=2.0)]), "Z")
