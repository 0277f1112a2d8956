"""Review-report task: the HTML review page of each dubbed language, linked from the Prefect run."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import matplotlib
from prefect import task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NONE

from models.faces.records import FaceAnalysis
from models.record import Record
from polydub.review_report import Check, ReviewThresholds, render_review_report, review_report_path
from polydub.workdir import WorkDir, copy_atomic
from tasks.stage import run_cached

log = logging.getLogger(__name__)


class ReviewReport(Record):
    """One language's review page and the marks of its headline measures."""

    language: str
    html: str
    checks: list[Check]


def _key(*parts: str) -> str:
    text = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in text)


def _page_inputs(report: dict[str, Any], language: str) -> dict[str, Any]:
    """What the page shows: the source side and this language (not the run's stage timings)."""
    keep = ("polydub_version", "profile", "source", "speed_bounds")
    return {**{k: report.get(k) for k in keep}, "language": report["languages"][language]}


@task(name="review_report", cache_policy=NONE)
def review_report(
    work: WorkDir, report: dict[str, Any], language: str, faces: FaceAnalysis, out_dir: str, limits: ReviewThresholds = ReviewThresholds()
) -> ReviewReport:
    """Render DIR/<stem>.<lang>.report.html (cached per content), link it and table its headline measures."""
    target = review_report_path(out_dir, report["source"]["video"], language)

    def compute(folder: Path) -> ReviewReport:
        page = folder / target.name
        checks = render_review_report(report, language, faces, page, limits)
        return ReviewReport(language=language, html=str(page), checks=checks)

    inputs = [json.dumps(_page_inputs(report, language), sort_keys=True, default=str), faces, limits]
    staged = run_cached(work, "review_report", ReviewReport, compute, inputs=inputs, backend=f"matplotlib {matplotlib.__version__}", language=language)
    copy_atomic(staged.html, target)
    create_link_artifact(
        link=target.resolve().as_uri(), link_text=target.name, key=_key("polydub-review", language), description=f"polydub {language} review report"
    )
    create_table_artifact(
        key=_key("polydub-review-measures", language),
        table=[{"measure": c.name, "value": c.value, "threshold": c.rule, "mark": c.status} for c in staged.checks],
        description=f"polydub {language}: headline measures against the review thresholds",
    )
    return staged.model_copy(update={"html": str(target)})


def review_reports(work: WorkDir, report: dict[str, Any], faces: FaceAnalysis, out_dir: str) -> dict[str, Optional[str]]:
    """The review page of every completed language; a page that fails is logged, never fails the job.

    Sets ``languages.<lang>.outputs.report_html`` in ``report`` to the page's path (None when it failed).
    """
    pages: dict[str, Optional[str]] = {}
    for language, entry in report["languages"].items():
        if entry.get("status") != "completed":
            continue
        try:
            pages[language] = review_report(work, report, language, faces, out_dir).html
        except Exception as exc:  # the dub is delivered; a missing review page must not undo it
            log.error("the review report of %s failed: %s", language, exc, exc_info=True)
            pages[language] = None
        entry["outputs"]["report_html"] = pages[language]
    return pages
