"""Face tracks from per-frame detections, and one identity per person across shots.

Inside a shot, ``ShotTracker`` follows faces frame by frame: on a detection frame the
detector's boxes are matched to the running tracks (Hungarian assignment on box IoU);
between detections each track's box is carried by its own landmarks (the box keeps
the offset and size it had, relative to the rigid landmarks — brows, nose, eyes — at
its last detection). A track that misses more than ``max_misses`` detections in a row
ends, losing the frames after its first miss. Tracks never cross a shot boundary.

``link_identities`` then groups tracks of the same person over the whole video by
average-linkage agglomerative clustering of their mean descriptors (euclidean, dlib's
0.6 threshold), never merging two tracks that are on screen at the same time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from models.faces.records import FaceTrack, TrackGeometry
from polydub.workdir import atomic_path

RIGID = slice(17, 48)  # brows, nose and eyes: they do not move when the mouth opens
LINK_THRESHOLD = 0.6  # dlib's usual same-person distance for its 128-d descriptors

Fit = Callable[[np.ndarray], np.ndarray]  # box (4,) -> landmarks (68, 2)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (M, 4) with every box in ``b`` (N, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    height = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _anchor(box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The box relative to the rigid landmarks: (centre offset x, y, width, height) in landmark scales."""
    rigid = landmarks[RIGID]
    centre = rigid.mean(axis=0)
    scale = max(float(np.sqrt(((rigid - centre) ** 2).sum(axis=1).mean())), 1e-6)
    box_centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return np.concatenate([(box_centre - centre) / scale, [(box[2] - box[0]) / scale, (box[3] - box[1]) / scale]])


def _box_from_anchor(anchor: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    rigid = landmarks[RIGID]
    centre = rigid.mean(axis=0)
    scale = float(np.sqrt(((rigid - centre) ** 2).sum(axis=1).mean()))
    cx, cy = centre + anchor[:2] * scale
    half_w, half_h = anchor[2] * scale / 2, anchor[3] * scale / 2
    return np.array([cx - half_w, cy - half_h, cx + half_w, cy + half_h])


@dataclass
class RawTrack:
    """A track being built: per-frame lists plus the bookkeeping of its detections."""

    shot: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)
    detections: int = 0
    reached_shot_end: bool = False
    misses: int = 0
    first_miss: int | None = None
    next_descriptor: int = 0
    descriptor_gap: int = 0
    pending_box: np.ndarray | None = None  # the box to fit on the next frame
    anchor: np.ndarray | None = None

    @property
    def start_frame(self) -> int:
        return self.frames[0]

    @property
    def end_frame(self) -> int:
        return self.frames[-1] + 1

    def truncate(self, end_frame: int) -> None:
        """Drop the frames from ``end_frame`` on."""
        keep = sum(1 for f in self.frames if f < end_frame)
        del self.frames[keep:], self.boxes[keep:], self.landmarks[keep:]

    def geometry(self) -> TrackGeometry:
        return TrackGeometry(
            frames=np.asarray(self.frames, dtype=np.int64),
            boxes=np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4),
            landmarks=np.asarray(self.landmarks, dtype=np.float64).reshape(-1, 68, 2),
        )


class ShotTracker:
    """Follows the faces of one shot; feed it every frame in order with ``step``."""

    def __init__(
        self,
        shot: int,
        width: int,
        height: int,
        iou_threshold: float = 0.3,
        max_misses: int = 1,
        descriptor_gap: int = 25,
        max_descriptors: int = 3,
    ):
        self.shot, self.width, self.height = shot, width, height
        self.iou_threshold, self.max_misses = iou_threshold, max_misses
        self.descriptor_gap, self.max_descriptors = descriptor_gap, max_descriptors
        self.active: list[RawTrack] = []
        self.ended: list[RawTrack] = []
        self._confirmed: set[int] = set()  # ids of tracks confirmed by this frame's detections

    def step(self, frame: int, detections: np.ndarray | None, fit: Fit) -> None:
        """Advance to ``frame``; ``detections`` (M, 4) on a detection frame, else None."""
        self._confirmed = set()
        if detections is not None:
            self._match(frame, np.asarray(detections, dtype=np.float64).reshape(-1, 4))
        for track in list(self.active):
            assert track.pending_box is not None
            landmarks = np.asarray(fit(track.pending_box), dtype=np.float64)
            if id(track) in self._confirmed:
                box = track.pending_box
                track.anchor = _anchor(box, landmarks)
            else:
                assert track.anchor is not None
                box = _box_from_anchor(track.anchor, landmarks)
                centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                if not (0 <= centre_x < self.width and 0 <= centre_y < self.height):
                    self._end(track, frame)
                    continue
            track.frames.append(frame)
            track.boxes.append(box)
            track.landmarks.append(landmarks)
            track.pending_box = box

    def _match(self, frame: int, detections: np.ndarray) -> None:
        boxes = np.stack([t.pending_box for t in self.active]) if self.active else np.zeros((0, 4))
        overlap = iou_matrix(boxes, detections)
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        if overlap.size:
            rows, cols = linear_sum_assignment(-overlap)
            for r, c in zip(rows, cols):
                if overlap[r, c] >= self.iou_threshold:
                    matched_tracks.add(r)
                    matched_dets.add(c)
                    track = self.active[r]
                    track.pending_box = detections[c].copy()
                    track.detections += 1
                    track.misses, track.first_miss = 0, None
                    self._confirmed.add(id(track))
        for r, track in enumerate(list(self.active)):
            if r in matched_tracks:
                continue
            track.misses += 1
            if track.first_miss is None:
                track.first_miss = frame
            if track.misses > self.max_misses:
                self._end(track, track.first_miss)
        for c, box in enumerate(detections):
            if c in matched_dets or (overlap.size and overlap[:, c].max() >= self.iou_threshold):
                continue  # a second box on a face that already has a track
            track = RawTrack(shot=self.shot, detections=1, pending_box=box.copy(), next_descriptor=frame, descriptor_gap=self.descriptor_gap)
            self.active.append(track)
            self._confirmed.add(id(track))

    def _end(self, track: RawTrack, end_frame: int) -> None:
        track.truncate(end_frame)
        self.active.remove(track)
        if track.frames:
            self.ended.append(track)

    def wants_descriptor(self, frame: int) -> list[tuple[RawTrack, np.ndarray]]:
        """Tracks whose identity descriptor should be computed on this (just stepped) frame, with their landmarks.

        Only on frames where a detection confirmed the track; the first at its start,
        then after gaps that double (``descriptor_gap``, 2×, 4× … frames), at most
        ``max_descriptors`` per track.
        """
        due = []
        for track in self.active:
            if id(track) in self._confirmed and len(track.descriptors) < self.max_descriptors and frame >= track.next_descriptor:
                due.append((track, track.landmarks[-1]))
        return due

    @staticmethod
    def add_descriptor(track: RawTrack, frame: int, descriptor: np.ndarray) -> None:
        track.descriptors.append(np.asarray(descriptor, dtype=np.float64))
        track.next_descriptor = frame + track.descriptor_gap
        track.descriptor_gap *= 2

    def finish(self) -> list[RawTrack]:
        """End the shot and return all its tracks; a running track that missed its last detection
        loses the frames after that miss, the others reached the shot's end."""
        for track in self.active:
            if track.first_miss is None:
                track.reached_shot_end = True
            else:
                track.truncate(track.first_miss)
        tracks = self.ended + [t for t in self.active if t.frames]
        self.active, self.ended = [], []
        return sorted(tracks, key=lambda t: (t.start_frame, t.boxes[0][0]))


