"""What each source speaker's voice is like: median pitch and amount of speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.audio import read_audio
from models.data import Diarization, SpeakerProfile
from polydub.errors import InputError

SAMPLE_RATE = 16000
F0_RANGE_HZ = (60.0, 500.0)  # low male to high female/child speech
FRAME_LENGTH = 1024  # 64 ms: room for two periods of the lowest pitch
HOP_LENGTH = 320  # 20 ms


def measure_speakers(audio_16k: Path, diarization: Diarization, max_seconds_per_speaker: float = 30.0) -> list[SpeakerProfile]:
    """Median F0 (librosa pYIN over voiced frames) and speech seconds of every speaker.

    Only the first ``max_seconds_per_speaker`` of each speaker's turns are analysed for
    pitch (enough for a stable median, and fast on long videos). A speaker with no
    voiced frame gets ``median_f0_hz = 0.0``. Profiles come in speaker-label order.
    """
    path = Path(audio_16k)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    samples, _ = read_audio(path, sample_rate=SAMPLE_RATE)
    profiles = []
    for speaker in diarization.speakers:
        turns = [t for t in diarization.turns if t.speaker == speaker]
        pitches: list[np.ndarray] = []
        analysed = 0.0
        for turn in turns:
            if analysed >= max_seconds_per_speaker:
                break
            end = min(turn.end, turn.start + max_seconds_per_speaker - analysed)
            clip = samples[int(turn.start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
            pitches.append(voiced_f0(clip))
            analysed += end - turn.start
        voiced = np.concatenate(pitches) if pitches else np.zeros(0)
        profiles.append(
            SpeakerProfile(
                speaker=speaker,
                median_f0_hz=round(float(np.median(voiced)), 2) if voiced.size else 0.0,
                speech_seconds=round(sum(t.duration for t in turns), 3),
            )
        )
    return profiles


def voiced_f0(samples: np.ndarray) -> np.ndarray:
    """F0 in Hz of the voiced frames of a 16 kHz mono clip (librosa pYIN)."""
    import librosa

    if len(samples) < FRAME_LENGTH:
        return np.zeros(0)
    f0, voiced, _ = librosa.pyin(
        samples.astype(np.float32),
        fmin=F0_RANGE_HZ[0],
        fmax=F0_RANGE_HZ[1],
        sr=SAMPLE_RATE,
        frame_length=FRAME_LENGTH,
        hop_length=HOP_LENGTH,
    )
    return f0[voiced & np.isfinite(f0)]
