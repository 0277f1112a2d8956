"""Lip-sync quality of one dubbed language, measured on the decoded output video.

- Sync: per speaking face, the Pearson correlation between its mouth opening measured with
  dlib's 68-point landmark model on the output frames and the envelope of the dubbed speech,
  over the frames of its dubbed lines. The same score on the unchanged source video (its
  landmarks from the face analysis) is reported beside it.
- Change outside the mouths: PSNR of output vs source over every pixel outside the union of
  the changed faces' mouth masks, across all frames; per face, the same inside its box.
- Listening faces: PSNR of a face's mouth area while another person speaks and this face
  is not being re-drawn (what remains is the encoder's noise).
Everything streams frame by frame; memory does not grow with the video's length.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from models.audio import read_audio
from models.compositor import LipSyncJob, mouth_mask
from models.data import Dub
from models.faces.dlib_faces import DlibFaceAnalyzer
from models.faces.mouth import mouth_opening, mouth_signal
from models.faces.records import MOUTH, FaceAnalysis, SpeakerFaces, TrackGeometry
from models.lipsync.motion import audio_envelope
from models.lipsync.plan import JOB_SAMPLE_RATE, frame_span, plan_jobs
from models.lipsync.records import FaceSyncScore, LipSyncQuality, LipSyncResult
from models.video_io import read_frames
from polydub.workdir import atomic_path

PEAK = 255.0
PSNR_CAP_DB = 99.0  # identical pixels: reported as 99 dB (JSON has no infinity)


def psnr(squared_error: float, count: int) -> float | None:
    """PSNR (dB) of 8-bit pixels from a sum of squared errors; None when nothing was compared."""
    if count == 0:
        return None
    mse = squared_error / count
    return min(PSNR_CAP_DB, 10.0 * math.log10(PEAK**2 / mse)) if mse > 0 else PSNR_CAP_DB


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of the finite pairs; None when either side is constant or too short."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return None
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def speaker_envelope(dub: Dub, speaker: str, fps: float, frame_count: int) -> np.ndarray:
    """Per-frame envelope of one speaker's dubbed speech laid out at its placed times."""
    track = np.zeros(max(1, round(frame_count / fps * JOB_SAMPLE_RATE)), dtype=np.float32)
    for line in dub.lines:
        if line.speaker != speaker:
            continue
        speech, _ = read_audio(line.audio, sample_rate=JOB_SAMPLE_RATE)
        first = round(line.start * JOB_SAMPLE_RATE)
        speech = speech[: max(0, min(len(track) - first, round(line.duration * JOB_SAMPLE_RATE)))]
        track[first : first + len(speech)] += speech
    return audio_envelope(track, JOB_SAMPLE_RATE, fps, frame_count)


def _line_frames(dub: Dub, speaker: str, fps: float, frame_count: int) -> np.ndarray:
    """Boolean mask of the frames inside one speaker's dubbed lines."""
    inside = np.zeros(frame_count, bool)
    for line in dub.lines:
        if line.speaker == speaker:
            first, last = frame_span(line.start, line.end, fps, frame_count)
            inside[first:last] = True
    return inside


def _mouth_box(landmarks: np.ndarray, shape: tuple[int, int], pad: float = 0.25) -> tuple[slice, slice]:
    mouth = landmarks[MOUTH]
    (left, top), (right, bottom) = mouth.min(axis=0), mouth.max(axis=0)
    margin = pad * (right - left)
    rows = slice(max(0, int(top - margin)), min(shape[0], int(bottom + margin) + 1))
    cols = slice(max(0, int(left - margin)), min(shape[1], int(right + margin) + 1))
    return rows, cols


