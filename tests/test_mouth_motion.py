"""Mouth motion from audio and phonemes: envelope, smoothing, viseme overrides, espeak phonemes."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from models.espeak import speak_to_wav
from models.lipsync.motion import audio_envelope, mouth_poses
from models.lipsync.phonemes import TimedPhoneme, Viseme, phonemes_for, viseme_of

SR = 16000
FPS = 25.0


def _burst(total_s: float = 2.0, start_s: float = 0.5, length_s: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    samples = np.zeros(int(total_s * SR), dtype=np.float32)
    t = np.arange(int(length_s * SR)) / SR
    begin = int(start_s * SR)
    samples[begin : begin + len(t)] = amplitude * np.sin(2 * np.pi * 220.0 * t)
    return samples


def _openings(poses) -> np.ndarray:
    return np.array([p.opening for p in poses])


def test_envelope_of_silence_is_zero():
    assert np.array_equal(audio_envelope(np.zeros(SR), SR, FPS, 25), np.zeros(25))
    assert np.array_equal(audio_envelope(np.zeros(SR // 2), SR, FPS, 25), np.zeros(25))  # frames past the end


def test_envelope_follows_a_tone_burst_at_any_level():
    envelope = audio_envelope(_burst(), SR, FPS, 50)
    assert envelope.shape == (50,)
    assert np.all(envelope[:12] == 0) and np.all(envelope[38:] == 0)  # burst covers frames 12.5–37.5
    assert np.all(envelope[13:37] > 0.9)
    quiet = audio_envelope(_burst(amplitude=0.003), SR, FPS, 50)
    assert np.allclose(quiet, envelope, atol=1e-6)


def test_poses_are_zero_in_silence():
    poses = mouth_poses(np.zeros(SR), SR, FPS, 25)
    assert len(poses) == 25
    assert all(p.opening == 0.0 and p.spread == 0.0 for p in poses)


def test_poses_follow_the_burst_smoothly_with_anticipation():
    opening = _openings(mouth_poses(_burst(), SR, FPS, 50))
    assert np.all(opening[:9] == 0) and np.all(opening[44:] == 0)  # closed well before and after
    assert np.all(opening[15:35] > 0.85)
    assert opening[11] > 0.05  # lips start moving before the sound (frame 12 is the onset)
    assert np.abs(np.diff(opening)).max() <= 0.5  # no jumps
    assert opening[39] < opening[38] < opening[37]  # closes gradually after the sound


def test_bilabial_closes_and_vowels_shape_the_lips():
    phonemes = [
        TimedPhoneme("a", 0.0, 0.3, Viseme.OPEN),
        TimedPhoneme("m", 0.3, 0.42, Viseme.CLOSED),
        TimedPhoneme("u", 0.42, 0.7, Viseme.ROUNDED),
        TimedPhoneme("i", 0.7, 1.0, Viseme.SPREAD),
    ]
    poses = mouth_poses(_burst(), SR, FPS, 50, phonemes)  # speech (the burst) spans 0.5–1.5 s
    opening = _openings(poses)
    spread = np.array([p.spread for p in poses])
    closure = int((0.5 + 0.36) * FPS)
    assert opening[closure] < 0.2
    assert opening[closure - 4] > 0.7 and opening[closure + 4] > 0.5
    assert spread[int((0.5 + 0.56) * FPS)] < -0.3  # rounded on u
    assert spread[int((0.5 + 0.88) * FPS)] > 0.3  # spread on i
    assert np.abs(np.diff(opening)).max() <= 0.5


@pytest.mark.parametrize(
    ("symbol", "viseme"),
    [("b", Viseme.CLOSED), ("m", Viseme.CLOSED), ("ˈuː", Viseme.ROUNDED), ("oʊ", Viseme.ROUNDED), ("əʊ", Viseme.ROUNDED),
     ("w", Viseme.ROUNDED), ("iː", Viseme.SPREAD), ("ɛ", Viseme.SPREAD), ("ˈɑː", Viseme.OPEN), ("s", Viseme.OTHER)],
)
def test_viseme_classes(symbol, viseme):
    assert viseme_of(symbol) is viseme


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [("Bob moves the blue boat, he sees me.", "en", {Viseme.CLOSED, Viseme.ROUNDED, Viseme.SPREAD, Viseme.OPEN, Viseme.OTHER}),
     ("Buenos días, mi amigo Pablo.", "es", {Viseme.CLOSED, Viseme.ROUNDED, Viseme.SPREAD, Viseme.OPEN, Viseme.OTHER})],
)
def test_espeak_phonemes_cover_the_clip(text, language, expected):
    phonemes = phonemes_for(text, language, 2.5)
    assert len(phonemes) > 10
    assert {p.viseme for p in phonemes} == expected
    assert phonemes[0].start == 0.0 and phonemes[-1].end == pytest.approx(2.5)
    assert all(a.end <= b.start + 1e-9 and a.start < a.end for a, b in zip(phonemes, phonemes[1:]))
    assert sum(p.end - p.start for p in phonemes) > 0.85 * 2.5  # only clause pauses are gaps
    assert phonemes_for("", language, 2.5) == [] and phonemes_for(text, language, 0.0) == []


def test_real_speech_drives_the_mouth(tmp_path):
    text = "Bob moves the blue boat. Mapping it, he smiled."
    samples, rate = sf.read(speak_to_wav(text, tmp_path / "line.wav", "en-us"), dtype="float32")
    frames = int(len(samples) / rate * FPS)
    poses = mouth_poses(samples, rate, FPS, frames, phonemes_for(text, "en", len(samples) / rate))
    opening = _openings(poses)
    envelope = audio_envelope(samples, rate, FPS, frames)
    assert np.corrcoef(opening, envelope)[0, 1] > 0.6
    assert np.abs(np.diff(opening)).max() <= 0.5
    assert (opening < 0.05).sum() >= 3  # closures and pauses, not a mouth stuck open
