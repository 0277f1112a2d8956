"""Streaming lip-sync render: decode → cut face crops → backend in chunks → composite → encode.

Frames are read one at a time and written in order. A frame waits in a queue only until
every job covering it has its chunk computed (and, in a chunk overlap, the next chunk
too), so memory is bounded by the chunk size and the number of simultaneous speakers,
never by the length of the video. Frames outside every job pass through untouched.

Reference (neutral) frames: a reference that comes before the end of its job's first
chunk is cut during the main pass, as it streams by. Only references later than that
need a short first pass, which decodes the video up to the last of them and keeps just
their crops.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from models.compositor.crops import (
    DEFAULT_CHUNK,
    crop_geometry,
    cut_crop,
    fill_missing,
    paste_crop,
    plan_chunks,
    reference_corner,
)
from models.compositor.mask import blend, match_colour, mouth_mask
from models.lipsync import LipSyncBackend, LipSyncClip
from models.video_io import FrameWriter, read_frames
from polydub.errors import InputError, PolydubError
from polydub.workdir import atomic_path


@dataclass
class LipSyncJob:
    """One line of one on-screen speaker: frames ``start_frame`` … ``end_frame - 1``.

    ``landmarks`` (N, 68, 2) are in frame pixels, one row per frame of the job;
    ``reference_frame`` is a neutral, mouth-closed frame of the same person (any index in
    the video) with its landmarks. ``audio`` (mono float32) is the dubbed speech over
    exactly the job's frames.
    """

    identity: str
    start_frame: int
    end_frame: int
    landmarks: np.ndarray
    reference_frame: int
    reference_landmarks: np.ndarray
    audio: np.ndarray
    sample_rate: int
    text: str = ""
    language: str = ""
    line_index: int = -1  # the dubbed line this job re-draws (-1: not tied to a line)


@dataclass
class VoicedSpan:
    """A backend's own voicing of one job (native mode): mono audio over frames ``start_frame`` … ``end_frame - 1``."""

    identity: str
    line_index: int
    start_frame: int
    end_frame: int
    audio: np.ndarray
    sample_rate: int


@dataclass
class RenderStats:
    """What a render did: frames written, frames changed per identity, wall time and speed."""

    frames_total: int = 0
    frames_changed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    fps: float = 0.0
    peak_frames_held: int = 0  # most decoded frames waiting at once: bounded by the chunk size
    voiced: list[VoicedSpan] = field(default_factory=list)  # backends that voice the lines themselves (LTX native)


