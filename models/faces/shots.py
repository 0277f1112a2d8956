"""Shot boundaries (hard cuts) with PySceneDetect's content detector."""

from __future__ import annotations

from pathlib import Path

from models.faces.records import Shot
from polydub.errors import BackendUnavailableError, InputError

CUT_THRESHOLD = 27.0  # PySceneDetect's default for ContentDetector (mean HSV change, 0–255)
MIN_SHOT_FRAMES = 15  # no two cuts closer than this


def shots_from_cuts(cuts: list[int], frame_count: int) -> list[Shot]:
    """Shots covering frames ``0 … frame_count - 1``, split at the given cut frames (each cut starts a shot)."""
    if frame_count <= 0:
        return []
    bounds = [0] + sorted({c for c in cuts if 0 < c < frame_count}) + [frame_count]
    return [Shot(index=i, start_frame=a, end_frame=b) for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def detect_shots(
    video: Path | str,
    frame_count: int,
    threshold: float = CUT_THRESHOLD,
    min_shot_frames: int = MIN_SHOT_FRAMES,
) -> list[Shot]:
    """The shots of ``video``: a list covering all ``frame_count`` frames, in order, without gaps."""
    try:
        from scenedetect import ContentDetector, VideoOpenFailure, detect
    except ImportError as exc:
        raise BackendUnavailableError(f"shot detection needs a missing package ({exc.name}): pip install scenedetect opencv-python") from exc
    try:
        scenes = detect(str(video), ContentDetector(threshold=threshold, min_scene_len=min_shot_frames), start_in_scene=True)
    except VideoOpenFailure as exc:
        raise InputError(f"cannot read the video {Path(video).name} for shot detection: {exc}") from exc
    return shots_from_cuts([start.frame_num for start, _ in scenes], frame_count)
