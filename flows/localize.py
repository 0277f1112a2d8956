"""Top-level flow: analyze the source once, dub every language in parallel, report."""

from __future__ import annotations

import contextvars
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows.fanout import run_languages_on_pool
from flows.language import LanguageResult, localize_language
from flows.source import SourceAnalysis, analyze_source
from polydub.config import LocalizeParams
from polydub.errors import PolydubError, UnsupportedLanguageError
from polydub.preflight import preflight
from polydub.redact import scrub
from polydub.report import build_report, write_report
from tasks.publish import publish
from tasks.review_report import review_reports


class LanguagesFailed(PolydubError):
    """Some target languages failed; the others were delivered."""


def _summary_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for lang, entry in report["languages"].items():
        if entry["status"] != "completed":
            rows.append({"language": lang, "status": entry["status"], "detail": entry.get("error") or entry.get("reason")})
            continue
        m = entry["measures"]
        rows.append(
            {
                "language": lang,
                "status": "completed",
                "lines": m["lines_total"],
                "speed range": f"{m['speed_min']:.2f}–{m['speed_max']:.2f}",
                "over bound": len(m["lines_over_bound"]),
                "LUFS dub/source": f"{m['output_lufs']:.1f}/{m['source_lufs']:.1f}",
                "video": entry["outputs"]["video"],
            }
        )
    return rows


def _run_languages_here(source, params: LocalizeParams) -> tuple[dict[str, LanguageResult], dict[str, str]]:
    """Every language as a subflow in a thread of this process."""

    def run_language(language: str):
        return localize_language(
            source,
            language,
            params.out_dir,
            params.source_language,
            params.backends,
            params.min_speed,
            params.max_speed,
            params.keep_original_audio,
            review=params.review,
            return_state=True,
        )

    # each thread runs in a copy of this run's context: every language is a child of this flow run (nested in the UI)
    with ThreadPoolExecutor(max_workers=len(params.targets)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, run_language, lang) for lang in params.targets]
        states = {lang: future.result() for lang, future in zip(params.targets, futures)}
    results: dict[str, LanguageResult] = {}
    failures: dict[str, str] = {}
    for language, state in states.items():
        if state.is_completed():
            results[language] = state.result()
        else:
            failures[language] = failure_reason(state)
    return results, failures


def failure_reason(state) -> str:
    """Why a language's flow run failed: its exception's own message (PolydubErrors read as one line),
    else Prefect's state message."""
    try:
        state.result()
    except PolydubError as exc:
        return str(exc)
    except Exception as exc:  # any other failure: its type says what kind of problem it was
        return f"{type(exc).__name__}: {exc}"
    return state.message or "failed"


def with_detected_language(params: LocalizeParams, source: SourceAnalysis) -> tuple[LocalizeParams, dict[str, str]]:
    """With ``source_language='auto'``: the parameters with the detected language, and the targets skipped
    because the video already speaks them (each with its reason)."""
    if not params.detects_language:
        return params, {}
    detected = source.language
    skipped = {lang: f"the video already speaks {lang} (detected)" for lang in params.targets if lang == detected}
    remaining = [lang for lang in params.targets if lang != detected]
    if not remaining:
        raise UnsupportedLanguageError(f"the video speaks {detected} (detected), the only target language: there is nothing to dub")
    return params.model_copy(update={"source_language": detected, "targets": remaining}), skipped


@flow(name="localize")
def localize(params: LocalizeParams) -> dict[str, Any]:
    """Source side once (ingest → transcribe ∥ diarize ∥ faces → lines → who is who), then each language
    in parallel (translate → synthesize → fit → mix → lip sync → deliver → measure), then the reports.

    Languages run in this process, or, with `language_deployment`, as child flow runs on its work pool.
    """
    job = flow_run.get_id() or uuid.uuid4().hex  # labels this run's stage calls in the video's shared ledger
    preflight(params)
    source = analyze_source(
        str(Path(params.video).resolve()), str(params.work_root), params.source_language, params.backends, params.max_duration_s, job
    )
    params, skipped = with_detected_language(params, source)

    if params.language_deployment:  # each language a child flow run on the (GPU) pool
        results, failures = run_languages_on_pool(source, params)
    else:
        results, failures = _run_languages_here(source, params)
    runs = source.work.ledger(job)  # this run's stage calls only, not those of another run of the same video
    report = build_report(params, source, results, failures, runs, skipped)
    review_reports(source.work, report, source.faces, params.out_dir)  # DIR/<stem>.<lang>.report.html + artifacts
    write_report(report, Path(params.out_dir))
    publish(report, params.out_dir, params.deliver_to)  # OUT/manifest.json; a copy at deliver_to
    create_table_artifact(key="polydub-summary", table=_summary_rows(report), description=f"polydub: {Path(params.video).name}")
    if failures:
        detail = "; ".join(f"{lang}: {err}" for lang, err in failures.items())
        raise LanguagesFailed(f"{len(failures)} of {len(results) + len(failures)} languages failed ({scrub(detail)})")
    return report
