"""Face tasks (source side, once per video): face tracks with identities, and who is who."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.active_speaker import match_speakers
from models.data import Diarization, SourceAudio
from models.faces.records import FaceAnalysis, SpeakerFaces
from polydub.progress import stage_progress
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="faces", cache_policy=NONE, **STAGE_RETRIES)
def analyze_faces(work: WorkDir, audio: SourceAudio, backend: str, options: backends.Options = ()) -> FaceAnalysis:
    """Shots, face tracks with 68-point landmarks, one identity per person across shots (none: an audio-only source)."""
    if audio.media.audio_only:  # no picture: no faces, and no face model is loaded
        empty = FaceAnalysis(backend="none", fps=0.0, width=0, height=0, frame_count=0, shots=[], tracks=[])
        return run_cached(work, "faces", FaceAnalysis, lambda folder: empty, inputs=[audio], backend="none")
    analyzer = backends.face_analyzer(backend, options)

    def compute(folder: Path) -> FaceAnalysis:
        return analyzer.analyze(Path(audio.picture_path), folder, progress=stage_progress("faces"))

    return run_cached(work, "faces", FaceAnalysis, compute, inputs=[audio], backend=f"{analyzer.name}:{analyzer.version}")


@task(name="active_speaker", cache_policy=NONE)
def match_faces(work: WorkDir, faces: FaceAnalysis, diarization: Diarization) -> SpeakerFaces:
    """Which face belongs to which speaker, from mouth motion against voice activity."""

    def compute(folder: Path) -> SpeakerFaces:
        return match_speakers(faces, diarization)

    return run_cached(work, "active_speaker", SpeakerFaces, compute, inputs=[faces, diarization])
