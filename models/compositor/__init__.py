"""Compositor shared by every lip-sync backend: mouth mask, colour matching, streaming render."""

from models.compositor.crops import DEFAULT_CHUNK, plan_chunks
from models.compositor.mask import MASK_FEATHER, blend, match_colour, mouth_mask
from models.compositor.render import LipSyncJob, RenderStats, render_lipsync

__all__ = [
    "DEFAULT_CHUNK",
    "MASK_FEATHER",
    "LipSyncJob",
    "RenderStats",
    "blend",
    "match_colour",
    "mouth_mask",
    "plan_chunks",
    "render_lipsync",
]
