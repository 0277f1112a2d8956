"""The one mechanism every stage task uses: cached execution in the work folder."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from pydantic import BaseModel

from polydub.progress import StageEvent, announce
from polydub.redact import scrub_exception
from polydub.workdir import StageRun, WorkDir, stage_key

T = TypeVar("T", bound=BaseModel)


def digest(value: Any) -> str:
    """Content digest of a stage input: a data object's JSON (less its ``CACHE_EXCLUDE`` fields, e.g. the name
    the source file had in this run), or the value's text."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json(exclude=getattr(value, "CACHE_EXCLUDE", None))
    else:
        text = str(value)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_cached(
    work: WorkDir,
    stage: str,
    result_type: type[T],
    compute: Callable[[Path], T],
    *,
    inputs: list[Any],
    params: dict[str, Any] | None = None,
    backend: str = "",
    language: str | None = None,
) -> T:
    """Run ``compute`` for this stage unless a finished result with the same key exists.

    The key hashes the stage name, the inputs' content, the parameters and the backend
    identity (name and model version), so a change to any of them recomputes the stage.
    """
    key = stage_key(stage, inputs=[digest(i) for i in inputs], params=params or {}, backend=backend, language=language)
    announce(StageEvent(stage, language, "started"))
    started = time.perf_counter()
    try:
        result, run = work.run_stage(stage, key, result_type, compute, language=language)
    except Exception as exc:
        announce(StageEvent(stage, language, "failed", time.perf_counter() - started))
        raise scrub_exception(exc)  # its message becomes the task run's state message, stored by the server
    announce(StageEvent(stage, language, run.status, run.seconds))
    return result


__all__ = ["run_cached", "digest", "StageRun"]
