"""Write the review page of each completed language: DIR/<stem>.<lang>.report.html, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.faces.records import FaceAnalysis
from polydub.names import output_stem
from polydub.review_report.gather import gather
from polydub.review_report.template import render_html
from polydub.review_report.thresholds import Check, ReviewThresholds
from polydub.workdir import write_text_atomic


def review_report_path(out_dir: Path | str, video: Path | str, language: str) -> Path:
    """The outputs contract: DIR/<stem>.<lang>.report.html."""
    return Path(out_dir) / f"{output_stem(video)}.{language}.report.html"


def render_review_report(
    report: dict[str, Any], language: str, faces: FaceAnalysis, out_path: Path | str, limits: ReviewThresholds = ReviewThresholds()
) -> list[Check]:
    """Render one completed language of ``report`` (report.json as a dict) to ``out_path``; returns its marked checks."""
    data = gather(report, language, faces, limits)
    write_text_atomic(out_path, render_html(data))
    return data.checks
