"""Lip-sync stage: the interface every backend follows and the factory.

A backend receives one ``LipSyncClip`` (a run of stabilised face crops of one person plus
the dubbed speech over exactly those frames) and returns new crops whose mouths follow
that speech. Cutting crops, chunking long lines and compositing the results back into
the video is the job of ``models.compositor``, shared by every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np

from polydub.errors import BackendUnavailableError

BACKENDS = ("lite", "ltx")


@dataclass
class LipSyncClip:
    """One chunk of one line of one on-screen speaker.

    ``crops`` are (H, W, 3) uint8 face crops, all the same size; ``landmarks`` (N, 68, 2)
    are in crop coordinates. ``reference`` is a neutral, mouth-closed crop of the same
    person and size with its landmarks. ``audio`` (mono float32) covers exactly these
    frames. When the line is longer than one chunk, ``line_audio`` holds the whole line's
    speech and ``line_offset`` the index of ``crops[0]`` within the line, so a backend can
    keep level normalisation and phoneme timing consistent across chunks.
    """

    identity: str
    first_frame: int
    crops: list[np.ndarray]
    landmarks: np.ndarray
    reference: np.ndarray
    reference_landmarks: np.ndarray
    audio: np.ndarray
    sample_rate: int
    fps: float
    text: str = ""
    language: str = ""
    line_audio: Optional[np.ndarray] = None
    line_offset: int = 0
    line_frames: Optional[int] = None  # frame count of the whole line (default: this clip's)


@runtime_checkable
class LipSyncBackend(Protocol):
    """Re-renders the mouth of face crops to follow new speech."""

    name: str
    version: str
    frame_limit: Optional[int]  # most frames per ``sync`` call (None: no limit of its own)
    overlap: int  # frames shared and cross-faded between consecutive chunks

    def sync(self, clip: LipSyncClip) -> list[np.ndarray]:
        """New crops, one per input crop, same shape and dtype.

        A backend that voices the lines itself (LTX native mode) also sets ``voices_lines = True``
        and offers ``sync_native(clip) -> (crops, audio)``; its audio then replaces the dubbed line.
        """
        ...


def load_lip_syncer(backend: str = "lite", **options: Any) -> LipSyncBackend:
    """The lip-sync backend named ``backend``; fails at once if it is unknown or not installed.

    ``options`` go to the backend (ltx: ``model``, ``lora``, ``device``, ``cpu_offload``, ``mode``, …).
    """
    if backend == "lite":
        from models.lipsync.lite import LiteLipSync

        return LiteLipSync()
    if backend == "ltx":
        try:
            from models.lipsync.ltx import LtxLipSync
        except ImportError as exc:
            raise BackendUnavailableError(f"the ltx lip-sync backend needs {exc.name}: pip install -e '.[studio]'") from exc
        return LtxLipSync.from_pretrained(**options)
    raise BackendUnavailableError(f"unknown lip-sync backend '{backend}' (available: {', '.join(BACKENDS)})")
