"""Source separation: the dialogue stem and the background (music/effects) stem of the source mix.

One small interface, one module per backend (imported only when chosen).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.record import Record
from polydub.errors import BackendUnavailableError


class Stems(Record):
    """The separated source mix: two stereo WAVs at ``sample_rate`` that sum back to the mix."""

    dialogue: str
    background: str
    sample_rate: int = 48000
    duration: float = 0.0
    model: str = ""


@runtime_checkable
class Separator(Protocol):
    """A separation backend."""

    name: str
    version: str

    def separate(self, audio_48k: Path, out_dir: Path) -> Stems:
        """Write ``out_dir/dialogue.wav`` and ``out_dir/background.wav`` (48 kHz stereo, the input's length)."""
        ...


# backend id -> "module:class"
BACKENDS: dict[str, str] = {
    "demucs": "models.separate.demucs_separator:DemucsSeparator",
}


def load_separator(backend: str = "demucs", **options: Any) -> Separator:
    """Build the separator ``backend`` with backend-specific ``options``."""
    target = BACKENDS.get(backend)
    if target is None:
        raise BackendUnavailableError(f"unknown separation backend '{backend}' (available: {', '.join(sorted(BACKENDS))})")
    module_name, class_name = target.split(":")
    try:
        backend_class = getattr(import_module(module_name), class_name)
    except ImportError as exc:
        raise BackendUnavailableError(f"separation backend '{backend}' needs a missing package: {exc.name} (pip install {exc.name})") from exc
    return backend_class(**options)


__all__ = ["BACKENDS", "Separator", "Stems", "load_separator"]
