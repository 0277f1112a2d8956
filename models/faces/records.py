"""Typed results of face analysis: shots, face tracks and the identities that link them.

Per-frame geometry (boxes and 68-point landmarks) can be long, so a track's arrays live
in a compressed ``.npz`` file beside the stage's ``result.json`` and the JSON record
only names it. Frame indices are 0-based indices of decoded frames of the source video.
Landmarks follow dlib's 68-point layout (iBUG 300-W): mouth points are 48–67, the
inner lips 60–67.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from models.record import Record

MOUTH = slice(48, 68)
INNER_LIPS = slice(60, 68)
JAW = slice(0, 17)


class Shot(Record):
    """A run of frames between two cuts: frames ``start_frame`` … ``end_frame - 1``."""

    index: int
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class TrackGeometry:
    """The per-frame arrays of one face track (all of length N, one row per frame it covers)."""

    frames: np.ndarray  # (N,) int: frame indices, strictly increasing
    boxes: np.ndarray  # (N, 4) float: left, top, right, bottom in frame pixels
    landmarks: np.ndarray  # (N, 68, 2) float: x, y in frame pixels

    def save(self, path: Path | str) -> Path:
        """Write the arrays to ``path`` (.npz); the caller makes the write atomic."""
        with open(path, "wb") as handle:
            np.savez_compressed(handle, frames=self.frames, boxes=self.boxes, landmarks=self.landmarks)
        return Path(path)

    @classmethod
    def load(cls, path: Path | str) -> "TrackGeometry":
        with np.load(path) as data:
            return cls(frames=data["frames"], boxes=data["boxes"], landmarks=data["landmarks"])


class FaceTrack(Record):
    """One face followed through one shot."""

    track_id: int
    identity: str  # the person, stable across shots: "face_0", "face_1", …
    shot: int
    start_frame: int
    end_frame: int  # exclusive
    geometry: str  # path of the TrackGeometry .npz
    descriptor: list[float] = []  # mean identity embedding of the track (dlib: 128-d)

    def load_geometry(self) -> TrackGeometry:
        return TrackGeometry.load(self.geometry)


class FaceAnalysis(Record):
    """Everything the source side knows about faces in the video."""

    backend: str
    fps: float
    width: int
    height: int
    frame_count: int
    shots: list[Shot]
    tracks: list[FaceTrack]

    @property
    def identities(self) -> list[str]:
        return sorted({t.identity for t in self.tracks})

    def tracks_of(self, identity: str) -> list[FaceTrack]:
        return [t for t in self.tracks if t.identity == identity]


class SpeakerFace(Record):
    """The face identity matched to one diarized speaker, or none (off-screen)."""

    speaker: str
    identity: Optional[str] = None  # None: the speaker is never seen speaking (narrator, off-screen)
    confidence: float = 0.0  # 0–1: how clearly this face's mouth follows this speaker's voice
    scores: dict[str, float] = {}  # correlation with every identity, for the report


class SpeakerFaces(Record):
    """The face ↔ speaker mapping of a video."""

    speakers: list[SpeakerFace]
    silent_identities: list[str] = []  # faces that never speak: never changed

    def identity_of(self, speaker: str) -> Optional[str]:
        for entry in self.speakers:
            if entry.speaker == speaker:
                return entry.identity
        return None
