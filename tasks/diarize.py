"""Diarization, line building and speaker measurement tasks."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Diarization, Lines, SourceAudio, SpeakerProfiles, Transcript
from models.lines import align_lines_to_turns, build_lines
from models.speakers import measure_speakers
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="diarize", cache_policy=NONE, **STAGE_RETRIES)
def diarize(work: WorkDir, audio: SourceAudio, backend: str, options: backends.Options = ()) -> Diarization:
    """Who speaks when; the number of speakers is estimated."""
    diarizer = backends.diarizer(backend, options)

    def compute(folder: Path) -> Diarization:
        return diarizer.diarize(Path(audio.mono_16k))

    return run_cached(work, "diarize", Diarization, compute, inputs=[audio], backend=diarizer.version)


@task(name="lines", cache_policy=NONE)
def segment_lines(work: WorkDir, transcript: Transcript, diarization: Diarization) -> Lines:
    """Lines from speaker turns and sentence ends, edges snapped to the turns' voice activity."""

    def compute(folder: Path) -> Lines:
        return Lines(lines=align_lines_to_turns(build_lines(transcript, diarization), diarization))

    return run_cached(work, "lines", Lines, compute, inputs=[transcript, diarization])


@task(name="speakers", cache_policy=NONE, **STAGE_RETRIES)
def profile_speakers(work: WorkDir, audio: SourceAudio, diarization: Diarization) -> SpeakerProfiles:
    """Pitch and speech time of each speaker, used to choose their dub voices."""

    def compute(folder: Path) -> SpeakerProfiles:
        return SpeakerProfiles(speakers=measure_speakers(Path(audio.mono_16k), diarization))

    return run_cached(work, "speakers", SpeakerProfiles, compute, inputs=[audio, diarization])
