"""Quality task: the measures of one dubbed language."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models import quality
from models.data import Deliverable, Diarization, Dub, LanguageQuality, MixResult, SourceAudio
from polydub.workdir import WorkDir
from tasks.stage import run_cached


@task(name="quality", cache_policy=NONE)
def measure_quality(work: WorkDir, audio: SourceAudio, diarization: Diarization, dub: Dub, mixed: MixResult, delivered: Deliverable) -> LanguageQuality:
    """Timing, loudness, audibility and voice-similarity measures."""

    def compute(folder: Path) -> LanguageQuality:
        return quality.measure(dub, mixed, delivered, audio.media.duration, Path(audio.mono_16k), diarization)

    inputs = [audio, diarization, dub, mixed, delivered.duration]
    return run_cached(work, "quality", LanguageQuality, compute, inputs=inputs, backend="resemblyzer+silero", language=dub.language)
