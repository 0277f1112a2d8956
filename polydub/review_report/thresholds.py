"""Pass/warn marks of the headline quality measures against configurable thresholds."""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

Status = Literal["pass", "warn", "n/a"]


class ReviewThresholds(BaseModel):
    """Where a measure stops passing and earns a warning (DESIGN.md section 6)."""

    min_sync: float = Field(0.5, description="lowest lip-sync correlation of a speaking face on the output")
    min_psnr_db: float = Field(40.0, description="lowest PSNR outside the mouth masks (dB)")
    max_transcript_wer: float = Field(0.15, description="highest source transcript WER")
    max_der: float = Field(0.15, description="highest diarization error rate")
    max_back_transcription_wer: float = Field(0.3, description="highest WER of the dub transcribed again vs the translation")
    max_lufs_delta: float = Field(1.0, description="largest |LUFS dub - LUFS source|")
    max_true_peak_dbtp: float = Field(-1.0, description="highest true peak of the dub (dBTP)")
    max_drift_s: float = Field(0.05, description="largest shift of a line from its source window (s)")
    max_overlap_s: float = Field(0.05, description="largest overlap of two dubbed lines (s)")
    max_duration_delta_s: float = Field(0.05, description="largest |output duration - source duration| (s)")


class Check(BaseModel):
    """One headline measure with its mark."""

    name: str
    value: str
    status: Status
    rule: str = ""


def _mark(ok: Optional[bool]) -> Status:
    return "n/a" if ok is None else ("pass" if ok else "warn")


def _num(value: Optional[float], fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def headline_checks(report: dict[str, Any], language: str, limits: ReviewThresholds) -> list[Check]:
    """The quality measures of ``report.json`` for one language, each marked pass, warn or n/a."""
    src = report["source"]["measures"]
    m = report["languages"][language]["measures"]
    low, high = report.get("speed_bounds", [0.85, 1.25])
    checks: list[Check] = []

    def add(name: str, value: Optional[float], fmt: str, ok: Optional[bool], rule: str) -> None:
        checks.append(Check(name=name, value=_num(value, fmt), status=_mark(None if value is None else ok), rule=rule))

    wer, der = src.get("transcript_wer"), src.get("diarization_error_rate")
    add("transcript WER", wer, ".3f", wer is not None and wer <= limits.max_transcript_wer, f"≤ {limits.max_transcript_wer}")
    add("diarization error rate", der, ".3f", der is not None and der <= limits.max_der, f"≤ {limits.max_der}")
    speeds_ok = low - 1e-9 <= m["speed_min"] and m["speed_max"] <= high + 1e-9 and not m["lines_over_bound"]
    checks.append(
        Check(
            name="speed factors",
            value=f"{m['speed_min']:.2f}–{m['speed_max']:.2f} ({len(m['lines_over_bound'])} over bound)",
            status=_mark(speeds_ok),
            rule=f"within {low:g}–{high:g}",
        )
    )
    audible = m["lines_audible"] == m["lines_total"]
    checks.append(Check(name="lines audible", value=f"{m['lines_audible']}/{m['lines_total']}", status=_mark(audible), rule="all"))
    add("drift", m["drift_s"], ".3f", m["drift_s"] <= limits.max_drift_s, f"≤ {limits.max_drift_s} s")
    add("overlap", m["max_overlap_s"], ".3f", m["max_overlap_s"] <= limits.max_overlap_s, f"≤ {limits.max_overlap_s} s")
    delta = m["duration_delta_s"]
    add("duration delta", delta, "+.3f", abs(delta) <= limits.max_duration_delta_s, f"|Δ| ≤ {limits.max_duration_delta_s} s")
    lufs = m["output_lufs"] - m["source_lufs"]
    checks.append(
        Check(
            name="loudness dub vs source",
            value=f"{m['output_lufs']:.1f} / {m['source_lufs']:.1f} LUFS (Δ {lufs:+.2f})",
            status=_mark(abs(lufs) <= limits.max_lufs_delta),
            rule=f"|Δ| ≤ {limits.max_lufs_delta} LU",
        )
    )
    peak = m["true_peak_dbtp"]
    add("true peak (dBTP)", peak, ".2f", peak <= limits.max_true_peak_dbtp, f"≤ {limits.max_true_peak_dbtp}")
    for speaker, row in sorted(m.get("voice_similarity", {}).items()):
        own = row.get("to_original_same_speaker")
        other = max((row[k] for k in ("to_original_other_speakers_max",) if k in row), default=None)
        ok = None if own is None else (other is None or own > other)
        checks.append(
            Check(
                name=f"voice {speaker}",
                value=f"own {_num(own, '.3f')} vs others {_num(other, '.3f')}",
                status=_mark(ok),
                rule="closer to its own speaker",
            )
        )
    back = m.get("back_transcription") or {}
    back_wer = back.get("wer")
    add("back-transcription WER", back_wer, ".3f", back_wer is not None and back_wer <= limits.max_back_transcription_wer,
        f"≤ {limits.max_back_transcription_wer}")
    checks.extend(_lip_checks(m.get("lip_sync"), limits))
    return checks


def _lip_checks(lips: Optional[dict[str, Any]], limits: ReviewThresholds) -> list[Check]:
    if not lips or lips.get("status") != "on":
        status = (lips or {}).get("status", "off")
        return [Check(name="lip sync", value=status, status="n/a", rule="on when a speaker is on screen")]
    checks = []
    for face in lips["faces"]:
        if face.get("speaker") is None:
            continue
        sync = face.get("sync_output")
        checks.append(
            Check(
                name=f"lip sync {face['identity']} ({face['speaker']})",
                value=_num(sync, ".2f") + (f" (source {face['sync_source']:.2f})" if face.get("sync_source") is not None else ""),
                status=_mark(None if sync is None else sync >= limits.min_sync),
                rule=f"≥ {limits.min_sync}",
            )
        )
    psnr = lips.get("psnr_outside_masks_db")
    checks.append(
        Check(
            name="PSNR outside mouths",
            value=_num(psnr, ".1f") + (" dB" if psnr is not None else ""),
            status=_mark(None if psnr is None else psnr >= limits.min_psnr_db),
            rule=f"≥ {limits.min_psnr_db} dB",
        )
    )
    return checks