def is_spurious(track: RawTrack, min_frames: int) -> bool:
    """Short tracks, and tracks seen by a single detection that did not last to the shot's end."""
    return len(track.frames) < min_frames or not track.descriptors or (track.detections < 2 and not track.reached_shot_end)


@dataclass(frozen=True)
class SavedTrack:
    """A finished track whose geometry is on disk: what linking and the FaceTrack record need."""

    track_id: int
    shot: int
    start_frame: int
    end_frame: int
    left: float  # left edge of its first box: ties in order of appearance go left to right
    descriptor: np.ndarray  # mean of its descriptors
    geometry: Path


def save_track(track: RawTrack, track_id: int, out_dir: Path) -> SavedTrack:
    """Write a track's geometry to ``out_dir/tracks/track_NNNN.npz`` (atomically); its per-frame lists can then go."""
    path = (Path(out_dir) / "tracks" / f"track_{track_id:04d}.npz").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        track.geometry().save(tmp)
    return SavedTrack(
        track_id=track_id,
        shot=track.shot,
        start_frame=track.start_frame,
        end_frame=track.end_frame,
        left=float(track.boxes[0][0]),
        descriptor=np.mean(track.descriptors, axis=0),
        geometry=path,
    )


def link_identities(tracks: list[SavedTrack], threshold: float = LINK_THRESHOLD) -> list[str]:
    """The identity (``face_0``, ``face_1`` … in order of first appearance) of every track."""
    if not tracks:
        return []
    dist = cdist(np.stack([t.descriptor for t in tracks]), np.stack([t.descriptor for t in tracks]))
    starts = np.array([t.start_frame for t in tracks])
    ends = np.array([t.end_frame for t in tracks])
    dist[(starts[:, None] < ends[None, :]) & (starts[None, :] < ends[:, None])] = np.inf  # on screen together: two people
    sizes = np.ones(len(tracks))
    labels = np.arange(len(tracks))
    while True:
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        if not dist[i, j] < threshold:
            break
        merged = (sizes[i] * dist[i] + sizes[j] * dist[j]) / (sizes[i] + sizes[j])  # average linkage
        dist[i, :], dist[:, i] = merged, merged
        dist[j, :], dist[:, j] = np.inf, np.inf
        dist[i, i] = np.inf
        sizes[i] += sizes[j]
        labels[labels == j] = i
    first: dict[int, tuple[int, float]] = {}
    for track, label in zip(tracks, labels):
        key = (track.start_frame, track.left)
        first[label] = min(first.get(label, key), key)
    order = {label: rank for rank, label in enumerate(sorted(first, key=first.__getitem__))}
    return [f"face_{order[label]}" for label in labels]


def face_tracks(tracks: list[SavedTrack], identities: list[str]) -> list[FaceTrack]:
    """The records of saved tracks with their identities, in track-id order."""
    return [
        FaceTrack(
            track_id=track.track_id,
            identity=identity,
            shot=track.shot,
            start_frame=track.start_frame,
            end_frame=track.end_frame,
            geometry=str(track.geometry),
            descriptor=[round(float(v), 6) for v in track.descriptor],
        )
        for track, identity in sorted(zip(tracks, identities), key=lambda pair: pair[0].track_id)
    ]
