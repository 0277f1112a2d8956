"""Speech synthesis and timing-fit tasks."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Dub, SpeakerProfiles, Synthesis, TranslatedLines
from models.synthesize import Synthesizer, synthesize_lines
from models.synthesize.reference import VoiceReferences
from models.timing import TimingBounds, fit_timing
from polydub.workdir import WorkDir
from tasks import backends
from tasks.line_cache import CachedSynthesizer
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


def _loaded(backend: str, options: backends.Options, references: VoiceReferences | None) -> Synthesizer:
    """The synthesizer, with this video's own reference clips when it clones voices (the loaded model is shared)."""
    synth = backends.synthesizer(backend, options)
    if references is None:
        return synth
    return synth.with_references({clip.speaker: clip.audio for clip in references.clips})


@task(name="synthesize", cache_policy=NONE, **STAGE_RETRIES)
def synthesize(
    work: WorkDir,
    translated: TranslatedLines,
    speakers: SpeakerProfiles,
    backend: str,
    options: backends.Options = (),
    references: VoiceReferences | None = None,
) -> Synthesis:
    """Each line spoken at natural speed by its speaker's voice (one voice per speaker).

    Lines already spoken with the same text, voice and backend (an earlier run, or a review
    that edited other lines) are copied from the work folder's line cache.
    """
    synth = _loaded(backend, options, references)
    language = translated.language

    def compute(folder: Path) -> Synthesis:
        cached = CachedSynthesizer(synth, work)
        voices = cached.assign_voices(speakers.speakers, language)
        spoken = synthesize_lines(cached, translated.lines, voices, language, folder)
        cached.write_record(folder)
        return Synthesis(language=language, voices=voices, lines=spoken)

    inputs = [translated, speakers, references]
    return run_cached(work, "synthesize", Synthesis, compute, inputs=inputs, backend=synth.version, language=language)


@task(name="fit_timing", cache_policy=NONE, **STAGE_RETRIES)
def fit(
    work: WorkDir,
    translated: TranslatedLines,
    synthesis: Synthesis,
    media_duration: float,
    bounds: TimingBounds,
    backend: str,
    options: backends.Options = (),
    references: VoiceReferences | None = None,
) -> Dub:
    """Place each line at its original start, at a bounded speed."""
    synth = _loaded(backend, options, references)
    language = translated.language

    def compute(folder: Path) -> Dub:
        cached = CachedSynthesizer(synth, work)
        dub = fit_timing(cached, translated.lines, synthesis.lines, synthesis.voices, language, media_duration, bounds, folder)
        cached.write_record(folder)
        return dub

    params = {"bounds": [bounds.min_speed, bounds.max_speed, bounds.gap_margin_s], "duration": media_duration}
    return run_cached(work, "fit_timing", Dub, compute, inputs=[translated, synthesis], params=params, backend=synth.version, language=language)
