"""Face geometry from dlib's 68 landmarks: scale, axes, the lower-face region and soft masks.

Shared by the mouth warp (its displacement field lives inside the lower-face region) and
the compositor (its mask is the same region, feathered), so a warp never changes a pixel
the compositor would not blend.
"""

from __future__ import annotations

import cv2
import numpy as np

RIGHT_EYE = slice(36, 42)  # the subject's right eye: image left on a frontal face
LEFT_EYE = slice(42, 48)
JAW_REGION = list(range(2, 15))  # jaw contour from cheek to cheek, through the chin (8)
NOSE_BASE = [35, 34, 33, 32, 31]
# how far each jaw point 2..14 can drop when the mouth opens (1 at the chin)
JAW_DROP = np.array([0.0, 0.0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.88, 1.0, 0.88, 0.7, 0.5, 0.3, 0.15, 0.05, 0.0, 0.0])

REGION_SIDE_MARGIN = 0.12  # jaw contour pushed outward by this many inter-ocular distances
REGION_DROP_MARGIN = 0.45  # … and down by this much at the chin (room for the jaw to open)
REGION_NOSE_MARGIN = 0.06  # the nose base edge raised by this much


def interocular(landmarks: np.ndarray) -> float:
    """Distance between the eye centres, in pixels: the face's scale."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[LEFT_EYE].mean(axis=0) - points[RIGHT_EYE].mean(axis=0)))


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors across the face (along the eye line, image right) and down the face."""
    points = np.asarray(landmarks, dtype=np.float64)
    across = points[LEFT_EYE].mean(axis=0) - points[RIGHT_EYE].mean(axis=0)
    across /= max(np.linalg.norm(across), 1e-9)
    down = np.array([-across[1], across[0]])
    return across, down


def lower_face_polygon(landmarks: np.ndarray) -> np.ndarray:
    """Closed polygon (K, 2) around lips, chin and jaw, with room below the chin for a jaw drop."""
    points = np.asarray(landmarks, dtype=np.float64)
    scale = interocular(points)
    _, down = face_axes(points)
    centre = points[48:68].mean(axis=0)
    jaw = points[JAW_REGION]
    outward = jaw - centre
    outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-9)
    jaw = jaw + scale * (REGION_SIDE_MARGIN * outward + REGION_DROP_MARGIN * JAW_DROP[JAW_REGION][:, None] * down)
    nose = points[NOSE_BASE] - scale * REGION_NOSE_MARGIN * down
    return np.concatenate([jaw, nose])


def region_bounds(polygon: np.ndarray, shape: tuple[int, int], pad: int = 2) -> tuple[int, int, int, int]:
    """Integer box ``(x0, y0, x1, y1)`` around ``polygon``, clipped to an image of ``shape`` (h, w)."""
    height, width = shape[:2]
    x0, y0 = np.floor(polygon.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + pad + 1
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def polygon_ramp(polygon: np.ndarray, shape: tuple[int, int], band: float, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Float32 weights over an image of ``shape`` (h, w): 0 outside ``polygon``, rising
    smoothly (smoothstep of the distance to its edge) to 1 at ``band`` pixels inside.

    ``origin`` (x, y) is where the image's top-left pixel sits in the polygon's coordinates.
    Distances are to the polygon's own edge, also where it runs past the image border.
    """
    height, width = shape[:2]
    points = np.asarray(polygon, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    left, top = np.floor(points.min(axis=0)).astype(int) - 2
    right, bottom = np.ceil(points.max(axis=0)).astype(int) + 3
    out = np.zeros((height, width), np.float32)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, width), min(bottom, height)
    if x1 <= x0 or y1 <= y0:
        return out
    inside = np.zeros((bottom - top, right - left), np.uint8)
    cv2.fillPoly(inside, [np.round((points - [left, top]) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[y0 - top : y1 - top, x0 - left : x1 - left]
    t = np.clip(distance / max(band, 1e-6), 0.0, 1.0)
    out[y0:y1, x0:x1] = t * t * (3.0 - 2.0 * t)
    return out


def closed_curve(points: np.ndarray, per_segment: int = 6) -> np.ndarray:
    """Smooth closed curve through ``points`` (uniform Catmull-Rom spline), (K*per_segment, 2)."""
    p = np.asarray(points, dtype=np.float64)
    t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    curve = []
    for i in range(len(p)):
        p0, p1, p2, p3 = p[i - 1], p[i], p[(i + 1) % len(p)], p[(i + 2) % len(p)]
        curve.append(
            0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (3 * p1 - p0 - 3 * p2 + p3) * t3)
        )
    return np.concatenate(curve)