def save_series(path: Path, series: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write per-face series atomically as one .npz: keys ``<identity>/<name>`` (frame-axis arrays)."""
    arrays = {f"{identity}/{name}": values for identity, named in series.items() for name, values in named.items()}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return Path(path)


def load_series(path: Path | str) -> dict[str, dict[str, np.ndarray]]:
    """Read a file written by ``save_series``: identity -> name -> array."""
    series: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    with np.load(path) as data:
        for key in data.files:
            identity, name = key.rsplit("/", 1)
            series[identity][name] = data[key]
    return dict(series)


def measure_lipsync(
    source: Path,
    output: Path,
    faces: FaceAnalysis,
    mapping: SpeakerFaces,
    dub: Dub,
    result: LipSyncResult,
    series_path: Path | None = None,
) -> LipSyncQuality:
    """The lip-sync measures of one language (see the module docstring).

    With ``series_path``, the per-frame series of each speaking face (``output``: opening
    measured on the output, ``source``: on the source, ``envelope``: dubbed speech,
    ``lines``: inside its lines) are also saved there and named in the result.
    """
    frame_count, fps = faces.frame_count, faces.fps
    speaker_of = {e.identity: e for e in mapping.speakers if e.identity is not None}
    if result.status != "on" or not faces.tracks:
        return LipSyncQuality(status=result.status)
    jobs: list[LipSyncJob] = plan_jobs(dub, faces, mapping)
    job_at: dict[int, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for job in jobs:
        for offset, frame in enumerate(range(job.start_frame, job.end_frame)):
            job_at[frame].append((job.identity, job.landmarks[offset]))
    geometry: dict[str, list[TrackGeometry]] = {i: [t.load_geometry() for t in faces.tracks_of(i)] for i in faces.identities}
    seen: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}  # identity -> frame -> (box, source landmarks)
    for identity, geos in geometry.items():
        seen[identity] = {int(f): (g.boxes[k], g.landmarks[k]) for g in geos for k, f in enumerate(g.frames)}
    speaking = {i: e.speaker for i, e in speaker_of.items()}
    line_frames = {i: _line_frames(dub, s, fps, frame_count) for i, s in speaking.items()}
    any_line = np.zeros(frame_count, bool)
    for line in dub.lines:
        first, last = frame_span(line.start, line.end, fps, frame_count)
        any_line[first:last] = True

    analyzer = DlibFaceAnalyzer()
    measured = {i: np.full(frame_count, np.nan) for i in speaking}
    outside_err, outside_n = 0.0, 0
    box_err: dict[str, float] = defaultdict(float)
    box_n: dict[str, int] = defaultdict(int)
    listen_err: dict[str, float] = defaultdict(float)
    listen_n: dict[str, int] = defaultdict(int)
    frames_measured = 0
    outputs = read_frames(output, faces.width, faces.height)
    for (index, src), (_, out) in zip(read_frames(source, faces.width, faces.height), outputs):
        frames_measured += 1
        diff = src.astype(np.float64) - out.astype(np.float64)
        changed = job_at.get(index, [])
        union = np.zeros(src.shape[:2], bool)
        masks = {}
        for identity, landmarks in changed:
            masks[identity] = mouth_mask(landmarks, src.shape[:2]) > 0
            union |= masks[identity]
        outside_err += float((diff[~union] ** 2).sum())
        outside_n += int((~union).sum()) * 3
        changed_ids = {identity for identity, _ in changed}
        for identity, frames in seen.items():
            if index not in frames:
                continue
            box, landmarks = frames[index]
            left, top, right, bottom = (int(round(v)) for v in box)
            rows, cols = slice(max(0, top), max(0, bottom)), slice(max(0, left), max(0, right))
            keep = ~masks[identity][rows, cols] if identity in masks else np.ones(diff[rows, cols].shape[:2], bool)
            box_err[identity] += float((diff[rows, cols][keep] ** 2).sum())
            box_n[identity] += int(keep.sum()) * 3
            if identity not in changed_ids and any_line[index] and not line_frames.get(identity, np.zeros(frame_count, bool))[index]:
                mouth_rows, mouth_cols = _mouth_box(landmarks, src.shape[:2])
                listen_err[identity] += float((diff[mouth_rows, mouth_cols] ** 2).sum())
                listen_n[identity] += diff[mouth_rows, mouth_cols].size
            if identity in measured and line_frames[identity][index]:
                measured[identity][index] = float(mouth_opening(analyzer.landmarks(out, box)))

    scores = []
    series: dict[str, dict[str, np.ndarray]] = {}
    for identity in faces.identities:
        entry = speaker_of.get(identity)
        sync_output = sync_source = None
        if entry is not None:
            envelope = speaker_envelope(dub, entry.speaker, fps, frame_count)
            frames = line_frames[identity]
            source_signal = np.nanmax([mouth_signal(g, frame_count) for g in geometry[identity]], axis=0)
            sync_output = pearson(measured[identity][frames], envelope[frames])
            sync_source = pearson(source_signal[frames], envelope[frames])
            series[identity] = {"output": measured[identity], "source": source_signal, "envelope": envelope, "lines": frames}
        synced = next((f for f in result.faces if f.identity == identity), None)
        scores.append(
            FaceSyncScore(
                identity=identity,
                speaker=entry.speaker if entry else None,
                confidence=entry.confidence if entry else 0.0,
                frames_changed=synced.frames_changed if synced else 0,
                sync_output=sync_output,
                sync_source=sync_source,
                psnr_outside_mask_db=psnr(box_err[identity], box_n[identity]),
                listening_psnr_db=psnr(listen_err[identity], listen_n[identity]),
            )
        )
    saved = str(save_series(series_path, series)) if series_path is not None and series else None
    return LipSyncQuality(
        status="on", faces=scores, psnr_outside_masks_db=psnr(outside_err, outside_n), frames_measured=frames_measured, series=saved
    )
