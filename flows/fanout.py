"""Fan-out: each language as a child flow run of the `localize-language` deployment on a (GPU) work pool.

Children read the source-side results from the shared work folder (its path must be the same
on the workers, e.g. a shared mount) and leave their result there; the parent waits for all of
them, so one language failing never cancels another.
"""

from __future__ import annotations

import contextvars
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from flows.language import LanguageResult, result_path
from flows.source import SourceAnalysis
from polydub.config import GPU_CONCURRENCY_LIMIT, LocalizeParams


def idempotency_key(source: SourceAnalysis, language: str, params: LocalizeParams) -> str:
    """One key per video + language + parameters (+ parent run, so a new job can retry a failed language)."""
    digest = hashlib.sha256(params.model_dump_json(exclude={"targets"}).encode()).hexdigest()[:12]
    parent = flow_run.get_id() or "no-parent"
    return f"polydub-{source.audio.sha256[:16]}-{language}-{digest}-{parent}"


def child_parameters(source: SourceAnalysis, language: str, params: LocalizeParams) -> dict[str, Any]:
    """The `localize-language` parameters of one language, with absolute paths (workers run elsewhere)."""
    shared = source.model_copy(update={"work_root": str(Path(source.work_root).resolve())})
    return {
        "source": shared.model_dump(mode="json"),
        "language": language,
        "out_dir": str(Path(params.out_dir).resolve()),
        "source_language": params.source_language,
        "backends": params.backends.model_dump(mode="json"),
        "min_speed": params.min_speed,
        "max_speed": params.max_speed,
        "keep_original_audio": params.keep_original_audio,
        "review": params.review,
        "concurrency_limit": GPU_CONCURRENCY_LIMIT,
    }


def _run_one(source: SourceAnalysis, language: str, params: LocalizeParams) -> LanguageResult | str:
    """Run one language's child flow run to its end; its result, or why it failed."""
    try:
        child = run_deployment(
            params.language_deployment,
            parameters=child_parameters(source, language, params),
            idempotency_key=idempotency_key(source, language, params),
            tags=["polydub", f"language-{language}"],
            timeout=None,
            poll_interval=2,
        )
    except Exception as exc:  # e.g. the deployment does not exist: this language fails, the others go on
        return f"could not run {params.language_deployment}: {exc}"
    state = child.state
    if state is None or not state.is_completed():
        kind = state.name if state else "no state"
        return f"child flow run {child.name} {kind}: {state.message if state else ''}".strip()
    saved = result_path(source.work, str(child.id))
    if not saved.exists():
        return f"child flow run {child.name} completed but left no result at {saved} (is the work folder shared?)"
    return LanguageResult.model_validate_json(saved.read_text(encoding="utf-8"))


def run_languages_on_pool(source: SourceAnalysis, params: LocalizeParams) -> tuple[dict[str, LanguageResult], dict[str, str]]:
    """Every target as its own child flow run of `params.language_deployment`, all at once; results and failures."""
    with ThreadPoolExecutor(max_workers=len(params.targets)) as pool:
        # each thread gets a copy of this flow run's context, so the children link to it as subflows
        futures = {
            lang: pool.submit(contextvars.copy_context().run, _run_one, source, lang, params) for lang in params.targets
        }
        outcomes = {lang: future.result() for lang, future in futures.items()}
    results = {lang: out for lang, out in outcomes.items() if isinstance(out, LanguageResult)}
    failures = {lang: out for lang, out in outcomes.items() if isinstance(out, str)}
    return results, failures
