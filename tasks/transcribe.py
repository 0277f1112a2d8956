"""Transcription task."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import SourceAudio, Transcript
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="transcribe", cache_policy=NONE, **STAGE_RETRIES)
def transcribe(work: WorkDir, audio: SourceAudio, backend: str, model: str | None, language: str | None) -> Transcript:
    """Words with timestamps and confidence, in the source language (``None``: detected from the speech)."""
    transcriber = backends.transcriber(backend, model)

    def compute(folder: Path) -> Transcript:
        return transcriber.transcribe(Path(audio.mono_16k), language=language)

    return run_cached(work, "transcribe", Transcript, compute, inputs=[audio], params={"language": language}, backend=transcriber.version)
