"""espeak-ng speech for the lite profile: one voice per speaker, pitched to match that speaker.

Voice choice. Speakers are taken from the lowest median F0 to the highest. A speaker at
or above ``FEMALE_F0_HZ`` gets a female espeak variant, below it a male one; within a
gender the variants rotate (so two speakers also differ in timbre). The espeak pitch
(0-99) is the lowest that reaches the speaker's own F0, and at least ``MIN_F0_STEP``
above the previous (lower) speaker's dub voice, so the dub voices keep the speakers'
F0 order and no two speakers share (variant, pitch). Each variant's pitch -> F0 curve
is measured once per language (a calibration phrase at five pitches, YIN median F0),
so the choice holds for whatever espeak-ng version is installed.

Speed is realised through espeak's rate (words per minute), never by stretching audio;
leading and trailing silence is trimmed so a line's duration is the speech itself.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np

from models.audio import read_audio, trim_silence, write_wav
from models.data import SpeakerProfile, Voice
from models.espeak import DEFAULT_RATE_WPM, espeak_binary, speak_to_wav
from models.languages import normalize
from polydub.errors import InputError, UnsupportedLanguageError
from polydub.workdir import atomic_path

MALE_VARIANTS = ("m3", "m1", "m6", "m7")
FEMALE_VARIANTS = ("f3", "f1", "f4", "f2")
FEMALE_F0_HZ = 165.0  # speakers at or above this median F0 get a female variant
UNKNOWN_F0_HZ = 150.0  # used for a speaker whose F0 could not be measured
MIN_F0_STEP = 1.06  # each next-higher speaker's dub F0 is at least 6 % (≈ a semitone) higher
CALIBRATION_PITCHES = (0, 25, 50, 75, 99)
CALIBRATION_TEXT = "mama lala nana, a e o, mama."
TRIM_TOP_DB = 40.0
ASSIGNMENT_REVISION = "assign-1"  # bump when the voice choice changes, to invalidate caches


def median_f0(samples: np.ndarray, sample_rate: int) -> float:
    """Median fundamental frequency (Hz) of the voiced, loud part of mono speech (YIN)."""
    if samples.size < 2048:
        return 0.0
    f0 = librosa.yin(samples, fmin=50, fmax=500, sr=sample_rate, frame_length=2048, hop_length=256)
    rms = librosa.feature.rms(y=samples, frame_length=2048, hop_length=256)[0]
    n = min(len(f0), len(rms))
    voiced = rms[:n] > 0.1 * rms.max()
    return float(np.median(f0[:n][voiced])) if voiced.any() else 0.0


class EspeakSynthesizer:
    """Synthesizer backed by the espeak-ng command."""

    name = "espeak"

    def __init__(self) -> None:
        self.binary = espeak_binary()
        done = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False)
        release = done.stdout.split(":")[1].split()[0] if ":" in done.stdout else "unknown"
        self.version = f"espeak-ng-{release};{ASSIGNMENT_REVISION}"
        self._language_voices: dict[str, str] = {}
        self._curves: dict[tuple[str, str], np.ndarray] = {}

    def language_voice(self, language: str) -> str:
        """espeak-ng's voice for ``language`` (ISO 639-1), or UnsupportedLanguageError."""
        code = normalize(language)
        if code not in self._language_voices:
            done = subprocess.run([self.binary, f"--voices={code}"], capture_output=True, text=True, check=False)
            listed = [row.split()[1] for row in done.stdout.splitlines()[1:] if len(row.split()) > 1]
            if not listed:
                raise UnsupportedLanguageError(f"espeak-ng has no voice for '{code}'")
            self._language_voices[code] = code if code in listed else listed[0]
        return self._language_voices[code]

    def pitch_curve(self, language: str, variant: str) -> np.ndarray:
        """Predicted dub F0 (Hz) for each espeak pitch 0..99 of ``variant`` in ``language``."""
        key = (self.language_voice(language), variant)
        if key not in self._curves:
            measured = []
            with tempfile.TemporaryDirectory(prefix="polydub-espeak-") as scratch:
                wav = Path(scratch) / "calibration.wav"
                for pitch in CALIBRATION_PITCHES:
                    speak_to_wav(CALIBRATION_TEXT, wav, voice=f"{key[0]}+{variant}", pitch=pitch)
                    samples, rate = read_audio(wav)
                    measured.append(max(median_f0(samples, rate), 1.0))
            # F0 grows about geometrically with espeak's pitch: interpolate in log F0, kept monotonic
            log_f0 = np.maximum.accumulate(np.log(measured))
            self._curves[key] = np.exp(np.interp(np.arange(100), CALIBRATION_PITCHES, log_f0))
        return self._curves[key]

    def assign_voices(self, speakers: list[SpeakerProfile], language: str) -> list[Voice]:
        """One distinct (variant, pitch) per speaker, ordered like the speakers' median F0."""
        lang_voice = self.language_voice(language)
        ordered = sorted(speakers, key=lambda s: (_speaker_f0(s), s.speaker))
        used: set[tuple[str, int]] = set()
        voices: dict[str, Voice] = {}
        previous_f0 = 0.0
        counts = {"male": 0, "female": 0}
        for speaker in ordered:
            own_f0 = _speaker_f0(speaker)
            gender = "female" if own_f0 >= FEMALE_F0_HZ else "male"
            pool = FEMALE_VARIANTS if gender == "female" else MALE_VARIANTS
            start = counts[gender] % len(pool)
            counts[gender] += 1
            candidates = pool[start:] + pool[:start]
            if gender == "male":
                candidates += FEMALE_VARIANTS  # a male range exhausted by lower speakers goes on upwards
            wanted = max(own_f0, previous_f0 * MIN_F0_STEP)
            variant, pitch, f0 = self._first_fit(language, candidates, wanted, used)
            used.add((variant, pitch))
            previous_f0 = f0
            voices[speaker.speaker] = Voice(speaker=speaker.speaker, name=f"{lang_voice}+{variant}", pitch=pitch, f0_hz=round(f0, 1))
        return [voices[s.speaker] for s in speakers]

    def _first_fit(self, language: str, candidates: tuple[str, ...], wanted: float, used: set[tuple[str, int]]) -> tuple[str, int, float]:
        """The first candidate variant whose lowest pitch reaching ``wanted`` Hz is free."""
        for variant in candidates:
            curve = self.pitch_curve(language, variant)
            for pitch in np.flatnonzero(curve >= wanted):
                if (variant, int(pitch)) not in used:
                    return variant, int(pitch), float(curve[pitch])
        # more speakers than the pitch range holds: take the highest free voice (order no longer kept)
        for pitch in range(99, -1, -1):
            for variant in FEMALE_VARIANTS + MALE_VARIANTS:
                if (variant, pitch) not in used:
                    return variant, pitch, float(self.pitch_curve(language, variant)[pitch])
        raise InputError("too many speakers for distinct espeak voices")

    def synthesize(self, text: str, voice: Voice, language: str, out: Path, speed: float = 1.0) -> float:
        """Speak ``text`` at ``speed`` (through espeak's rate) into ``out``; return its trimmed duration."""
        if not (speed > 0 and math.isfinite(speed)):
            raise InputError(f"speech speed must be a positive number, got {speed}")
        variant = voice.name.split("+", 1)[1] if "+" in voice.name else voice.name
        espeak_voice = f"{self.language_voice(language)}+{variant}"
        out = Path(out)
        with atomic_path(out) as tmp:
            samples, rate = np.zeros(0, dtype=np.float32), 22050
            if text.strip():
                speak_to_wav(text, tmp, voice=espeak_voice, pitch=voice.pitch, rate_wpm=round(DEFAULT_RATE_WPM * speed))
                samples, rate = read_audio(tmp)
                samples = trim_silence(samples, TRIM_TOP_DB)
            write_wav(tmp, samples, rate)
        return len(samples) / float(rate)


def _speaker_f0(speaker: SpeakerProfile) -> float:
    f0 = speaker.median_f0_hz
    return f0 if f0 > 0 and math.isfinite(f0) else UNKNOWN_F0_HZ