class _JobRun:
    """The state of one job while the video streams by."""

    def __init__(self, job: LipSyncJob, limit: int, overlap: int, fps: float):
        count = job.end_frame - job.start_frame
        if count <= 0:
            raise InputError(f"lip-sync job for {job.identity} has no frames")
        landmarks = np.asarray(job.landmarks, dtype=np.float64)
        if landmarks.shape != (count, 68, 2):
            raise InputError(f"lip-sync job for {job.identity}: {landmarks.shape[0]} landmark rows for {count} frames")
        try:
            landmarks = fill_missing(landmarks)
        except ValueError as exc:
            raise InputError(f"lip-sync job for {job.identity}: {exc}") from exc
        self.job, self.fps, self.landmarks = job, fps, landmarks
        self.side, self.corners = crop_geometry(landmarks)
        self.chunks = plan_chunks(job.start_frame, job.end_frame, limit, overlap)
        self.next_chunk = 0
        self.crops: dict[int, np.ndarray] = {}  # frame → input crop, for chunks not yet run
        self.results: dict[int, list[tuple[float, np.ndarray]]] = {}  # frame → weighted output crops
        self.reference: Optional[np.ndarray] = None
        self.reference_corner = reference_corner(job.reference_landmarks, self.side)
        self.voiced = np.zeros(_sample(count, job.sample_rate, fps), np.float64)  # weighted sum of chunk voicings
        self.voiced_weight = np.zeros_like(self.voiced)

    def covers(self, index: int) -> bool:
        return self.job.start_frame <= index < self.job.end_frame

    @property
    def first_chunk_end(self) -> int:
        return self.chunks[0][1]

    @property
    def done_until(self) -> int:
        """Frames before this index have every chunk result they will get."""
        if self.next_chunk >= len(self.chunks):
            return self.job.end_frame
        return self.chunks[self.next_chunk][0]

    def corner(self, index: int) -> np.ndarray:
        return self.corners[index - self.job.start_frame]

    def crop_landmarks(self, index: int) -> np.ndarray:
        return self.landmarks[index - self.job.start_frame] - self.corner(index)

    def take_reference(self, frame: np.ndarray) -> None:
        self.reference = cut_crop(frame, self.reference_corner, self.side)

    def add(self, index: int, frame: np.ndarray) -> None:
        self.crops[index] = cut_crop(frame, self.corner(index), self.side)

    def ready(self, decoded: int) -> bool:
        """Whether the next chunk's frames have all been decoded (``decoded`` frames so far)."""
        return self.next_chunk < len(self.chunks) and self.chunks[self.next_chunk][1] <= decoded

    def truncate(self, decoded: int) -> None:
        """The video ended early: cut the remaining chunks at the last decoded frame."""
        kept = [(a, min(b, decoded)) for a, b in self.chunks[self.next_chunk :] if a < decoded]
        self.chunks = self.chunks[: self.next_chunk] + kept

    def run_chunk(self, backend: LipSyncBackend) -> None:
        a, b = self.chunks[self.next_chunk]
        job, start = self.job, self.job.start_frame
        if self.reference is None:
            raise PolydubError(f"reference frame {job.reference_frame} of {job.identity} was not decoded")
        clip = LipSyncClip(
            identity=job.identity,
            first_frame=a,
            crops=[self.crops[i] for i in range(a, b)],
            landmarks=np.stack([self.crop_landmarks(i) for i in range(a, b)]),
            reference=self.reference,
            reference_landmarks=np.asarray(job.reference_landmarks, dtype=np.float64) - self.reference_corner,
            audio=_audio_slice(job.audio, job.sample_rate, self.fps, a - start, b - start),
            sample_rate=job.sample_rate,
            fps=self.fps,
            text=job.text,
            language=job.language,
            line_audio=np.asarray(job.audio, dtype=np.float32),
            line_offset=a - start,
            line_frames=job.end_frame - start,
        )
        if voices_lines(backend):
            outputs, voicing = backend.sync_native(clip)
        else:
            outputs, voicing = backend.sync(clip), None
        if len(outputs) != b - a or any(o.shape != clip.crops[0].shape for o in outputs):
            raise PolydubError(f"lip-sync backend {backend.name} returned {len(outputs)} crops for {b - a}")
        previous = self.chunks[self.next_chunk - 1] if self.next_chunk > 0 else None
        following = self.chunks[self.next_chunk + 1] if self.next_chunk + 1 < len(self.chunks) else None
        for index, crop in zip(range(a, b), outputs):
            weight = _crossfade_weight(index, (a, b), previous, following)
            self.results.setdefault(index, []).append((weight, crop))
            if voicing is not None:  # the chunk's voicing, cross-faded with the same weights as its pictures
                lo, hi = _sample(index - a, job.sample_rate, self.fps), _sample(index - a + 1, job.sample_rate, self.fps)
                at = _sample(index - start, job.sample_rate, self.fps)
                part = np.asarray(voicing[lo:hi], dtype=np.float64)
                self.voiced[at : at + len(part)] += weight * part
                self.voiced_weight[at : at + len(part)] += weight
        self.next_chunk += 1
        keep_from = self.done_until
        for index in [i for i in self.crops if i < keep_from]:
            del self.crops[index]

    def voicing(self) -> Optional[VoicedSpan]:
        """The backend's own voicing of this job, if it made one (frames without any stay silent)."""
        if not self.voiced_weight.any():
            return None
        audio = np.where(self.voiced_weight > 0, self.voiced / np.maximum(self.voiced_weight, 1e-9), 0.0)
        job = self.job
        return VoicedSpan(job.identity, job.line_index, job.start_frame, job.end_frame, audio.astype(np.float32), job.sample_rate)

    def composite(self, index: int, frame: np.ndarray) -> None:
        """Blend this job's result for frame ``index`` into ``frame`` (in place)."""
        parts = self.results.pop(index)
        if len(parts) == 1:
            generated = parts[0][1]
        else:
            total = sum(weight for weight, _ in parts)
            mixed = sum(weight * crop.astype(np.float32) for weight, crop in parts) / max(total, 1e-9)
            generated = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
        corner = self.corner(index)
        source = cut_crop(frame, corner, self.side)
        mask = mouth_mask(self.crop_landmarks(index), source.shape)
        paste_crop(frame, blend(source, match_colour(generated, source, mask), mask), corner)


def _crossfade_weight(index: int, chunk: tuple[int, int], previous: Optional[tuple[int, int]], following: Optional[tuple[int, int]]) -> float:
    """Weight of ``chunk``'s output at ``index``: it ramps in over the frames shared with the
    previous chunk and out over those shared with the following one, so that the weights
    of two chunks sharing a frame sum to 1."""
    weight = 1.0
    if previous is not None and index < previous[1]:  # shared frames: chunk[0] … previous[1] - 1
        weight *= (index - chunk[0] + 1) / (previous[1] - chunk[0] + 1)
    if following is not None and index >= following[0]:  # shared frames: following[0] … chunk[1] - 1
        weight *= 1.0 - (index - following[0] + 1) / (chunk[1] - following[0] + 1)
    return weight


