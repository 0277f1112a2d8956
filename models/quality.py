"""Per-language quality measures of a finished dub (DESIGN.md section 6)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from models.audio import read_audio
from models.data import Deliverable, Diarization, Dub, LanguageQuality, MixResult
from models.vad import VAD_SAMPLE_RATE, speech_fraction, speech_regions
from models.voice_embedding import cosine, embed

AUDIBLE_FRACTION = 0.5


def _concat(samples: np.ndarray, spans: list[tuple[float, float]], rate: int) -> np.ndarray:
    parts = [samples[int(a * rate) : int(b * rate)] for a, b in spans]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


@lru_cache(maxsize=4)
def _original_voices(source_16k: str, turns: tuple[tuple[str, float, float], ...]) -> dict[str, np.ndarray]:
    """One embedding per original speaker, computed once and shared by every language."""
    source, rate = read_audio(source_16k, VAD_SAMPLE_RATE)
    speakers = sorted({spk for spk, _, _ in turns})
    return {spk: embed(_concat(source, [(a, b) for s, a, b in turns if s == spk], rate)) for spk in speakers}


def voice_similarity(source_16k: Path, diarization: Diarization, dub: Dub) -> dict[str, dict[str, float]]:
    """Per speaker: cosine of the dubbed voice to the same original speaker and to the others."""
    original = _original_voices(str(source_16k), tuple((t.speaker, t.start, t.end) for t in diarization.turns))
    dubbed = {}
    for spk in sorted({line.speaker for line in dub.lines}):
        clips = [read_audio(line.audio, VAD_SAMPLE_RATE)[0] for line in dub.lines if line.speaker == spk]
        dubbed[spk] = embed(np.concatenate(clips))
    result: dict[str, dict[str, float]] = {}
    for spk, emb in dubbed.items():
        row = {"to_original_same_speaker": cosine(emb, original[spk])} if spk in original else {}
        others = [cosine(emb, e) for s, e in original.items() if s != spk]
        if others:
            row["to_original_other_speakers_max"] = max(others)
        dub_others = [cosine(emb, e) for s, e in dubbed.items() if s != spk]
        if dub_others:
            row["to_other_dubbed_voices_max"] = max(dub_others)
        result[spk] = row
    return result


def audible_lines(speech_stem: Path, dub: Dub) -> list[int]:
    """Indices of the lines whose placed window is mostly speech in the dubbed speech stem."""
    samples, _ = read_audio(speech_stem, VAD_SAMPLE_RATE)
    regions = speech_regions(samples)
    return [l.index for l in dub.lines if speech_fraction(regions, l.start, l.end) >= AUDIBLE_FRACTION]


def measure(
    dub: Dub, mix: MixResult, delivered: Deliverable, media_duration: float, source_16k: Path, diarization: Diarization
) -> LanguageQuality:
    """Timing, loudness, audibility and voice measures of one language."""
    lines = sorted(dub.lines, key=lambda l: l.start)
    overlaps = [max(0.0, a.end - b.start) for a, b in zip(lines, lines[1:])]
    speeds = [l.speed for l in lines] or [1.0]
    return LanguageQuality(
        speed_min=min(speeds),
        speed_max=max(speeds),
        lines_over_bound=[l.index for l in lines if l.over_bound],
        max_overlap_s=max(overlaps, default=0.0),
        drift_s=max((abs(l.start - l.window_start) for l in lines), default=0.0),
        duration_delta_s=delivered.duration - media_duration,
        source_lufs=mix.source_lufs,
        output_lufs=mix.output_lufs,
        true_peak_dbtp=mix.true_peak_dbtp,
        lines_audible=len(audible_lines(Path(mix.speech_stem), dub)),
        lines_total=len(lines),
        voice_similarity=voice_similarity(source_16k, diarization, dub),
        back_transcription_note=f"no speech recognizer for '{dub.language}' in the lite profile (tiny.en is English-only)",
    )
