"""Run parameters (one pydantic model, rendered as a form by the Prefect UI) and profiles."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from pydantic import BaseModel, Field, field_validator, model_validator

from models.languages import parse_targets

if TYPE_CHECKING:
    from models.provenance import SigningSettings

SOURCE_STAGES = ("ingest", "transcribe", "diarize", "faces", "lines", "speakers", "active_speaker")
LANGUAGE_STAGES = ("translate", "synthesize", "fit_timing", "mix", "lipsync", "deliver", "quality")

# Languages some profile can dub into (lite: Apertium pairs; studio: XTTS-v2), offered as the
# form's choices. Whether this machine's backend has a pair is checked when a language runs.
LANGUAGES = (
    "ar", "ca", "cs", "de", "en", "eo", "es", "fr", "gl", "hi", "hu", "it",
    "ja", "ko", "nl", "oc", "pl", "pt", "ru", "tr", "zh",
)
# The longest source a run accepts unless told otherwise (LocalizeParams.max_duration_s, `--max-duration`).
MAX_DURATION_S = 4 * 3600.0
# The Prefect global concurrency limit that caps GPU use (created by `polydub setup`).
GPU_CONCURRENCY_LIMIT = "polydub-gpu"
# The per-language deployment on the GPU pool (prefect.yaml).
GPU_LANGUAGE_DEPLOYMENT = "localize-language/localize-language-gpu"


class Profile(str, Enum):
    """Which family of backends runs the stages."""

    lite = "lite"
    studio = "studio"


class Backends(BaseModel):
    """The backend chosen for each stage; the profile's defaults, overridable per run."""

    transcribe: str = Field("faster-whisper", title="Transcription backend")
    transcribe_model: Optional[str] = Field(None, title="Transcription model", description="Model name or path; empty = the profile's default")
    diarize: str = Field("vad-cluster", title="Diarization backend", description="vad-cluster (lite) or pyannote (studio)")
    separate: str = Field("none", title="Dialogue/background separation", description="none (duck the original) or demucs (studio)")
    translate: str = Field("apertium", title="Translation backend", description="apertium (lite) or seq2seq (studio: NLLB, M2M100, Marian, MADLAD)")
    synthesize: str = Field("espeak", title="Speech synthesis backend", description="espeak (lite) or xtts (studio: XTTS-v2 voice cloning)")
    faces: str = Field("dlib", title="Face analysis backend", description="dlib (lite) or insightface (studio)")
    lipsync: str = Field("lite", title="Lip-sync backend", description="lite (mouth warp) or ltx (studio: LTX-2.3 IC-LoRA)")
    models: dict[str, str] = Field(
        default_factory=dict,
        title="Models and options per stage",
        description=(
            "'stage' → model id or local folder, overriding the backend's default (translate: facebook/m2m100_418M); "
            "'stage.option' → a backend option (lipsync.lora: a LoRA folder, translate.family: m2m100)"
        ),
    )

    @classmethod
    def for_profile(cls, profile: Profile, **overrides: Any) -> "Backends":
        """The profile's backends, with any field overridden (``translate="apertium"``, ``models={...}``)."""
        return cls(**{**PROFILE_BACKENDS[profile], **overrides})

    def model(self, stage: str) -> Optional[str]:
        """The model chosen for ``stage`` (None: the backend's default)."""
        if stage in self.models:  # a run's own choice wins over the profile's
            return self.models[stage]
        return self.transcribe_model if stage == "transcribe" else None

    @property
    def clones_voices(self) -> bool:
        """Whether the synthesizer copies each speaker's voice from a reference clip of the source."""
        return self.synthesize in CLONING_SYNTHESIZERS

    def options(self, stage: str) -> tuple[tuple[str, str], ...]:
        """The backend options of ``stage`` (its model under ``model``), sorted: hashable, for loaders and cache keys."""
        found = {key[len(stage) + 1 :]: value for key, value in self.models.items() if key.startswith(stage + ".")}
        if self.model(stage):
            found["model"] = self.model(stage)
        return tuple(sorted(found.items()))


CLONING_SYNTHESIZERS = ("xtts",)
BACKEND_STAGES = ("transcribe", "diarize", "separate", "translate", "synthesize", "faces", "lipsync")
AUTO_LANGUAGE = "auto"  # source_language value: detect the language from the speech
PROFILE_BACKENDS: dict[Profile, dict[str, Any]] = {
    Profile.lite: {},
    Profile.studio: {
        "transcribe_model": "large-v3",
        "diarize": "pyannote",
        "separate": "demucs",
        "translate": "seq2seq",
        "synthesize": "xtts",
        "faces": "insightface",
        "lipsync": "ltx",
    },
}


