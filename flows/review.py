"""The optional review step: pause a language after translation for its lines to be edited in the UI."""

from __future__ import annotations

from pydantic import BaseModel, Field
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from models.data import TranslatedLines

REVIEW_TIMEOUT_S = 24 * 3600


class ReviewLine(BaseModel):
    """One line as the reviewer sees it; only `text` is meant to be edited."""

    index: int = Field(..., title="Line")
    speaker: str = Field(..., title="Speaker")
    source: str = Field(..., title="Original")
    text: str = Field(..., title="Translation", description="Edit to change what is spoken and subtitled")


class TranslationReview(RunInput):
    """The form shown on the paused run: every translated line, editable."""

    lines: list[ReviewLine] = Field(..., title="Lines")


def review_form(translated: TranslatedLines) -> type[TranslationReview]:
    """The review input model pre-filled with the machine translation."""
    lines = [ReviewLine(index=l.index, speaker=l.speaker, source=l.source_text, text=l.target_text) for l in translated.lines]
    return TranslationReview.with_initial_data(
        description=f"Review the {translated.language} translation: edit lines, then resume. Only edited lines are re-synthesized.",
        lines=lines,
    )


def apply_review(translated: TranslatedLines, reviewed: list[ReviewLine]) -> TranslatedLines:
    """The translation with the reviewer's texts; lines the reviewer left out keep the machine text."""
    edits = {line.index: line.text.strip() for line in reviewed}
    lines = [l.model_copy(update={"target_text": edits.get(l.index) or l.target_text}) for l in translated.lines]
    return translated.model_copy(update={"lines": lines})


def edited_indices(before: TranslatedLines, after: TranslatedLines) -> list[int]:
    """Indices of the lines whose text the review changed."""
    old = {l.index: l.target_text for l in before.lines}
    return [l.index for l in after.lines if old.get(l.index) != l.target_text]


def review_translation(translated: TranslatedLines, timeout_s: int = REVIEW_TIMEOUT_S) -> TranslatedLines:
    """Pause this flow run until a reviewer submits the form (Prefect UI or `resume_flow_run`)."""
    form = review_form(translated)
    answer = pause_flow_run(wait_for_input=form, timeout=timeout_s, poll_interval=2, key=f"review-{translated.language}")
    return apply_review(translated, answer.lines)
