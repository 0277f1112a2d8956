"""The feathered lower-face mask and the colour matching used when compositing a generated mouth."""

from __future__ import annotations

import cv2
import numpy as np

from models.lipsync.geometry import interocular, lower_face_polygon, polygon_ramp, region_bounds

MASK_FEATHER = 0.2  # feather width, in inter-ocular distances
RING_LEVEL = 0.6  # colour statistics come from the mask's soft edge: 0 < mask < RING_LEVEL
MIN_RING_PIXELS = 30
STD_RATIO_LIMITS = (0.5, 2.0)


def mouth_mask(landmarks: np.ndarray, shape: tuple[int, ...], feather: float = MASK_FEATHER) -> np.ndarray:
    """Float32 mask (h, w) in 0..1 over the lips, chin and jaw of the face with these landmarks.

    The region is bounded by jaw points 2–14 (pushed out, with room below the chin for a
    dropped jaw) and the nose base 31–35, so it holds lips 48–67; it is exactly 0 outside
    and rises smoothly to 1 over ``feather`` inter-ocular distances inside its edge.
    ``shape`` is the image's (h, w[, c]); landmarks are in that image's pixel coordinates.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    height, width = shape[:2]
    mask = np.zeros((height, width), np.float32)
    polygon = lower_face_polygon(points)
    x0, y0, x1, y1 = region_bounds(polygon, (height, width))
    if x1 <= x0 or y1 <= y0:
        return mask
    band = max(feather * interocular(points), 1.0)
    mask[y0:y1, x0:x1] = polygon_ramp(polygon, (y1 - y0, x1 - x0), band, origin=(x0, y0))
    return mask


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def match_colour(generated: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``generated`` with its colours shifted (in Lab) to match ``source`` on the mask's edge.

    Mean and standard deviation of each Lab channel are measured on the ring just inside
    the mask edge (0 < mask < RING_LEVEL), where both images should show the same skin,
    and ``generated`` is mapped so that its ring statistics equal the source's.
    """
    ring = (mask > 0) & (mask < RING_LEVEL)
    if int(ring.sum()) < MIN_RING_PIXELS:
        return generated
    ys, xs = np.nonzero(mask > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    gen_lab, src_lab = _lab(generated[y0:y1, x0:x1]), _lab(source[y0:y1, x0:x1])
    inside = ring[y0:y1, x0:x1]
    gen_px, src_px = gen_lab[inside], src_lab[inside]
    gen_mean, src_mean = gen_px.mean(axis=0), src_px.mean(axis=0)
    ratio = np.clip(src_px.std(axis=0) / np.maximum(gen_px.std(axis=0), 1e-3), *STD_RATIO_LIMITS)
    matched = (gen_lab - gen_mean) * ratio + src_mean
    rgb = cv2.cvtColor(matched.astype(np.float32), cv2.COLOR_Lab2RGB)
    out = np.array(generated, copy=True)
    out[y0:y1, x0:x1] = np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)
    return out


def blend(source: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` where the mask is 0, ``generated`` where it is 1, mixed in between (uint8)."""
    out = np.array(source, copy=True)
    ys, xs = np.nonzero(mask > 0)
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = mask[y0:y1, x0:x1, None]
    src = source[y0:y1, x0:x1].astype(np.float32)
    mixed = src + (generated[y0:y1, x0:x1].astype(np.float32) - src) * alpha
    region = out[y0:y1, x0:x1]
    np.copyto(region, np.clip(np.round(mixed), 0, 255).astype(np.uint8), where=alpha > 0)
    return out
