"""The face-analysis pass every face backend shares: shots, tracking, descriptors, identities.

A backend brings the per-frame models (``detect``, ``landmarks``, ``descriptor``); this
module streams the video once, follows faces shot by shot, writes each shot's tracks when
the shot ends (memory holds only the current shot) and links tracks of the same person
across shots into one identity.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from models.faces.records import FaceAnalysis
from models.faces.shots import detect_shots, shots_from_cuts
from models.faces.tracking import SavedTrack, ShotTracker, face_tracks, is_spurious, link_identities, save_track
from models.ingest import probe
from models.video_io import read_frames
from polydub.errors import InputError

PROGRESS_EVERY = 25  # frames between progress calls


class FrameFaceModels(Protocol):
    """The per-frame face models of a backend and its tracking settings."""

    name: str
    detect_every: int
    min_track_frames: int
    max_descriptors: int
    link_threshold: float

    def detection_image(self, frame: np.ndarray) -> np.ndarray:
        """The image ``detect`` and ``landmarks`` work on (e.g. grey levels), from an RGB frame."""
        ...

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Face boxes (M, 4): left, top, right, bottom."""
        ...

    def landmarks(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 landmarks (68, 2) of the face in ``box``."""
        ...

    def descriptor(self, frame: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The identity embedding of the face with these landmarks (RGB ``frame``)."""
        ...


def analyze_video(models: FrameFaceModels, video: Path, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> FaceAnalysis:
    """Detect, track and identify every face of ``video``; track geometry goes to ``out_dir``."""
    info = probe(video)
    if not info.has_video or info.width <= 0 or info.height <= 0:
        raise InputError(f"{Path(video).name} has no video stream to analyse faces in")
    expected = max(info.frame_count, 1)
    shots = detect_shots(video, expected)
    gap = max(1, round(info.fps or 25.0))  # first descriptor gap: about a second
    saved: list[SavedTrack] = []

    def new_tracker(shot: int) -> ShotTracker:
        return ShotTracker(shot, info.width, info.height, descriptor_gap=gap, max_descriptors=models.max_descriptors)

    def close(tracker: ShotTracker) -> None:
        for track in tracker.finish():
            if not is_spurious(track, models.min_track_frames):
                saved.append(save_track(track, len(saved), Path(out_dir)))

    shot_index, decoded = 0, 0
    tracker = new_tracker(0)
    for index, frame in read_frames(video, info.width, info.height):
        decoded = index + 1
        while shot_index + 1 < len(shots) and index >= shots[shot_index].end_frame:
            close(tracker)
            shot_index += 1
            tracker = new_tracker(shot_index)
        image = models.detection_image(frame)
        due = (index - shots[shot_index].start_frame) % models.detect_every == 0
        tracker.step(index, models.detect(image) if due else None, lambda box: models.landmarks(image, box))
        for track, points in tracker.wants_descriptor(index):
            tracker.add_descriptor(track, index, models.descriptor(frame, track.boxes[-1], points))
        if progress is not None and decoded % PROGRESS_EVERY == 0:
            progress(decoded, max(expected, decoded))
    close(tracker)
    if decoded == 0:
        raise InputError(f"no frame of {Path(video).name} could be decoded")
    if progress is not None:
        progress(decoded, decoded)
    return FaceAnalysis(
        backend=models.name,
        fps=info.fps,
        width=info.width,
        height=info.height,
        frame_count=decoded,
        shots=shots_from_cuts([s.start_frame for s in shots], decoded),  # re-cut to the frames really decoded
        tracks=face_tracks(saved, link_identities(saved, models.link_threshold)),
    )
