"""Typed results of the lip-sync stage and of its quality measures."""

from __future__ import annotations

from typing import Optional

from models.record import Record


class FaceSync(Record):
    """What lip sync did to one person's face in one language."""

    identity: str
    speaker: Optional[str] = None  # the diarized speaker matched to this face; None: never speaks
    confidence: float = 0.0
    lines: list[int] = []  # indices of the dubbed lines re-drawn on this face
    frames_changed: int = 0


class VoicedLine(Record):
    """A dubbed line as the lip-sync model voiced it (LTX native mode): it replaces the synthesized line."""

    index: int  # the dubbed line's index
    start: float  # seconds: where the audio sits in the video
    end: float
    audio: str  # WAV (mono) in the lip-sync stage folder


class LipSyncResult(Record):
    """The picture with re-drawn mouths (or the reason nothing was re-drawn)."""

    backend: str
    status: str  # "on", or why it is off: "no faces", "no on-screen speaker"
    video: Optional[str] = None  # H.264 picture at the source's size and rate; None: the source picture is used
    faces: list[FaceSync] = []
    frames_total: int = 0
    seconds: float = 0.0
    voiced_lines: list[VoicedLine] = []  # native mode: the model's voicing of each re-drawn line


class FaceSyncScore(Record):
    """Lip-sync measures of one face in one language (DESIGN.md section 6)."""

    identity: str
    speaker: Optional[str] = None
    confidence: float = 0.0
    frames_changed: int = 0
    sync_output: Optional[float] = None  # Pearson: mouth opening on the output vs the dubbed-audio envelope
    sync_source: Optional[float] = None  # the same on the unchanged source video, for comparison
    psnr_outside_mask_db: Optional[float] = None  # change of this face's box outside its mouth mask
    listening_psnr_db: Optional[float] = None  # its mouth area while others speak and it is not re-drawn


class LipSyncQuality(Record):
    """Lip-sync measures of one language: per face, and outside every mouth mask."""

    status: str
    faces: list[FaceSyncScore] = []
    psnr_outside_masks_db: Optional[float] = None  # whole frames, outside the union of mouth masks
    frames_measured: int = 0
    series: Optional[str] = None  # .npz of the per-frame series behind the sync scores (see score.save_series)
