"""Compositor shared by every lip-sync backend: mouth mask, colour matching, streaming render."""

from models.compositor.crops import DEFAULT_CHUNK, plan_chunks
from models.compositor.mask import MASK_FEATHER, blend, match_colour, mouth_mask
from models.compositor.render import LipSyncJob, RenderStats, VoicedSpan, render_lipsync, voices_lines

__all__ = [
    "DEFAULT_CHUNK",
    "MASK_FEATHER",
    "LipSyncJob",
    "RenderStats",
    "VoicedSpan",
    "blend",
    "match_colour",
    "mouth_mask",
    "plan_chunks",
    "render_lipsync",
    "voices_lines",
]
