"""Source-side flow: everything that runs once per video, shared by every language."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from prefect import flow

from models.data import Diarization, Lines, Record, SourceAudio, SpeakerProfiles, Transcript
from models.faces.records import FaceAnalysis, SpeakerFaces
from models.separate import Stems
from models.synthesize.reference import VoiceReferences
from polydub.config import AUTO_LANGUAGE, Backends
from polydub.errors import InputError
from polydub.workdir import WorkDir
from tasks.diarize import diarize, profile_speakers, segment_lines
from tasks.faces import analyze_faces, match_faces
from tasks.ingest import ingest_source
from tasks.references import choose_references
from tasks.separate import separate
from tasks.transcribe import transcribe


class SourceAnalysis(Record):
    """The source-side results every language flow reads."""

    work_root: str
    audio: SourceAudio
    transcript: Transcript
    diarization: Diarization
    lines: Lines
    speakers: SpeakerProfiles
    faces: FaceAnalysis
    speaker_faces: SpeakerFaces
    stems: Optional[Stems] = None  # dialogue/background stems (studio); None: the dub ducks the original
    references: Optional[VoiceReferences] = None  # one clip per speaker for a voice-cloning synthesizer
    job: Optional[str] = None  # the localize run: labels the ledger entries of its stages, in any process

    @property
    def language(self) -> str:
        """The language spoken in the source: the one given, or the one the transcriber detected."""
        return self.transcript.language

    @property
    def work(self) -> WorkDir:
        return WorkDir(self.work_root, self.audio.sha256, self.job)


@flow(name="analyze-source")
def analyze_source(
    video: str,
    work_root: str,
    source_language: str = "en",
    backends: Backends = Backends(),
    max_duration_s: float | None = None,
    job: str | None = None,
) -> SourceAnalysis:
    """ingest → (transcribe ∥ diarize ∥ faces) → separate → lines → speaker profiles → face ↔ speaker matching.

    With ``source_language='auto'`` the transcriber detects the language (``SourceAnalysis.language``);
    ``job`` (the localize run) labels the ledger entries of every stage of this run, source and languages.
    """
    work, audio = ingest_source(video, work_root, max_duration_s, job)
    spoken = None if source_language == AUTO_LANGUAGE else source_language
    transcript_run = transcribe.submit(work, audio, backends.transcribe, backends.model("transcribe"), spoken)
    diarization_run = diarize.submit(work, audio, backends.diarize, backends.options("diarize"))
    faces_run = analyze_faces.submit(work, audio, backends.faces, backends.options("faces"))
    stems = separate(work, audio, backends.separate, backends.options("separate")) if backends.separate != "none" else None
    transcript, diarization = transcript_run.result(), diarization_run.result()
    lines = segment_lines(work, transcript, diarization)
    if not lines.lines:
        raise InputError(f"no speech found in {Path(video).name}: there is nothing to dub")
    speakers = profile_speakers(work, audio, diarization)
    references = choose_references(work, audio, diarization, stems) if backends.clones_voices else None
    faces = faces_run.result()
    speaker_faces = match_faces(work, faces, diarization)
    return SourceAnalysis(
        work_root=str(work_root),
        audio=audio,
        transcript=transcript,
        diarization=diarization,
        lines=lines,
        speakers=speakers,
        faces=faces,
        speaker_faces=speaker_faces,
        stems=stems,
        references=references,
        job=job,
    )
