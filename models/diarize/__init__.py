"""Speaker diarization: who speaks when. One small interface, one module per backend."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.data import Diarization
from polydub.errors import BackendUnavailableError


@runtime_checkable
class Diarizer(Protocol):
    """A diarization backend; the number of speakers is found, not given."""

    name: str
    version: str

    def diarize(self, audio_16k: Path) -> Diarization:
        """Speaker turns of a 16 kHz mono recording: sorted, non-overlapping, labels
        ``SPEAKER_00``, ``SPEAKER_01``, ... in order of first appearance."""
        ...


# backend id -> "module:class"; imported only when chosen, so a missing package of one
# backend never breaks another.
BACKENDS: dict[str, str] = {
    "vad-cluster": "models.diarize.vad_cluster:VadClusterDiarizer",
    "pyannote": "models.diarize.pyannote_diarizer:PyannoteDiarizer",
}


def load_diarizer(backend: str = "vad-cluster", **options: Any) -> Diarizer:
    """Build the diarizer ``backend`` with backend-specific ``options``."""
    target = BACKENDS.get(backend)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise BackendUnavailableError(f"unknown diarization backend '{backend}' (available: {known})")
    module_name, class_name = target.split(":")
    try:
        backend_class = getattr(import_module(module_name), class_name)
    except ImportError as exc:
        raise BackendUnavailableError(f"diarization backend '{backend}' needs a missing package: {exc.name}") from exc
    return backend_class(**options)


__all__ = ["BACKENDS", "Diarizer", "load_diarizer"]
