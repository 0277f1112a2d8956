"""Ingest task: hash, probe, validate and extract the source's audio."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models import ingest
from models.data import SourceAudio
from polydub.workdir import WorkDir, file_sha256
from tasks.stage import run_cached


@task(name="ingest", cache_policy=NONE)
def ingest_source(video: str, work_root: str, max_duration_s: float | None = None) -> tuple[WorkDir, SourceAudio]:
    """Validate the source and extract a 48 kHz stereo mix and a 16 kHz mono copy."""
    media = ingest.validate(ingest.probe(video), max_duration_s)
    sha = file_sha256(video)
    work = WorkDir(work_root, sha)

    def compute(folder: Path) -> SourceAudio:
        mix, mono = folder / "mix_48k.wav", folder / "mono_16k.wav"
        ingest.extract_audio(video, mix, mono)
        return SourceAudio(media=media, sha256=sha, mix_48k=str(mix), mono_16k=str(mono))

    audio = run_cached(work, "ingest", SourceAudio, compute, inputs=[sha], backend="ffmpeg")
    return work, audio
