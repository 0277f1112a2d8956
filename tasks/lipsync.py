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
from tasks.stage import run_cached


@task(name="lipsync", cache_policy=NONE)
def lipsync(
    work: WorkDir, audio: SourceAudio, faces: FaceAnalysis, mapping: SpeakerFaces, dub: Dub, backend: str, options: backends.Options = ()
) -> LipSyncResult:
    """The source picture with each speaking face's mouth following its dubbed lines."""
    syncer = backends.lip_syncer(backend, options)

    def compute(folder: Path) -> LipSyncResult:
        out = folder / f"picture.{dub.language}.mp4"
        return lip_sync_video(Path(audio.media.path), out, faces, mapping, dub, syncer, progress=stage_progress("lipsync", dub.language))

    inputs = [audio, faces, mapping, dub]
    return run_cached(work, "lipsync", LipSyncResult, compute, inputs=inputs, backend=f"{syncer.name}:{syncer.version}", language=dub.language)
