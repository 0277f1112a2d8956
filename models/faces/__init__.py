"""Face analysis: detect, track and identify faces. One small interface, one module per backend."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from models.faces.records import FaceAnalysis
from polydub.errors import BackendUnavailableError


@runtime_checkable
class FaceAnalyzer(Protocol):
    """A face analysis backend."""

    name: str  # backend id, e.g. "dlib"
    version: str  # models and parameters, for cache keys

    def analyze(self, video: Path, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> FaceAnalysis:
        """Shots and identity-labelled face tracks of ``video``; per-track geometry is written
        under ``out_dir``. ``progress(done_frames, total_frames)`` is called as frames are read."""
        ...


# backend id -> "module:class"; imported only when chosen, so a missing package of one
# backend never breaks another. "insightface" is the studio backend (a factory: it loads a model pack).
BACKENDS: dict[str, str] = {
    "dlib": "models.faces.dlib_faces:DlibFaceAnalyzer",
    "insightface": "models.faces.insightface_faces:InsightFaceAnalyzer.from_pretrained",
}

# module that failed to import -> what to install
INSTALL_HINTS: dict[str, str] = {
    "dlib": "pip install dlib-bin face-recognition-models",
    "face_recognition_models": "pip install face-recognition-models",
    "cv2": "pip install opencv-python",
    "scenedetect": "pip install scenedetect",
    "insightface": "pip install insightface onnxruntime-gpu",
    "onnxruntime": "pip install onnxruntime-gpu",
}


def load_face_analyzer(backend: str = "dlib", **options: Any) -> FaceAnalyzer:
    """Build the face analyzer ``backend`` with backend-specific ``options``."""
    target = BACKENDS.get(backend)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise BackendUnavailableError(f"unknown face analysis backend '{backend}' (available: {known})")
    module_name, attribute = target.split(":")
    try:
        backend_class = import_module(module_name)
        for part in attribute.split("."):  # "Class" or "Class.factory"
            backend_class = getattr(backend_class, part)
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        hint = INSTALL_HINTS.get(missing, f"pip install {missing}" if missing else "see the install guide")
        raise BackendUnavailableError(f"face analysis backend '{backend}' needs a missing package ({missing or exc}): {hint}") from exc
    return backend_class(**options)


__all__ = ["BACKENDS", "FaceAnalyzer", "load_face_analyzer"]
