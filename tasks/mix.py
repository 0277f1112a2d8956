"""Mix task: the dub over the separated background, or over the ducked original, loudness-matched."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Dub, MixResult, SourceAudio
from models.mix import mix_dub, mix_over_background
from models.separate import Stems
from polydub.workdir import WorkDir
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="mix", cache_policy=NONE, **STAGE_RETRIES)
def mix(work: WorkDir, audio: SourceAudio, dub: Dub, stems: Stems | None = None) -> MixResult:
    """The language's full soundtrack, as long as the source to the sample."""

    def compute(folder: Path) -> MixResult:
        if stems is not None:
            return mix_over_background(Path(stems.background), dub, folder, source_mix_48k=Path(audio.mix_48k))
        return mix_dub(Path(audio.mix_48k), dub, folder)

    how = "background+pyloudnorm" if stems is not None else "duck+pyloudnorm"
    return run_cached(work, "mix", MixResult, compute, inputs=[audio, dub, stems], backend=how, language=dub.language)
