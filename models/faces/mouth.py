"""The mouth-opening measure: inner-lip gap over a scale that does not move with the mouth.

One number per frame, used both to find who speaks (active-speaker matching) and to
score lip sync on output videos. It is the mean length of the three vertical
inner-lip pairs of dlib's 68-point layout (61–67, 62–66, 63–65) divided by the
inter-ocular distance (between the centres of the two eyes, points 36–41 and 42–47),
so it is 0 for closed lips, about 0.3–0.5 for a wide-open mouth, and does not change
when the face is scaled or moved.
"""

from __future__ import annotations

import numpy as np

from models.faces.records import TrackGeometry

UPPER_INNER_LIP = (61, 62, 63)
LOWER_INNER_LIP = (67, 66, 65)
RIGHT_EYE = slice(36, 42)  # the subject's right eye: left in the image
LEFT_EYE = slice(42, 48)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Normalised inner-lip gap of ``(68, 2)`` landmarks (a 0-d array) or ``(N, 68, 2)`` (shape ``(N,)``).

    Frames whose eyes coincide (degenerate landmarks) give NaN.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape[-2:] != (68, 2):
        raise ValueError(f"expected landmarks of shape (..., 68, 2), got {points.shape}")
    gaps = np.linalg.norm(points[..., UPPER_INNER_LIP, :] - points[..., LOWER_INNER_LIP, :], axis=-1).mean(axis=-1)
    eyes = np.linalg.norm(points[..., RIGHT_EYE, :].mean(axis=-2) - points[..., LEFT_EYE, :].mean(axis=-2), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(eyes > 1e-6, gaps / eyes, np.nan)


def mouth_signal(geometry: TrackGeometry, frame_count: int) -> np.ndarray:
    """A track's mouth opening on the video's frame axis: ``(frame_count,)``, NaN where the track is absent."""
    signal = np.full(frame_count, np.nan)
    frames = np.asarray(geometry.frames, dtype=np.int64)
    inside = (frames >= 0) & (frames < frame_count)
    if len(frames):
        signal[frames[inside]] = mouth_opening(geometry.landmarks)[inside]
    return signal
