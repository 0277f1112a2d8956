"""Reference-clip task (source side, voice-cloning backends): one clean clip per speaker."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from prefect import task
from prefect.cache_policies import NONE

from models.data import Diarization, SourceAudio
from models.separate import Stems
from models.synthesize.reference import VoiceReferences, choose_reference
from polydub.workdir import WorkDir
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="references", cache_policy=NONE, **STAGE_RETRIES)
def choose_references(work: WorkDir, audio: SourceAudio, diarization: Diarization, stems: Optional[Stems]) -> VoiceReferences:
    """For each speaker, their cleanest 6–15 s alone (from the dialogue stem when separated); the same for every language."""

    def compute(folder: Path) -> VoiceReferences:
        source = Path(stems.dialogue) if stems is not None else Path(audio.mix_48k)
        clips = [choose_reference(source, diarization, speaker, out=folder / f"reference-{speaker}.wav") for speaker in diarization.speakers]
        return VoiceReferences(clips=clips)

    return run_cached(work, "references", VoiceReferences, compute, inputs=[audio, diarization, stems])
