"""Mix task: the dub over the (ducked) original, loudness-matched."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Dub, MixResult, SourceAudio
from models.mix import mix_dub
from polydub.workdir import WorkDir
from tasks.stage import run_cached


@task(name="mix", cache_policy=NONE)
def mix(work: WorkDir, audio: SourceAudio, dub: Dub) -> MixResult:
    """The language's full soundtrack, as long as the source to the sample."""

    def compute(folder: Path) -> MixResult:
        return mix_dub(Path(audio.mix_48k), dub, folder)

    return run_cached(work, "mix", MixResult, compute, inputs=[audio, dub], backend="duck+pyloudnorm", language=dub.language)
