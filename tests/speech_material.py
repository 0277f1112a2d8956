"""Test material with known truth: espeak-ng speech from distinct voices, 16 kHz mono.

Plain functions (no pytest) so any test can build a conversation and compare what a
backend finds with what was put in: the words of every turn and its exact span.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.audio import read_audio, trim_silence, write_wav
from models.data import Diarization, SpeakerTurn
from models.espeak import speak_to_wav
from models.metrics import read_rttm

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: an espeak-ng voice (with variant) and a pitch (0-99)."""

    name: str
    voice: str
    pitch: int = 50
    rate_wpm: int = 160


LOW_MALE = Speaker("SPEAKER_00", "en-us+m3", pitch=30)
HIGH_FEMALE = Speaker("SPEAKER_01", "en-us+f3", pitch=70)
THIRD_VOICE = Speaker("SPEAKER_02", "en-us+grandma", pitch=50, rate_wpm=150)

TWO_SPEAKER_SCRIPT: list[tuple[Speaker, str]] = [
    (LOW_MALE, "Welcome back to the show. Today we are talking about how old maps were made."),
    (HIGH_FEMALE, "Thank you for having me. I have studied very old maps for many years."),
    (LOW_MALE, "What surprised you most when you started?"),
    (HIGH_FEMALE, "How much the sailors trusted the stars. They measured every night and wrote it down."),
    (LOW_MALE, "That sounds like a lot of careful work."),
    (HIGH_FEMALE, "It was. And many of those notes are still in the library today."),
]

THREE_SPEAKER_SCRIPT: list[tuple[Speaker, str]] = [
    (LOW_MALE, "Good morning everyone, let us begin the weekly meeting."),
    (HIGH_FEMALE, "The new bridge is finished and the plans are ready."),
    (THIRD_VOICE, "The city council said yes to the project yesterday."),
    (LOW_MALE, "Excellent news. When can the building work start?"),
    (HIGH_FEMALE, "We can start in the spring, when the river is low."),
    (THIRD_VOICE, "I will tell the council and send them the schedule."),
]

MONOLOGUE_SCRIPT: list[tuple[Speaker, str]] = [
    (LOW_MALE, "Every morning I walk down to the water and watch the boats come in."),
    (LOW_MALE, "The fishermen sort their fish and the birds wait on the roofs."),
    (LOW_MALE, "By nine in the morning the market is full of people buying bread."),
]


def speak_16k(text: str, speaker: Speaker, work_dir: Path) -> np.ndarray:
    """``text`` spoken by ``speaker`` as 16 kHz mono float samples, silence trimmed."""
    raw = speak_to_wav(text, Path(work_dir) / "utterance.wav", voice=speaker.voice, pitch=speaker.pitch, rate_wpm=speaker.rate_wpm)
    samples, _ = read_audio(raw, sample_rate=SAMPLE_RATE)
    return trim_silence(samples)


def conversation(
    work_dir: Path | str,
    script: list[tuple[Speaker, str]],
    pauses_s: tuple[float, ...] = (0.6, 0.8, 1.0),
    lead_s: float = 0.5,
    tone_level: float = 0.0,
    name: str = "conversation.wav",
) -> tuple[Path, Diarization, list[str]]:
    """Speak ``script`` turn by turn into one 16 kHz mono WAV.

    Pauses between turns cycle through ``pauses_s``; ``tone_level`` > 0 adds a quiet
    background chord under everything. Returns the WAV path, the true speaker turns
    (exact sample spans of the speech) and the text of each turn.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    pieces = [np.zeros(int(lead_s * SAMPLE_RATE), dtype=np.float32)]
    cursor = len(pieces[0])
    turns: list[SpeakerTurn] = []
    for i, (speaker, text) in enumerate(script):
        speech = speak_16k(text, speaker, work_dir)
        turns.append(SpeakerTurn(speaker=speaker.name, start=cursor / SAMPLE_RATE, end=(cursor + len(speech)) / SAMPLE_RATE))
        pause = np.zeros(int(pauses_s[i % len(pauses_s)] * SAMPLE_RATE), dtype=np.float32)
        pieces += [speech, pause]
        cursor += len(speech) + len(pause)
    samples = np.concatenate(pieces)
    if tone_level > 0:
        samples = samples + tone_level * background_tones(len(samples))
    path = write_wav(work_dir / name, samples, SAMPLE_RATE)
    return path, Diarization(turns=turns), [text for _, text in script]


def background_tones(length: int) -> np.ndarray:
    """A soft, slowly swelling two-note chord (peak 1.0) of ``length`` samples."""
    t = np.arange(length) / SAMPLE_RATE
    chord = np.sin(2 * np.pi * 220.0 * t) + 0.7 * np.sin(2 * np.pi * 330.0 * t)
    swell = 0.75 + 0.25 * np.sin(2 * np.pi * 0.1 * t)
    return (chord * swell / 1.7).astype(np.float32)


def two_speaker_conversation(work_dir: Path | str, tone_level: float = 0.0) -> tuple[Path, Diarization, list[str]]:
    """An interview: low male and high female voice alternating, 0.6-1.0 s pauses."""
    return conversation(work_dir, TWO_SPEAKER_SCRIPT, tone_level=tone_level, name="two_speakers.wav")


def three_speaker_conversation(work_dir: Path | str) -> tuple[Path, Diarization, list[str]]:
    """A meeting of three distinct voices taking turns."""
    return conversation(work_dir, THREE_SPEAKER_SCRIPT, name="three_speakers.wav")


def one_speaker_monologue(work_dir: Path | str) -> tuple[Path, Diarization, list[str]]:
    """One voice speaking three sentences with pauses."""
    return conversation(work_dir, MONOLOGUE_SCRIPT, name="monologue.wav")


def silence(work_dir: Path | str, seconds: float = 5.0, noise_level: float = 0.0) -> Path:
    """A WAV of digital silence (or faint white noise when ``noise_level`` > 0)."""
    rng = np.random.default_rng(0)
    samples = noise_level * rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)
    return write_wav(Path(work_dir) / "silence.wav", samples, SAMPLE_RATE)


def sample_interview(work_dir: Path | str) -> tuple[Path, Diarization, str]:
    """The project's sample interview (``polydub.sample``): its audio as a 16 kHz mono WAV
    (extracted from the mp4 with ffmpeg), the reference turns and the reference text."""
    from polydub.sample import build_sample

    files = build_sample(work_dir)
    wav = Path(work_dir) / "interview.16k.wav"
    command = ["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-i", str(files.video), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), str(wav)]
    subprocess.run(command, check=True, capture_output=True)
    return wav, read_rttm(files.rttm), files.reference_text.read_text(encoding="utf-8")


def cut_sample(video: Path, out: Path, seconds: float, start: float = 0.0) -> Path:
    """``seconds`` of ``video`` from ``start``, re-encoded (H.264 + AAC) so the cut is exact."""
    cmd = ["ffmpeg", "-v", "error", "-ss", str(start), "-i", str(video), "-t", str(seconds),
           "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-y", str(out)]
    subprocess.run(cmd, check=True)
    return out
