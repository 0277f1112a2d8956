"""Stabilised face crops and chunk plans for lip-sync jobs."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from models.lipsync.geometry import lower_face_polygon

CROP_SCALE = 1.8  # crop side = this × the largest landmark extent of the job
CENTRE_SMOOTH_FRAMES = 2.0  # Gaussian smoothing of the crop centre over time
DEFAULT_CHUNK = 50  # frames per backend call when the backend sets no limit


def plan_chunks(start: int, end: int, limit: int, overlap: int) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` of at most ``limit`` frames covering ``[start, end)``,
    consecutive ranges sharing ``overlap`` frames."""
    if end <= start:
        return []
    if limit < 1:
        raise ValueError("chunk limit must be at least 1 frame")
    overlap = max(0, min(overlap, limit - 1))
    chunks = []
    a = start
    while True:
        b = min(a + limit, end)
        chunks.append((a, b))
        if b == end:
            return chunks
        a = b - overlap


def fill_missing(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (N, 68, 2) with frames that hold NaN (face not measured) interpolated in time
    from the nearest measured frames; ValueError if no frame is measured."""
    points = np.array(landmarks, dtype=np.float64, copy=True)
    valid = np.isfinite(points).all(axis=(1, 2))
    if not valid.any():
        raise ValueError("no frame of the face has landmarks")
    if valid.all():
        return points
    frames = np.arange(len(points))
    flat = points.reshape(len(points), -1)
    for column in range(flat.shape[1]):
        flat[~valid, column] = np.interp(frames[~valid], frames[valid], flat[valid, column])
    return flat.reshape(points.shape)


def crop_geometry(landmarks: np.ndarray) -> tuple[int, np.ndarray]:
    """Square crop side and per-frame integer top-left corners (N, 2) for a face over a job.

    The side is fixed for the job (from the largest landmark extent); the centre follows
    the landmarks' mean, smoothed in time so the crop does not jitter.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    extent = np.ptp(points, axis=1).max(axis=1)  # (N,) larger of width/height per frame
    centres = points.mean(axis=1)
    if len(centres) > 1:
        centres = gaussian_filter1d(centres, CENTRE_SMOOTH_FRAMES, axis=0, mode="nearest")
    # the crop always holds the whole mask region, whatever the head's pose
    reach = max(float(np.abs(lower_face_polygon(p) - c).max()) for p, c in zip(points, centres))
    side = int(np.ceil(max(CROP_SCALE * float(extent.max()), 2.0 * reach + 8.0) / 2.0)) * 2
    corners = np.round(centres - side / 2.0).astype(np.int64)
    return side, corners


def reference_corner(landmarks: np.ndarray, side: int) -> np.ndarray:
    """Top-left corner of a ``side`` crop centred on one frame's landmarks."""
    return np.round(np.asarray(landmarks, dtype=np.float64).mean(axis=0) - side / 2.0).astype(np.int64)


def cut_crop(frame: np.ndarray, corner: np.ndarray, side: int) -> np.ndarray:
    """The ``side``×``side`` crop of ``frame`` at ``corner`` (x, y); parts outside the frame
    repeat its edge pixels."""
    height, width = frame.shape[:2]
    x, y = int(corner[0]), int(corner[1])
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, width), min(y + side, height)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("face crop lies entirely outside the frame")
    inner = frame[y0:y1, x0:x1]
    pads = (y0 - y, y + side - y1, x0 - x, x + side - x1)
    if any(pads):
        return cv2.copyMakeBorder(np.ascontiguousarray(inner), *pads, cv2.BORDER_REPLICATE)
    return inner.copy()


def paste_crop(frame: np.ndarray, crop: np.ndarray, corner: np.ndarray) -> None:
    """Write the part of ``crop`` that lies inside ``frame`` back at ``corner`` (in place)."""
    height, width = frame.shape[:2]
    side = crop.shape[0]
    x, y = int(corner[0]), int(corner[1])
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, width), min(y + side, height)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = crop[y0 - y : y1 - y, x0 - x : x1 - x]