def voices_lines(backend: LipSyncBackend) -> bool:
    """Whether ``backend`` voices each line itself (``sync_native`` → crops and audio) instead of following ours."""
    return bool(getattr(backend, "voices_lines", False))


def _sample(frame: int, sample_rate: int, fps: float) -> int:
    """Index of the first audio sample of frame ``frame``."""
    return int(round(frame * sample_rate / fps))


def _audio_slice(audio: np.ndarray, sample_rate: int, fps: float, first: int, last: int) -> np.ndarray:
    """Samples of frames ``first`` … ``last - 1`` (relative to the start of ``audio``), zero-padded."""
    a, b = int(round(first * sample_rate / fps)), int(round(last * sample_rate / fps))
    samples = np.asarray(audio, dtype=np.float32)[a:b]
    if len(samples) < b - a:
        samples = np.concatenate([samples, np.zeros(b - a - len(samples), np.float32)])
    return samples


def _reference_prepass(source: Path, width: int, height: int, runs: list[_JobRun]) -> None:
    """Decode the start of the video once to cut the references the main pass would see too late."""
    late = [run for run in runs if run.job.reference_frame >= run.first_chunk_end]
    if not late:
        return
    last = max(run.job.reference_frame for run in late)
    for index, frame in read_frames(source, width, height):
        for run in late:
            if run.job.reference_frame == index:
                run.take_reference(frame)
        if index >= last:
            break


def render_lipsync(
    source: Path,
    out: Path,
    audio: Path | None,
    width: int,
    height: int,
    fps: float,
    jobs: list[LipSyncJob],
    backend: LipSyncBackend,
    progress: Callable[[int, int], None] | None = None,
    total_frames: int = 0,
) -> RenderStats:
    """Write ``out``: ``source``'s picture with each job's mouth re-rendered by ``backend``.

    Output has the source's size and frame rate (H.264) and ``audio`` as its sound track
    (none if ``None``). Long jobs go to the backend in chunks of at most
    ``backend.frame_limit`` frames (``DEFAULT_CHUNK`` if it sets none) sharing
    ``backend.overlap`` cross-faded frames; each result is colour-matched and blended
    back through ``mouth_mask``. ``progress(frames_written, total_frames)`` is called per
    frame (``total_frames`` is the caller's count, 0 if unknown). ``out`` appears atomically.
    """
    started = time.perf_counter()
    limit = int(backend.frame_limit or DEFAULT_CHUNK)
    runs = [_JobRun(job, limit, int(backend.overlap), fps) for job in jobs]
    _reference_prepass(Path(source), width, height, runs)
    stats = RenderStats(frames_changed={job.identity: 0 for job in jobs})
    pending: deque[tuple[int, np.ndarray]] = deque()

    def flush(writer: FrameWriter, final: bool) -> None:
        while pending and (final or all(not run.covers(pending[0][0]) or pending[0][0] < run.done_until for run in runs)):
            index, frame = pending.popleft()
            active = [run for run in runs if run.covers(index) and index in run.results]
            if active:
                frame = np.array(frame, copy=True)
                for run in active:
                    run.composite(index, frame)
                for identity in {run.job.identity for run in active}:
                    stats.frames_changed[identity] += 1
            writer.write(frame)
            stats.frames_total += 1
            if progress is not None:
                progress(stats.frames_total, total_frames)

    decoded = 0
    with atomic_path(out) as tmp:
        with FrameWriter(tmp, width, height, fps, audio=audio) as writer:
            for index, frame in read_frames(source, width, height):
                decoded = index + 1
                for run in runs:
                    if run.reference is None and run.job.reference_frame == index:
                        run.take_reference(frame)
                    if run.covers(index):
                        run.add(index, frame)
                    while run.ready(decoded):
                        run.run_chunk(backend)
                pending.append((index, frame))
                stats.peak_frames_held = max(stats.peak_frames_held, len(pending))
                flush(writer, final=False)
            for run in runs:
                run.truncate(decoded)
                while run.ready(decoded):
                    run.run_chunk(backend)
            flush(writer, final=True)
    stats.voiced = [span for span in (run.voicing() for run in runs) if span is not None]
    stats.seconds = time.perf_counter() - started
    stats.fps = stats.frames_total / stats.seconds if stats.seconds > 0 else 0.0
    return stats
