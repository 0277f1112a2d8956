"""Prefect artifacts of a language run: a progress bar fed by stage events, and links to the outputs."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from prefect.artifacts import create_link_artifact, create_progress_artifact, update_progress_artifact

from models.data import Deliverable
from polydub import progress as events
from polydub.config import LANGUAGE_STAGES

log = logging.getLogger(__name__)


def artifact_key(*parts: str) -> str:
    """An artifact key from parts (Prefect allows lowercase letters, digits and dashes)."""
    text = "-".join(parts).lower()
    return "".join(c if c.isalnum() else "-" for c in text)


@contextmanager
def language_progress(language: str) -> Iterator[None]:
    """A progress artifact for `language`, advanced as each of its stages finishes (computed or reused)."""
    done: set[str] = set()
    artifact_id = create_progress_artifact(
        progress=0.0, key=artifact_key("polydub-progress", language), description=f"polydub {language}: stages done"
    )

    def on_event(event: events.StageEvent) -> None:
        if event.language != language or event.status not in ("computed", "reused"):
            return
        done.add(event.stage)
        try:
            update_progress_artifact(artifact_id, progress=100.0 * len(done) / len(LANGUAGE_STAGES))
        except Exception as exc:  # a progress bar must never fail the dub
            log.warning("could not update the progress artifact of %s: %s", language, exc)

    events.add_listener(on_event)
    try:
        yield
    finally:
        events.remove_listener(on_event)


def link_outputs(delivered: Deliverable) -> None:
    """One link artifact per output file of a language (video, SRT, VTT)."""
    for kind in ("video", "srt", "vtt"):
        path = Path(getattr(delivered, kind))
        create_link_artifact(
            link=path.resolve().as_uri(),
            link_text=path.name,
            key=artifact_key("polydub", delivered.language, kind),
            description=f"polydub {delivered.language} {kind}",
        )
