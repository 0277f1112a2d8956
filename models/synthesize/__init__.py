"""Speech synthesis stage: the interface every backend follows, the factory, and the per-line driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.data import SpeakerProfile, SynthesizedLine, TranslatedLine, Voice
from polydub.errors import BackendUnavailableError, InputError

BACKENDS = ("espeak", "xtts")


@runtime_checkable
class Synthesizer(Protocol):
    """Turns target-language text into speech, one stable voice per source speaker."""

    name: str
    version: str

    def assign_voices(self, speakers: list[SpeakerProfile], language: str) -> list[Voice]:
        """One distinct voice per speaker for the whole video, matched to that speaker."""
        ...

    def synthesize(self, text: str, voice: Voice, language: str, out: Path, speed: float = 1.0) -> float:
        """Speak ``text`` into the WAV file ``out`` at ``speed`` (1 = natural); return its duration in seconds."""
        ...


def load_synthesizer(backend: str = "espeak", **options: Any) -> Synthesizer:
    """The synthesis backend named ``backend``; fails at once if it is not installed.

    ``options`` go to the backend (xtts: ``model``, ``device``, ``references``, ...).
    """
    if backend == "espeak":
        from models.synthesize.espeak_tts import EspeakSynthesizer

        return EspeakSynthesizer(**options)
    if backend == "xtts":
        from models.synthesize.xtts import XttsSynthesizer

        return XttsSynthesizer(**options)
    raise BackendUnavailableError(f"unknown synthesis backend '{backend}' (available: {', '.join(BACKENDS)})")


def line_wav_name(index: int) -> str:
    """File name of one line's speech inside a stage folder."""
    return f"line-{index:05d}.wav"


def voice_for(voices: list[Voice], speaker: str) -> Voice:
    """The voice assigned to ``speaker``; InputError if there is none."""
    for voice in voices:
        if voice.speaker == speaker:
            return voice
    raise InputError(f"no voice assigned to speaker '{speaker}' (voices: {', '.join(v.speaker for v in voices) or 'none'})")


def synthesize_lines(
    synth: Synthesizer, lines: list[TranslatedLine], voices: list[Voice], language: str, out_dir: Path
) -> list[SynthesizedLine]:
    """Speak every line at natural speed with its speaker's voice, one WAV per line in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spoken = []
    for line in lines:
        wav = (out_dir / line_wav_name(line.index)).resolve()
        duration = synth.synthesize(line.target_text, voice_for(voices, line.speaker), language, wav, speed=1.0)
        spoken.append(SynthesizedLine(index=line.index, audio=str(wav), duration=duration))
    return spoken
