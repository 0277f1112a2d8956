"""Lip-sync task: re-draw on-screen speakers' mouths to follow one language's dub."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Dub, SourceAudio
from models.faces.records import FaceAnalysis, SpeakerFaces
from models.lipsync.records import LipSyncResult
from models.lipsync.render import lip_sync_video
from polydub.progress import stage_progress
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached

AUDIO_ONLY = "off: audio-only source"  # the lip-sync status of a source without picture


@task(name="lipsync", cache_policy=NONE, **STAGE_RETRIES)
def lipsync(
    work: WorkDir, audio: SourceAudio, faces: FaceAnalysis, mapping: SpeakerFaces, dub: Dub, backend: str, options: backends.Options = ()
) -> LipSyncResult:
    """The source picture with each speaking face's mouth following its dubbed lines (off for an audio-only source)."""
    if audio.media.audio_only:  # nothing to draw on, and no lip-sync model is loaded
        off = LipSyncResult(backend="none", status=AUDIO_ONLY)
        return run_cached(work, "lipsync", LipSyncResult, lambda folder: off, inputs=[audio, dub], backend="none", language=dub.language)
    syncer = backends.lip_syncer(backend, options)

    def compute(folder: Path) -> LipSyncResult:
        out = folder / f"picture.{dub.language}.mp4"
        return lip_sync_video(Path(audio.picture_path), out, faces, mapping, dub, syncer, progress=stage_progress("lipsync", dub.language))

    inputs = [audio, faces, mapping, dub]
    return run_cached(work, "lipsync", LipSyncResult, compute, inputs=inputs, backend=f"{syncer.name}:{syncer.version}", language=dub.language)
