"""espeak-ng synthesis: voices matched to speakers, speed through the rate, trimmed lines."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import librosa
import numpy as np
import pytest

from models.audio import duration_seconds, read_audio
from models.data import SpeakerProfile, TranslatedLine, Voice
from models.espeak import speak_to_wav
from models.synthesize import Synthesizer, load_synthesizer, synthesize_lines
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

TEXT = {
    "es": "Hola, me gusta mucho esta ciudad porque tiene muchos parques.",
    "ca": "Hola, m'agrada molt aquesta ciutat perquè té molts parcs.",
    "eo": "Saluton, mi tre ŝatas ĉi tiun urbon ĉar ĝi havas multajn parkojn.",
}


def measured_f0(path: Path) -> float:
    """Median YIN F0 of the loud frames of a WAV file."""
    samples, rate = read_audio(path)
    f0 = librosa.yin(samples, fmin=50, fmax=500, sr=rate, frame_length=2048, hop_length=256)
    rms = librosa.feature.rms(y=samples, frame_length=2048, hop_length=256)[0]
    n = min(len(f0), len(rms))
    return float(np.median(f0[:n][rms[:n] > 0.1 * rms.max()]))


def profile(name: str, f0: float) -> SpeakerProfile:
    return SpeakerProfile(speaker=name, median_f0_hz=f0, speech_seconds=20.0)


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return load_synthesizer("espeak")


def test_factory_gives_an_espeak_synthesizer(synth):
    assert isinstance(synth, Synthesizer)
    assert synth.name == "espeak"
    assert synth.version.startswith("espeak-ng-")
    with pytest.raises(BackendUnavailableError, match="unknown synthesis backend"):
        load_synthesizer("nope")


@pytest.mark.parametrize("language", ["es", "ca", "eo"])
def test_two_speakers_get_distinct_voices_in_their_f0_order(synth, language, tmp_path):
    speakers = [profile("HIGH", 215.0), profile("LOW", 105.0)]
    voices = synth.assign_voices(speakers, language)
    assert [v.speaker for v in voices] == ["HIGH", "LOW"]  # same order as the speakers
    high, low = voices
    assert (high.name, high.pitch) != (low.name, low.pitch)
    assert high.name.startswith(f"{language}+f") and low.name.startswith(f"{language}+m")
    f0 = {}
    for voice in voices:
        wav = tmp_path / f"{voice.speaker}.wav"
        synth.synthesize(TEXT[language], voice, language, wav)
        f0[voice.speaker] = measured_f0(wav)
    assert f0["HIGH"] > 1.5 * f0["LOW"]
    # the dub voice lands near the speaker's own F0 (within 20 %)
    assert f0["LOW"] == pytest.approx(105.0, rel=0.2)
    assert f0["HIGH"] == pytest.approx(215.0, rel=0.2)


def test_close_speakers_stay_distinct_and_ordered(synth, tmp_path):
    speakers = [profile("B", 118.0), profile("A", 112.0), profile("C", 125.0)]
    voices = {v.speaker: v for v in synth.assign_voices(speakers, "es")}
    assert len({(v.name, v.pitch) for v in voices.values()}) == 3
    assert voices["A"].f0_hz < voices["B"].f0_hz < voices["C"].f0_hz
    f0 = {}
    for name, voice in voices.items():
        wav = tmp_path / f"{name}.wav"
        synth.synthesize(TEXT["es"], voice, "es", wav)
        f0[name] = measured_f0(wav)
    assert f0["A"] < f0["B"] < f0["C"]


def test_many_speakers_never_share_a_voice(synth):
    rng = np.random.default_rng(7)
    speakers = [profile(f"S{i:02d}", float(f0)) for i, f0 in enumerate(rng.uniform(90, 260, size=14))]
    speakers.append(profile("UNMEASURED", 0.0))
    voices = synth.assign_voices(speakers, "es")
    assert len(voices) == len(speakers)
    assert len({(v.name, v.pitch) for v in voices}) == len(voices)
    by_f0 = sorted(zip(speakers, voices), key=lambda pair: pair[0].median_f0_hz or 150.0)
    dub_f0 = [voice.f0_hz for _, voice in by_f0]
    assert dub_f0 == sorted(dub_f0)


def test_speed_is_realised_through_the_rate(synth, tmp_path):
    voice = synth.assign_voices([profile("S", 120.0)], "es")[0]
    natural = synth.synthesize(TEXT["es"], voice, "es", tmp_path / "natural.wav")
    assert natural == pytest.approx(duration_seconds(tmp_path / "natural.wav"))
    for speed in (0.85, 1.25):
        duration = synth.synthesize(TEXT["es"], voice, "es", tmp_path / f"{speed}.wav", speed=speed)
        assert duration == pytest.approx(natural / speed, rel=0.05)
        # pitch is not shifted by the rate change, unlike stretching the audio would do
        assert measured_f0(tmp_path / f"{speed}.wav") == pytest.approx(measured_f0(tmp_path / "natural.wav"), rel=0.08)


def test_lines_are_trimmed_to_the_speech(synth, tmp_path):
    voice = Voice(speaker="S", name="es+m3", pitch=50)
    duration = synth.synthesize("Buenos días.", voice, "es", tmp_path / "line.wav")
    raw = speak_to_wav("Buenos días.", tmp_path / "raw.wav", voice="es+m3", pitch=50)
    assert duration < duration_seconds(raw) - 0.05  # espeak pads with silence; the line does not
    samples, rate = read_audio(tmp_path / "line.wav")
    edge = int(0.03 * rate)
    peak = np.abs(samples).max()
    assert np.abs(samples[:edge]).max() > 0.01 * peak
    assert np.abs(samples[-edge:]).max() > 0.01 * peak
    assert not list(tmp_path.glob(".*.part*"))  # written atomically: no temp file left


def test_empty_text_gives_an_empty_line(synth, tmp_path):
    voice = Voice(speaker="S", name="es+m3", pitch=50)
    assert synth.synthesize("   ", voice, "es", tmp_path / "empty.wav") == 0.0
    assert duration_seconds(tmp_path / "empty.wav") == 0.0


def test_bad_speed_and_unknown_language_are_refused(synth, tmp_path):
    voice = Voice(speaker="S", name="es+m3", pitch=50)
    with pytest.raises(InputError, match="speed"):
        synth.synthesize("Hola.", voice, "es", tmp_path / "x.wav", speed=0.0)
    missing = next(code for code in ("zu", "yo", "ig", "ha", "wo")
                   if len(subprocess.run(["espeak-ng", f"--voices={code}"], capture_output=True, text=True).stdout.splitlines()) <= 1)
    with pytest.raises(UnsupportedLanguageError, match=f"no voice for '{missing}'"):
        synth.assign_voices([profile("S", 120.0)], missing)


def test_synthesize_lines_writes_one_wav_per_line(synth, tmp_path):
    voices = synth.assign_voices([profile("A", 110.0), profile("B", 200.0)], "ca")
    lines = [
        TranslatedLine(index=3, speaker="A", start=0.0, end=2.0, source_text="Hello.", target_text="Hola."),
        TranslatedLine(index=4, speaker="B", start=2.5, end=5.0, source_text="The red house.", target_text="La casa vermella."),
        TranslatedLine(index=5, speaker="A", start=6.0, end=7.0, source_text="...", target_text=""),
    ]
    spoken = synthesize_lines(synth, lines, voices, "ca", tmp_path / "lines")
    assert [s.index for s in spoken] == [3, 4, 5]
    assert len({s.audio for s in spoken}) == 3
    for line in spoken:
        assert Path(line.audio).is_absolute()
        assert line.duration == pytest.approx(duration_seconds(line.audio))
    assert spoken[1].duration > spoken[0].duration > 0 and spoken[2].duration == 0
    assert measured_f0(Path(spoken[1].audio)) > measured_f0(Path(spoken[0].audio))
    stranger = [lines[0].model_copy(update={"speaker": "Z"})]
    with pytest.raises(InputError, match="no voice assigned to speaker 'Z'"):
        synthesize_lines(synth, stranger, voices, "ca", tmp_path / "other")