def default_work_root() -> Path:
    """Where work folders live unless a run says otherwise ($POLYDUB_WORK_DIR or the user cache)."""
    env = os.environ.get("POLYDUB_WORK_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polydub" / "work"


# C2PA signing of outputs: set on every machine that delivers (the key stays there, never in run parameters).
C2PA_CERT_ENV, C2PA_KEY_ENV, C2PA_TSA_ENV = "POLYDUB_C2PA_CERT", "POLYDUB_C2PA_KEY", "POLYDUB_C2PA_TSA_URL"


def c2pa_signing() -> Optional["SigningSettings"]:
    """The C2PA signing identity from $POLYDUB_C2PA_CERT (PEM chain), $POLYDUB_C2PA_KEY (PEM key) and the optional
    $POLYDUB_C2PA_TSA_URL; None when neither path is set (outputs then carry the disclosure tags, unsigned)."""
    from models.provenance import SigningError, SigningSettings

    cert, key = os.environ.get(C2PA_CERT_ENV, "").strip(), os.environ.get(C2PA_KEY_ENV, "").strip()
    if not cert and not key:
        return None
    if not (cert and key):
        missing, given = (C2PA_KEY_ENV, C2PA_CERT_ENV) if cert else (C2PA_CERT_ENV, C2PA_KEY_ENV)
        raise SigningError(f"{given} is set but {missing} is not: C2PA signing needs both the certificate chain and the key")
    return SigningSettings(Path(cert).expanduser(), Path(key).expanduser(), os.environ.get(C2PA_TSA_ENV, "").strip() or None)


class LocalizeParams(BaseModel):
    """Parameters of one localization job."""

    video: str = Field(..., title="Source video", description="Path of the video to localize, as the worker sees it")
    targets: list[str] = Field(
        ["es"],
        title="Target languages",
        description="ISO 639-1 codes, e.g. es, ca, eo",
        json_schema_extra={"items": {"type": "string", "enum": list(LANGUAGES)}, "minItems": 1, "uniqueItems": True},
    )
    source_language: str = Field(
        "en",
        title="Source language",
        description="ISO 639-1 code of the speech in the video, or 'auto' to detect it from the speech",
        json_schema_extra={"enum": [AUTO_LANGUAGE, *LANGUAGES]},
    )
    out_dir: str = Field("polydub-out", title="Output folder", description="Where the dubbed videos, subtitles and report.json go")
    work_dir: Optional[str] = Field(None, title="Work folder", description="Stage cache root; default $POLYDUB_WORK_DIR or ~/.cache/polydub/work")
    profile: Profile = Field(Profile.lite, title="Profile", description="lite: CPU, nothing downloaded; studio: GPU models")
    stage_backends: dict[str, str] = Field(
        default_factory=dict,
        title="Backend per stage",
        description="stage → backend, overriding the profile's choice (e.g. translate → apertium, lipsync → lite)",
    )
    models: dict[str, str] = Field(
        default_factory=dict,
        title="Models and options per stage",
        description="'stage' → model id or local folder (translate → facebook/m2m100_418M); 'stage.option' → a backend option",
    )
    min_speed: float = Field(0.85, ge=0.5, le=1.0, title="Slowest speed factor", description="Lower bound of the per-line speed factor")
    max_speed: float = Field(1.25, ge=1.0, le=2.0, title="Fastest speed factor", description="Upper bound of the per-line speed factor")
    keep_original_audio: bool = Field(False, title="Keep original audio", description="Add the original audio as a second track")
    max_duration_s: float = Field(MAX_DURATION_S, gt=0, title="Longest source (s)", description="Refuse sources longer than this")
    reference_text: Optional[str] = Field(None, title="Reference transcript", description="Text file of what is said, for the WER measure")
    reference_rttm: Optional[str] = Field(None, title="Reference speaker turns", description="RTTM file, for the DER measure")
    language_deployment: Optional[str] = Field(
        None,
        title="Language deployment (GPU pool)",
        description=(
            f"Run each language as a child flow run of this deployment, e.g. {GPU_LANGUAGE_DEPLOYMENT}, over the shared "
            f"work folder, capped by the '{GPU_CONCURRENCY_LIMIT}' concurrency limit; empty: in this flow run's process"
        ),
    )
    review: bool = Field(
        False, title="Review translations", description="Pause each language after translation for its lines to be edited in the UI"
    )
    deliver_to: Optional[str] = Field(
        None,
        title="Deliver to",
        description="Also copy the outputs and manifest.json to this folder or fsspec URL (/srv/out, file:///srv/out, s3://bucket/prefix)",
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _split_targets(cls, value):
        return parse_targets(value)

    @field_validator("deliver_to")
    @classmethod
    def _known_destination(cls, value: Optional[str]) -> Optional[str]:
        from polydub.delivery import destination_or_none

        return destination_or_none(value)

    @field_validator("source_language")
    @classmethod
    def _source_code(cls, value: str) -> str:
        from models.languages import normalize

        return AUTO_LANGUAGE if value.strip().lower() == AUTO_LANGUAGE else normalize(value)

    @field_validator("stage_backends")
    @classmethod
    def _known_stages(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(BACKEND_STAGES))
        if unknown:
            raise ValueError(f"no stage named {', '.join(unknown)} (stages with a backend: {', '.join(BACKEND_STAGES)})")
        return value

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
    def detects_language(self) -> bool:
        """Whether the source language is detected from the speech (``source_language='auto'``)."""
        return self.source_language == AUTO_LANGUAGE

    @property
    def backends(self) -> Backends:
        """The profile's backends with this run's per-stage backend and model overrides."""
        return Backends.for_profile(self.profile, **self.stage_backends, models={**self.models})
