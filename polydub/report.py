"""report.json: per language, every line and the quality measures; plus the source side."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from models.metrics import diarization_error_rate, read_rttm, word_error_rate
from polydub import __version__
from polydub.redact import scrub_data
from polydub.review_report.render import review_report_path
from polydub.workdir import StageRun, write_text_atomic


def source_measures(source, reference_text: str | None, reference_rttm: str | None) -> dict[str, Any]:
    """ASR WER and DER when references are given, plus what was found."""
    measures: dict[str, Any] = {
        "speakers_found": len(source.diarization.speakers),
        "lines": len(source.lines.lines),
        "words": len(source.transcript.words),
        "transcript_wer": None,
        "diarization_error_rate": None,
    }
    if reference_text:
        measures["transcript_wer"] = word_error_rate(Path(reference_text).read_text(encoding="utf-8"), source.transcript.text)
    if reference_rttm:
        measures["diarization_error_rate"] = diarization_error_rate(
            read_rttm(reference_rttm), source.diarization, duration=source.audio.media.duration
        )
    return measures


def faces_section(source) -> dict[str, Any]:
    """Shots, face tracks and the face each speaker was matched to (or off-screen)."""
    faces, mapping = source.faces, source.speaker_faces
    return {
        "backend": faces.backend,
        "shots": [s.model_dump() for s in faces.shots],
        "identities": faces.identities,
        "tracks": [
            {"identity": t.identity, "shot": t.shot, "start_frame": t.start_frame, "end_frame": t.end_frame} for t in faces.tracks
        ],
        "speakers": [
            {
                "speaker": e.speaker,
                "face": e.identity,
                "on_screen": e.identity is not None,
                "confidence": round(e.confidence, 3),
                "scores": {k: round(v, 3) for k, v in e.scores.items()},
            }
            for e in mapping.speakers
        ],
        "silent_faces": mapping.silent_identities,
    }


def language_entry(result) -> dict[str, Any]:
    """One language's section: outputs, lines and measures."""
    return {
        "status": "completed",
        "outputs": {"video": result.deliverable.video, "srt": result.deliverable.srt, "vtt": result.deliverable.vtt},
        "lip_sync": result.lip_sync,
        "voices": [v.model_dump() for v in result.dub.voices],
        "lines": [
            {
                "index": l.index,
                "speaker": l.speaker,
                "start": round(l.window_start, 3),
                "end": round(l.window_end, 3),
                "placed_start": round(l.start, 3),
                "placed_end": round(l.end, 3),
                "source_text": l.source_text,
                "target_text": l.target_text,
                "speed_factor": round(l.speed, 4),
                "over_bound": l.over_bound,
            }
            for l in result.dub.lines
        ],
        "measures": result.quality.model_dump(),
    }


def build_report(
    params, source, results: dict[str, Any], failures: dict[str, str], runs: list[StageRun], skipped: dict[str, str] | None = None
) -> dict[str, Any]:
    """The whole job's report as a JSON-ready dict (``skipped``: targets not dubbed, with the reason)."""
    languages: dict[str, Any] = {lang: language_entry(res) for lang, res in results.items()}
    for lang, entry in languages.items():  # the review page (polydub.review_report), rendered after this report is built
        entry["outputs"]["report_html"] = str(review_report_path(params.out_dir, source.audio.media.path, lang))
    languages.update({lang: {"status": "failed", "error": err} for lang, err in failures.items()})
    languages.update({lang: {"status": "skipped", "reason": why} for lang, why in (skipped or {}).items()})
    return scrub_data({  # no token or URL credential in a report (polydub.redact)
        "polydub_version": __version__,
        "python": platform.python_version(),
        "profile": params.profile.value,
        "source": {
            "video": source.audio.media.path,
            "sha256": source.audio.sha256,
            "media": source.audio.media.model_dump(),
            "picture": source.audio.picture,  # the normalised copy the frame stages read (None: the source itself)
            "picture_fixes": source.audio.picture_fixes,  # what normalising corrected (variable rate, odd size, rotation)
            "language": params.source_language,
            "measures": source_measures(source, params.reference_text, params.reference_rttm),
            "speakers": [s.model_dump() for s in source.speakers.speakers],
            "lines": [l.model_dump() for l in source.lines.lines],
            "faces": faces_section(source),
        },
        "speed_bounds": [params.min_speed, params.max_speed],
        "languages": languages,
        "stages": [
            {"stage": r.stage, "language": r.language, "status": r.status, "seconds": round(r.seconds, 3), "peak_rss_mb": round(r.peak_rss_mb, 1)}
            for r in runs
        ],
    })


def write_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write DIR/report.json atomically."""
    return write_text_atomic(Path(out_dir) / "report.json", json.dumps(report, indent=2, ensure_ascii=False))
