"""Quality task: the measures of one dubbed language."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models import quality
from models.data import Deliverable, Diarization, Dub, LanguageQuality, MixResult, SourceAudio
from models.faces.records import FaceAnalysis, SpeakerFaces
from models.lipsync.records import LipSyncResult
from models.lipsync.score import measure_lipsync
from polydub.workdir import WorkDir
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="quality", cache_policy=NONE, **STAGE_RETRIES)
def measure_quality(
    work: WorkDir,
    audio: SourceAudio,
    diarization: Diarization,
    faces: FaceAnalysis,
    mapping: SpeakerFaces,
    dub: Dub,
    mixed: MixResult,
    picture: LipSyncResult,
    delivered: Deliverable,
) -> LanguageQuality:
    """Timing, loudness, audibility, voice-similarity and lip-sync measures."""

    def compute(folder: Path) -> LanguageQuality:
        measures = quality.measure(dub, mixed, delivered, audio.media.duration, Path(audio.mono_16k), diarization)
        lips = measure_lipsync(
            Path(audio.picture_path), Path(delivered.video), faces, mapping, dub, picture, series_path=folder / "lipsync_series.npz"
        )
        return measures.model_copy(update={"lip_sync": lips})

    inputs = [audio, diarization, faces, mapping, dub, mixed, picture, delivered.duration]
    return run_cached(work, "quality", LanguageQuality, compute, inputs=inputs, backend="resemblyzer+silero+dlib+series", language=dub.language)
