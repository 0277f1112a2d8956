"""Separation task (source side, studio): dialogue and background stems of the original mix."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import SourceAudio
from models.separate import Stems
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="separate", cache_policy=NONE, **STAGE_RETRIES)
def separate(work: WorkDir, audio: SourceAudio, backend: str, options: backends.Options = ()) -> Stems:
    """Dialogue vs. music/effects stems; every language's dub is mixed over the background stem."""
    separator = backends.separator(backend, options)

    def compute(folder: Path) -> Stems:
        return separator.separate(Path(audio.mix_48k), folder)

    return run_cached(work, "separate", Stems, compute, inputs=[audio], backend=f"{separator.name}:{separator.version}")
