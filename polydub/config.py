"""Run parameters (one pydantic model, rendered as a form by the Prefect UI) and profiles."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, Field, field_validator, model_validator

from models.languages import parse_targets

SOURCE_STAGES = ("ingest", "transcribe", "diarize", "lines", "speakers")
LANGUAGE_STAGES = ("translate", "synthesize", "fit_timing", "mix", "deliver", "quality")


class Profile(str, Enum):
    """Which family of backends runs the stages."""

    lite = "lite"
    studio = "studio"


class Backends(BaseModel):
    """The backend chosen for each stage; the profile's defaults, overridable per run."""

    transcribe: str = "faster-whisper"
    transcribe_model: Optional[str] = Field(None, description="Model name or path; empty = the profile's default")
    diarize: str = "vad-cluster"
    translate: str = "apertium"
    synthesize: str = "espeak"

    @classmethod
    def for_profile(cls, profile: Profile) -> "Backends":
        if profile is Profile.lite:
            return cls()
        from polydub.errors import BackendUnavailableError

        raise BackendUnavailableError(
            "the studio profile's backends (faster-whisper large-v3, pyannote, NLLB, XTTS-v2, LTX-2) "
            "are not in this release yet; run with --profile lite"
        )


def default_work_root() -> Path:
    """Where work folders live unless a run says otherwise ($POLYDUB_WORK_DIR or the user cache)."""
    env = os.environ.get("POLYDUB_WORK_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polydub" / "work"


class LocalizeParams(BaseModel):
    """Parameters of one localization job."""

    video: str = Field(..., title="Source video", description="Path of the video to localize")
    targets: list[str] = Field(["es"], title="Target languages", description="ISO 639-1 codes, e.g. es, ca, eo")
    source_language: str = Field("en", title="Source language", description="ISO 639-1 code of the speech in the video")
    out_dir: str = Field("polydub-out", title="Output folder", description="Where the dubbed videos, subtitles and report.json go")
    work_dir: Optional[str] = Field(None, title="Work folder", description="Stage cache root; default $POLYDUB_WORK_DIR or ~/.cache/polydub/work")
    profile: Profile = Field(Profile.lite, title="Profile", description="lite: CPU, nothing downloaded; studio: GPU models")
    min_speed: float = Field(0.85, ge=0.5, le=1.0, title="Slowest speed factor", description="Lower bound of the per-line speed factor")
    max_speed: float = Field(1.25, ge=1.0, le=2.0, title="Fastest speed factor", description="Upper bound of the per-line speed factor")
    keep_original_audio: bool = Field(False, title="Keep original audio", description="Add the original audio as a second track")
    max_duration_s: float = Field(4 * 3600, gt=0, title="Longest source (s)", description="Refuse sources longer than this")
    reference_text: Optional[str] = Field(None, title="Reference transcript", description="Text file of what is said, for the WER measure")
    reference_rttm: Optional[str] = Field(None, title="Reference speaker turns", description="RTTM file, for the DER measure")

    @field_validator("targets", mode="before")
    @classmethod
    def _split_targets(cls, value):
        return parse_targets(value)

    @model_validator(mode="after")
    def _check(self) -> "LocalizeParams":
        if self.source_language in self.targets:
            from polydub.errors import UnsupportedLanguageError

            raise UnsupportedLanguageError(f"target language '{self.source_language}' is the source language")
        return self

    @property
    def work_root(self) -> Path:
        return Path(self.work_dir) if self.work_dir else default_work_root()

    @property
    def backends(self) -> Backends:
        return Backends.for_profile(self.profile)
