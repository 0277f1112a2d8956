"""Per-language flow: translate → synthesize → fit timing → mix → deliver → measure."""

from __future__ import annotations

from typing import Optional

from prefect import flow

from flows.source import SourceAnalysis
from models.data import Deliverable, Dub, LanguageQuality, Record
from models.timing import TimingBounds
from polydub.config import Backends
from tasks.deliver import deliver
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
) -> LanguageResult:
    """Dub one language from the shared source-side analysis."""
    work = source.work
    translated = translate(work, source.lines, source_language, language, backends.translate)
    spoken = synthesize(work, translated, source.speakers, backends.synthesize)
    bounds = TimingBounds(min_speed=min_speed, max_speed=max_speed)
    dub = fit(work, translated, spoken, source.audio.media.duration, bounds, backends.synthesize)
    mixed = mix(work, source.audio, dub)
    delivered = deliver(work, source.audio, dub, mixed, out_dir, keep_original_audio)
    measures = measure_quality(work, source.audio, source.diarization, dub, mixed, delivered)
    return LanguageResult(language=language, deliverable=delivered, dub=dub, quality=measures)
