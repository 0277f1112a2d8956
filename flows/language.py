"""Per-language flow: translate → synthesize → fit timing → mix → lip sync → deliver → measure."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from prefect import flow
from prefect.runtime import flow_run

from flows.artifacts import language_progress, link_outputs
from flows.gpu import GpuSlot
from flows.review import review_translation

from flows.source import SourceAnalysis
from models.data import Deliverable, Dub, LanguageQuality, Record
from models.lipsync.voicing import revoice
from models.timing import TimingBounds
from polydub.config import Backends
from polydub.workdir import WorkDir, write_text_atomic
from tasks.deliver import deliver
from tasks.lipsync import lipsync
from tasks.mix import mix
from tasks.quality import measure_quality
from tasks.synthesize import fit, synthesize
from tasks.translate import translate


class LanguageResult(Record):
    """What one language produced."""

    language: str
    deliverable: Deliverable
    dub: Dub
    quality: LanguageQuality
    lip_sync: str = "off"
    error: Optional[str] = None


@flow(name="localize-language")
def localize_language(
    source: SourceAnalysis,
    language: str,
    out_dir: str,
    source_language: str = "en",
    backends: Backends = Backends(),
    min_speed: float = 0.85,
    max_speed: float = 1.25,
    keep_original_audio: bool = False,
    review: bool = False,
    concurrency_limit: Optional[str] = None,
) -> LanguageResult:
    """Dub one language from the shared source-side analysis.

    With `review`, the run pauses after translation until the lines are reviewed (Prefect UI form);
    with `concurrency_limit`, it computes inside one slot of that global limit (not while paused).
    """
    work = source.work
    with language_progress(language), GpuSlot(concurrency_limit) as gpu:
        translated = translate(work, source.lines, source_language, language, backends.translate, backends.options("translate"))
        if review:
            with gpu.released():
                translated = review_translation(translated)
        voice = (backends.synthesize, backends.options("synthesize"), source.references)
        spoken = synthesize(work, translated, source.speakers, *voice)
        bounds = TimingBounds(min_speed=min_speed, max_speed=max_speed)
        dub = fit(work, translated, spoken, source.audio.media.duration, bounds, *voice)
        mixed = mix(work, source.audio, dub, source.stems)
        picture = lipsync(work, source.audio, source.faces, source.speaker_faces, dub, backends.lipsync, backends.options("lipsync"))
        if picture.voiced_lines:  # LTX native mode: the model's own voicing replaces the synthesized lines
            dub = revoice(dub, picture.voiced_lines)
            mixed = mix(work, source.audio, dub, source.stems)
        delivered = deliver(work, source.audio, dub, mixed, picture, out_dir, keep_original_audio, backends, source_language)
        measures = measure_quality(
            work, source.audio, source.diarization, source.faces, source.speaker_faces, dub, mixed, picture, delivered
        )
    link_outputs(delivered)
    result = LanguageResult(language=language, deliverable=delivered, dub=dub, quality=measures, lip_sync=picture.status)
    save_result(work, result)
    return result


def result_path(work: WorkDir, run_id: str) -> Path:
    """Where a language flow run leaves its result for a parent in another process (the shared work folder)."""
    return work.path / "language-runs" / f"{run_id}.json"


def save_result(work: WorkDir, result: LanguageResult) -> None:
    """Write this flow run's result into the work folder, keyed by the flow run id."""
    run_id = flow_run.get_id()
    if run_id:
        write_text_atomic(result_path(work, run_id), result.model_dump_json())
