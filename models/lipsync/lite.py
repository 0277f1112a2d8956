"""Lite lip-sync backend (CPU, nothing downloaded): classical landmark-driven mouth re-rendering.

For every crop, the reference crop (the same person with a neutral, closed mouth) is
aligned onto the current crop by a similarity transform fitted on points that do not
move with speech (eye corners, nose), smoothed over time, and its mouth is warped to the
pose that the dubbed speech asks for (``motion.mouth_poses`` on the line's audio and
espeak-ng phonemes of its text). The source mouth is thus replaced, not animated on top
of: whatever it did in the original, the result moves only with the new speech.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from skimage.transform import SimilarityTransform

from models.lipsync import LipSyncClip
from models.lipsync.motion import MouthPose, mouth_poses
from models.lipsync.phonemes import TimedPhoneme, phonemes_for
from models.lipsync.warp import warp_mouth
from polydub.errors import PolydubError

STABLE_POINTS = [27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45]  # nose bridge and base, eye corners
ALIGN_SMOOTH_FRAMES = 1.0  # Gaussian smoothing of the alignment over time (landmark jitter)
VERSION = "warp-1"


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``source`` points
    onto ``target`` points, as a 2x3 matrix."""
    if hasattr(SimilarityTransform, "from_estimate"):  # scikit-image ≥ 0.26
        transform = SimilarityTransform.from_estimate(source, target)
        if not transform:
            raise PolydubError("could not align the reference face (degenerate landmarks)")
        return np.asarray(transform.params[:2], dtype=np.float64)
    transform = SimilarityTransform()
    if not transform.estimate(source, target):
        raise PolydubError("could not align the reference face (degenerate landmarks)")
    return np.asarray(transform.params[:2], dtype=np.float64)


class LiteLipSync:
    """Landmark-driven mouth warp of a neutral reference crop, one crop at a time."""

    name = "lite"
    version = VERSION
    frame_limit = None  # any length; the compositor's default chunk keeps memory bounded
    overlap = 2  # results do not depend on chunking except the alignment smoothing at chunk edges

    def poses(self, clip: LipSyncClip) -> list[MouthPose]:
        """Mouth pose for each crop of ``clip``, computed over the whole line for consistency."""
        audio = clip.audio if clip.line_audio is None else clip.line_audio
        offset = 0 if clip.line_audio is None else clip.line_offset
        frames = clip.line_frames or offset + len(clip.crops)
        phonemes: list[TimedPhoneme] | None = None
        if clip.text.strip() and clip.language:
            phonemes = phonemes_for(clip.text, clip.language, len(audio) / clip.sample_rate) or None
        return mouth_poses(audio, clip.sample_rate, clip.fps, frames, phonemes)[offset : offset + len(clip.crops)]

    def sync(self, clip: LipSyncClip) -> list[np.ndarray]:
        """New crops whose mouths follow ``clip.audio``; same count and shape as ``clip.crops``."""
        if not clip.crops:
            return []
        height, width = clip.crops[0].shape[:2]
        poses = self.poses(clip)
        reference_points = np.asarray(clip.reference_landmarks, dtype=np.float64)
        matrices = np.stack([similarity(reference_points[STABLE_POINTS], lm[STABLE_POINTS]) for lm in np.asarray(clip.landmarks)])
        if len(matrices) > 1:
            matrices = gaussian_filter1d(matrices, ALIGN_SMOOTH_FRAMES, axis=0, mode="nearest")
        out = []
        for matrix, pose in zip(matrices, poses):
            aligned = cv2.warpAffine(clip.reference, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            points = reference_points @ matrix[:, :2].T + matrix[:, 2]
            out.append(warp_mouth(aligned, points, pose))
        return out
