"""Studio diarization with a pyannote.audio pipeline (community-1 by default, 3.1 selectable).

The pipeline is loaded with ``Pipeline.from_pretrained`` from a hub id (gated: the
terms must be accepted on the model page and a Hugging Face token given) or from a
local folder holding its ``config.yaml``. The recording is handed over as an in-memory
waveform. Speaker turns come from the pipeline's *exclusive* diarization (one speaker
at a time, what dubbing needs); a pipeline that only returns overlapping turns is made
exclusive by letting the earlier turn keep the overlap. Turns are clipped to the
recording, touching turns of one speaker are merged, and speakers are relabelled
``SPEAKER_00``, ``SPEAKER_01``, ... in order of first appearance.
pyannote's telemetry is switched off (``PYANNOTE_METRICS_ENABLED=false``) unless set.
"""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from models.audio import read_audio
from models.data import Diarization, SpeakerTurn
from polydub.errors import BackendUnavailableError, InputError

SAMPLE_RATE = 16000
DEFAULT_PIPELINE = "pyannote/speaker-diarization-community-1"
TOKEN_ENV = "HF_TOKEN"
# gated models each pipeline loads besides its own repo (their terms must be accepted too)
DEPENDENCIES = {
    "pyannote/speaker-diarization-3.1": ["pyannote/segmentation-3.0", "pyannote/wespeaker-voxceleb-resnet34-LM"],
}
MERGE_GAP_S = 1e-3


def _gated_message(model: str) -> str:
    models = [model, *DEPENDENCIES.get(model, [])]
    pages = ", ".join(f"https://huggingface.co/{m}" for m in models)
    return (
        f"accept the user conditions at {pages} with your Hugging Face account, create a read token at "
        f"https://huggingface.co/settings/tokens, set {TOKEN_ENV}=<token> (or run `huggingface-cli login`) "
        "and run once with network access so the weights are cached"
    )


def resolve_token(token: str | None = None) -> str | None:
    """The Hugging Face token: given, else $HF_TOKEN, else the one saved by ``huggingface-cli login``."""
    if token:
        return token
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    try:
        from huggingface_hub import get_token
    except ImportError:
        return None
    return get_token()


def load_pipeline(model: str = DEFAULT_PIPELINE, token: str | None = None):
    """A pyannote ``Pipeline`` from a hub id or a local folder; BackendUnavailableError says how to get it."""
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    try:
        from pyannote.audio import Pipeline
    except ImportError as exc:
        raise BackendUnavailableError(f"pyannote diarization needs {exc.name}: pip install pyannote.audio") from exc
    local = Path(model).expanduser()
    if local.exists() and not (local / "config.yaml").is_file() and local.suffix not in (".yaml", ".yml"):
        raise BackendUnavailableError(f"no pyannote config.yaml in {local}")
    try:
        pipeline = Pipeline.from_pretrained(str(local) if local.exists() else model, token=resolve_token(token))
    except Exception as exc:  # hub refusals (401/403 gated), offline cache misses, bad checkpoints
        if local.exists():
            raise BackendUnavailableError(f"cannot load the pyannote pipeline in {local}: {exc}") from exc
        raise BackendUnavailableError(f"cannot load pyannote pipeline '{model}' ({exc}): {_gated_message(model)}") from exc
    if pipeline is None:  # from_pretrained returns None when the download was refused
        raise BackendUnavailableError(f"cannot load pyannote pipeline '{model}': {_gated_message(model)}")
    return pipeline


def _identity(model: str) -> str:
    local = Path(model).expanduser()
    config = local / "config.yaml" if local.is_dir() else local
    if config.is_file():
        return f"{local.name}@{hashlib.sha256(config.read_bytes()).hexdigest()[:12]}"
    return model


def exclusive_turns(raw: list[tuple[float, float, str]], duration: float) -> list[SpeakerTurn]:
    """Sorted, non-overlapping turns within [0, duration], relabelled by first appearance.

    Where turns overlap, the one that started first keeps the overlap; touching turns
    of the same speaker are merged.
    """
    turns: list[list[Any]] = []
    for start, end, speaker in sorted(raw, key=lambda t: (t[0], t[1])):
        start, end = max(0.0, start), min(duration, end)
        if turns:
            start = max(start, turns[-1][1])
        if end - start <= 0:
            continue
        if turns and turns[-1][2] == speaker and start - turns[-1][1] <= MERGE_GAP_S:
            turns[-1][1] = end
        else:
            turns.append([start, end, speaker])
    labels: dict[str, str] = {}
    for _, _, speaker in turns:
        labels.setdefault(speaker, f"SPEAKER_{len(labels):02d}")
    return [SpeakerTurn(speaker=labels[s], start=round(a, 3), end=round(b, 3)) for a, b, s in turns]


class PyannoteDiarizer:
    """Diarizer backed by a pyannote.audio speaker-diarization pipeline."""

    name = "pyannote"

    def __init__(
        self,
        model: str = DEFAULT_PIPELINE,
        token: str | None = None,
        device: str | None = None,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
    ):
        import torch

        self.model_id = model
        self.pipeline = load_pipeline(model, token)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.pipeline.to(torch.device(self.device))
        self.speaker_options = {
            key: value
            for key, value in (("num_speakers", num_speakers), ("min_speakers", min_speakers), ("max_speakers", max_speakers))
            if value is not None
        }
        self.version = f"pyannote.audio{package_version('pyannote.audio')}/{_identity(model)}"

    def diarize(self, audio_16k: Path | str) -> Diarization:
        """Speaker turns of a 16 kHz mono recording (see the module notes)."""
        import torch

        path = Path(audio_16k)
        if not path.is_file():
            raise InputError(f"audio file not found: {path}")
        samples, _ = read_audio(path, sample_rate=SAMPLE_RATE)
        duration = len(samples) / SAMPLE_RATE
        if samples.size == 0:
            return Diarization(turns=[])
        waveform = torch.from_numpy(samples.astype("float32"))[None]
        output = self.pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE, "uri": path.stem}, **self.speaker_options)
        annotation = getattr(output, "exclusive_speaker_diarization", None)
        if annotation is None:  # a legacy pipeline returns one (possibly overlapping) Annotation
            annotation = getattr(output, "speaker_diarization", output)
        raw = [(float(seg.start), float(seg.end), str(label)) for seg, _, label in annotation.itertracks(yield_label=True)]
        return Diarization(turns=exclusive_turns(raw, duration))


def check(model: str | None = None) -> list:
    """Preflight for ``polydub doctor``: package, token, gated weights in the HF cache, licence."""
    from models.licences import licence_checks
    from models.preflight import Check, hf_cache_check, package_check

    stage = "diarize"
    model = model or DEFAULT_PIPELINE
    checks = [package_check(stage, "pyannote.audio", "pyannote.audio")]
    if Path(model).expanduser().is_dir():
        checks.append(hf_cache_check(stage, model))
        return checks
    has_token = bool(resolve_token())
    checks.append(
        Check(stage, "Hugging Face token", has_token, "found" if has_token else f"no token (${TOKEN_ENV} or huggingface-cli login)",
              fix="" if has_token else _gated_message(model))
    )
    for repo in [model, *DEPENDENCIES.get(model, [])]:
        checks.append(hf_cache_check(stage, repo, token_env=TOKEN_ENV, filename="config.yaml"))
    checks.extend(licence_checks(stage, "pyannote", {"model": model}))
    return checks
