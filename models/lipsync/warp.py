"""Landmark-driven mouth warp: make a closed, neutral mouth take a ``MouthPose``.

``target_landmarks`` moves the lips, mouth corners and jaw of a neutral face (scaled by
its inter-ocular distance, in the face's own axes so a tilted head works).
``warp_mouth`` turns the landmark motion into a smooth displacement field (thin-plate
spline through all 68 points, eyes/brows/nose as fixed anchors), limited to the
lower-face region and faded to zero at its edge, evaluated on a coarse grid over that
region only and applied with ``cv2.remap``. Where the lips part wider than in the source,
the mouth interior is painted: a dark oral cavity with a soft gradient, a hint of tongue
and of the upper teeth.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from models.lipsync.geometry import (
    JAW_DROP,
    closed_curve,
    face_axes,
    interocular,
    lower_face_polygon,
    polygon_ramp,
    region_bounds,
)
from models.lipsync.motion import MouthPose

MAX_GAP = 0.4  # extra inner-lip gap at opening 1, in inter-ocular distances
UPPER_SHARE = 0.2  # of the gap: how far the upper lip rises …
LOWER_SHARE = 0.8  # … and the lower lip drops
CORNER_DROP = 0.3  # mouth corners follow the jaw a little
JAW_SHARE = 0.6  # the chin drops this share of the gap
OPEN_NARROW = 0.1  # a wide-open mouth gets slightly narrower
SPREAD_WIDEN = 0.15  # spread: mouth width grows by this share per unit spread …
SPREAD_THIN = 0.1  # … and the lips thin
ROUND_NARROW = 0.3  # rounded: mouth width shrinks by this share …
ROUND_PUCKER = 0.15  # … and the lips protrude (look taller)

UPPER_LIP = {49: 0.5, 50: 0.9, 51: 1.0, 52: 0.9, 53: 0.5, 61: 0.9, 62: 1.0, 63: 0.9}
LOWER_LIP = {55: 0.65, 56: 0.92, 57: 1.0, 58: 0.92, 59: 0.65, 65: 0.95, 66: 1.0, 67: 0.95}
CORNERS = (48, 54, 60, 64)
MOUTH = slice(48, 68)

SUPPORT_BAND = 0.2  # the displacement fades in over this many inter-ocular distances
GRID_FRACTION = 0.125  # coarse grid spacing for the spline, in inter-ocular distances
FILL_MIN_GAP_PX = 1.0
FILL_FULL_STRETCH = 0.35  # fully painted once a third of the gap is new (source content stretched)
TEETH_HEIGHT = 0.07  # visible upper teeth, in inter-ocular distances
TEETH_MIN_GAP = 0.08  # no teeth in a barely open mouth


def inner_gap(landmarks: np.ndarray) -> float:
    """Mean distance between the inner upper and lower lip (pairs 61–67, 62–66, 63–65), pixels."""
    points = np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(points[[61, 62, 63]] - points[[67, 66, 65]], axis=1).mean())


def target_landmarks(neutral: np.ndarray, pose: MouthPose) -> np.ndarray:
    """Landmarks (68, 2) of the face ``neutral`` (mouth closed) with its mouth in ``pose``.

    Only the mouth (48–67) and the jaw (2–14) move; eyes, brows and nose stay put.
    """
    points = np.asarray(neutral, dtype=np.float64)
    scale = interocular(points)
    across, down = face_axes(points)
    gap = float(np.clip(pose.opening, 0.0, 1.0)) * MAX_GAP * scale
    spread = float(np.clip(pose.spread, -1.0, 1.0))
    du = np.zeros(68)
    dv = np.zeros(68)
    for index, share in UPPER_LIP.items():
        dv[index] -= UPPER_SHARE * gap * share
    for index, share in LOWER_LIP.items():
        dv[index] += LOWER_SHARE * gap * share
    dv[list(CORNERS)] += CORNER_DROP * gap
    dv[:17] += JAW_SHARE * gap * JAW_DROP
    centre = points[MOUTH].mean(axis=0)
    u = (points[MOUTH] - centre) @ across
    v = (points[MOUTH] - centre) @ down
    half_width = max(0.5 * float(u.max() - u.min()), 1e-6)
    du[MOUTH] -= OPEN_NARROW * (gap / scale) * u
    if spread > 0:
        du[MOUTH] += SPREAD_WIDEN * spread * u
        dv[MOUTH] -= SPREAD_THIN * spread * v
    elif spread < 0:
        du[MOUTH] += ROUND_NARROW * spread * u
        dv[MOUTH] += ROUND_PUCKER * (-spread) * v * np.clip(np.abs(v) / (0.5 * half_width), 0.0, 1.0)
    return points + du[:, None] * across + dv[:, None] * down


def _unique_rows(points: np.ndarray, values: np.ndarray, resolution: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Drop control points that coincide (to ``resolution`` px): a spline cannot pass through both."""
    _, keep = np.unique(np.round(points / resolution), axis=0, return_index=True)
    keep = np.sort(keep)
    return points[keep], values[keep]


