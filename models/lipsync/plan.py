"""Plan lip-sync work: which face changes, over which frames, driven by which dubbed audio.

A dubbed line is lip-synced only when its speaker was matched to a face. Its frames are
the union of the original line's window (where the source mouth was talking) and the
dubbed line's placement (where the new speech is heard), so the old mouth motion never
shows through; outside the dubbed speech the mouth is driven by silence, i.e. closed.
A line that crosses a shot change is split per face track. Faces that never speak and
speakers never seen get no job at all.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from models.audio import read_audio
from models.compositor import LipSyncJob
from models.data import Dub, DubbedLine
from models.faces.mouth import mouth_opening
from models.faces.records import FaceAnalysis, FaceTrack, SpeakerFaces, TrackGeometry

JOB_SAMPLE_RATE = 16000
EPSILON = 1e-6  # seconds × fps products like 4.4 × 25 = 110.00000000000001 are whole frames


def frame_span(start: float, end: float, fps: float, frame_count: int) -> tuple[int, int]:
    """Frames ``first``…``last - 1`` touching the time span ``start``–``end`` (seconds)."""
    return max(0, math.floor(start * fps + EPSILON)), min(frame_count, math.ceil(end * fps - EPSILON))


def neutral_frame(geometry: TrackGeometry) -> int:
    """Index (into the track's arrays) of its most closed mouth: the reference for re-rendering."""
    opening = mouth_opening(geometry.landmarks)
    return int(np.nanargmin(opening)) if np.isfinite(opening).any() else 0


def line_audio(line: DubbedLine, start: float, end: float, sample_rate: int = JOB_SAMPLE_RATE) -> np.ndarray:
    """The dubbed line's speech on the time span ``start``–``end`` (seconds), silence around it."""
    out = np.zeros(max(0, round((end - start) * sample_rate)), dtype=np.float32)
    speech, _ = read_audio(line.audio, sample_rate=sample_rate)
    offset = round((line.start - start) * sample_rate)
    speech = speech[: max(0, round(line.duration * sample_rate))]
    first, last = max(0, offset), min(len(out), offset + len(speech))
    if last > first:
        out[first:last] = speech[first - offset : last - offset]
    return out


def _job_for_track(line: DubbedLine, track: FaceTrack, geometry: TrackGeometry, first: int, last: int, fps: float, language: str) -> LipSyncJob | None:
    """The part of ``line`` (frames ``first``…``last - 1``) seen in ``track``, or None if none is."""
    frames = np.asarray(geometry.frames)
    inside = (frames >= first) & (frames < last)
    if not inside.any():
        return None
    rows = np.flatnonzero(inside)
    # keep the longest contiguous run of frames where the face was found
    runs = np.split(rows, np.flatnonzero(np.diff(frames[rows]) != 1) + 1)
    rows = max(runs, key=len)
    start_frame, end_frame = int(frames[rows[0]]), int(frames[rows[-1]]) + 1
    reference = neutral_frame(geometry)
    return LipSyncJob(
        identity=track.identity,
        start_frame=start_frame,
        end_frame=end_frame,
        landmarks=geometry.landmarks[rows].astype(np.float64),
        reference_frame=int(frames[reference]),
        reference_landmarks=geometry.landmarks[reference].astype(np.float64),
        audio=line_audio(line, start_frame / fps, end_frame / fps),
        sample_rate=JOB_SAMPLE_RATE,
        text=line.target_text,
        language=language,
        line_index=line.index,
    )


def plan_jobs(dub: Dub, faces: FaceAnalysis, mapping: SpeakerFaces) -> list[LipSyncJob]:
    """One job per (dubbed line of an on-screen speaker, face track it is seen in), in frame order."""
    fps = faces.fps
    geometries: dict[int, TrackGeometry] = {}
    jobs: list[LipSyncJob] = []
    for line in dub.lines:
        identity = mapping.identity_of(line.speaker)
        if identity is None:
            continue
        first, last = frame_span(min(line.window_start, line.start), max(line.window_end, line.end), fps, faces.frame_count)
        for track in faces.tracks_of(identity):
            if track.end_frame <= first or track.start_frame >= last:
                continue
            if track.track_id not in geometries:
                geometries[track.track_id] = track.load_geometry()
            job = _job_for_track(line, track, geometries[track.track_id], first, last, fps, dub.language)
            if job is not None:
                jobs.append(job)
    return _without_overlaps(sorted(jobs, key=lambda j: (j.start_frame, j.identity)))


def _without_overlaps(jobs: list[LipSyncJob]) -> list[LipSyncJob]:
    """Trim the front of a job that overlaps the previous job of the same face (frame rounding, an over-bound line)."""
    last_end: dict[str, int] = {}
    kept: list[LipSyncJob] = []
    for job in jobs:
        cut = last_end.get(job.identity, 0) - job.start_frame
        if cut >= job.end_frame - job.start_frame:
            continue
        if cut > 0:
            samples_per_frame = len(job.audio) / (job.end_frame - job.start_frame)
            job = replace(
                job, start_frame=job.start_frame + cut, landmarks=job.landmarks[cut:], audio=job.audio[round(cut * samples_per_frame) :]
            )
        kept.append(job)
        last_end[job.identity] = job.end_frame
    return kept