def _displacement(source: np.ndarray, target: np.ndarray, anchors: np.ndarray, shape: tuple[int, int], step: int) -> np.ndarray:
    """Backward displacement (h, w, 2) at each output pixel: where to sample the source.

    The spline is evaluated at the centres of ``step``-pixel blocks and upsampled
    bilinearly by ``cv2.resize``, whose sample positions are exactly those centres.
    """
    height, width = shape
    points = np.concatenate([target, anchors])
    values = np.concatenate([source - target, np.zeros_like(anchors)])
    points, values = _unique_rows(points, values)
    spline = RBFInterpolator(points, values, kernel="thin_plate_spline")
    rows, cols = -(-height // step), -(-width // step)
    centres = (np.arange(max(rows, cols)) + 0.5) * step - 0.5
    grid = np.stack(np.meshgrid(centres[:cols], centres[:rows]), axis=-1).reshape(-1, 2)
    coarse = spline(grid).reshape(rows, cols, 2).astype(np.float32)
    fine = cv2.resize(coarse, (cols * step, rows * step), interpolation=cv2.INTER_LINEAR)
    return fine[:height, :width]


def warp_mouth(image: np.ndarray, landmarks: np.ndarray, pose: MouthPose) -> np.ndarray:
    """A copy of ``image`` in which the face with these (neutral, closed-mouth) landmarks
    takes ``pose``. A neutral pose returns an identical copy; pixels outside the
    lower-face region (``geometry.lower_face_polygon``) never change.
    """
    out = np.array(image, copy=True)
    if pose.opening <= 0 and pose.spread == 0:
        return out
    source = np.asarray(landmarks, dtype=np.float64)
    target = target_landmarks(source, pose)
    scale = interocular(source)
    polygon = lower_face_polygon(source)
    x0, y0, x1, y1 = region_bounds(polygon, image.shape)
    if x1 - x0 < 4 or y1 - y0 < 4 or scale < 4:
        return out
    origin = np.array([x0, y0], dtype=np.float64)
    weight = polygon_ramp(polygon, (y1 - y0, x1 - x0), SUPPORT_BAND * scale, origin=(x0, y0))
    step = max(2, int(round(GRID_FRACTION * scale)))
    field = _displacement(source - origin, target - origin, polygon - origin, weight.shape, step)
    map_x = np.arange(x0, x1, dtype=np.float32)[None, :] + field[..., 0] * weight
    map_y = np.arange(y0, y1, dtype=np.float32)[:, None] + field[..., 1] * weight
    warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    np.copyto(out[y0:y1, x0:x1], warped, where=(weight > 0)[..., None])
    _paint_interior(out, source, target, scale)
    return out


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _paint_interior(image: np.ndarray, source: np.ndarray, target: np.ndarray, scale: float) -> None:
    """Paint the oral cavity inside the target inner lips where they part wider than in the source."""
    gap_source, gap_target = inner_gap(source), inner_gap(target)
    if gap_target < FILL_MIN_GAP_PX:
        return
    strength = float(np.clip((1.0 - gap_source / gap_target) / FILL_FULL_STRETCH, 0.0, 1.0))
    if strength <= 0:
        return
    curve = closed_curve(target[60:68])
    x0, y0, x1, y1 = region_bounds(curve, image.shape, pad=3)
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((curve - [x0, y0]) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 0.7) * strength
    across, down = face_axes(source)
    centre = target[60:68].mean(axis=0)
    dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(centre[0])
    dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(centre[1])
    u = dx * np.float32(across[0]) + dy * np.float32(across[1])
    v = dx * np.float32(down[0]) + dy * np.float32(down[1])
    top = float(((target[[61, 62, 63]] - centre) @ down).mean())
    bottom = float(((target[[65, 66, 67]] - centre) @ down).mean())
    vn = (v - top) / max(bottom - top, 1e-6)
    un = u / max(0.5 * abs(float((target[64] - target[60]) @ across)), 1e-6)
    lips = np.round(target[49:60]).astype(int)
    lips[:, 0] = np.clip(lips[:, 0], 0, image.shape[1] - 1)
    lips[:, 1] = np.clip(lips[:, 1], 0, image.shape[0] - 1)
    lip = np.median(image[lips[:, 1], lips[:, 0]].astype(np.float64), axis=0)
    depth = np.clip(1.0 - un**2, 0.0, 1.0)[..., None]
    colour = lip * 0.22 * (1.0 - depth) + lip * 0.1 * depth
    tongue = 0.4 * _smoothstep(0.65, 1.05, vn) * (1.0 - _smoothstep(0.3, 0.7, np.abs(un)))
    colour += (lip * 0.35 - colour) * tongue[..., None]
    if gap_target > TEETH_MIN_GAP * scale:
        teeth_edge = min(0.4, TEETH_HEIGHT * scale / gap_target)
        teeth = 0.55 * np.array([225.0, 218.0, 205.0]) + 0.45 * lip * 0.5
        show = (1.0 - _smoothstep(teeth_edge * 0.7, teeth_edge, vn)) * (1.0 - _smoothstep(0.55, 0.85, np.abs(un)))
        colour += (teeth - colour) * show[..., None]
    region = image[y0:y1, x0:x1].astype(np.float64)
    blended = region + (colour - region) * alpha[..., None]
    image[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(image.dtype)
