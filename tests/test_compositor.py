"""Compositor and lite lip-sync backend on short videos of a real face photo built in tmp_path."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import soundfile as sf

from models.compositor import LipSyncJob, match_colour, mouth_mask, plan_chunks, render_lipsync
from models.faces.mouth import mouth_opening
from models.ingest import probe
from models.lipsync import LipSyncBackend, LipSyncClip, load_lip_syncer
from models.lipsync.motion import MouthPose, audio_envelope
from models.lipsync.warp import inner_gap, warp_mouth
from models.video_io import FrameWriter, read_frames
from polydub.errors import BackendUnavailableError

dlib = pytest.importorskip("dlib")

FPS = 25.0
SR = 16000
SIZE = 320


@pytest.fixture(scope="module")
def measure():
    """Landmarks (68, 2) of every face, left to right: found by dlib's detector, or placed in
    the given face boxes (a static face keeps its box; detection is the slow part)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition_models
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def landmarks(image: np.ndarray, boxes=None) -> list[np.ndarray]:
        boxes = boxes if boxes is not None else sorted(detector(image, 1), key=lambda box: box.left())
        return [np.array([[p.x, p.y] for p in predictor(image, box).parts()], dtype=np.float64) for box in boxes]

    landmarks.boxes = lambda image: sorted(detector(image, 1), key=lambda box: box.left())
    return landmarks


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[20 : 20 + SIZE, 60 : 60 + SIZE])


def _video(path: Path, frames) -> tuple[Path, list[np.ndarray]]:
    """Encode ``frames`` and return the path with the decoded frames (the true source pixels)."""
    frames = list(frames)
    height, width = frames[0].shape[:2]
    with FrameWriter(path, width, height, FPS) as writer:
        for frame in frames:
            writer.write(frame)
    return path, [frame.copy() for _, frame in read_frames(path, width, height)]


def _syllables(n_frames: int, rate_hz: float, pitch: float = 180.0) -> np.ndarray:
    """A tone switched on and off like syllables (``rate_hz`` per second) over ``n_frames``."""
    t = np.arange(int(round(n_frames / FPS * SR))) / SR
    return (0.3 * np.sin(2 * np.pi * pitch * t) * np.clip(np.sin(2 * np.pi * rate_hz * t), 0, None)).astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    error = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    mse = float(error[where].mean() if where is not None else error.mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def _job(identity, start, end, landmarks, audio, reference_frame=0, text="", language="") -> LipSyncJob:
    return LipSyncJob(identity, start, end, np.repeat(landmarks[None], end - start, 0), reference_frame, landmarks, audio, SR, text, language)


@pytest.fixture(scope="module")
def single(tmp_path_factory, photo, measure):
    """60 frames of one face; its landmarks measured on the decoded first frame."""
    path, frames = _video(tmp_path_factory.mktemp("single") / "source.mp4", [photo] * 60)
    (landmarks,) = measure(frames[0])
    return path, frames, landmarks


class DiscBackend:
    """Fake backend: records its calls and darkens a disc on the mouth, every other chunk."""

    name, version, frame_limit, overlap = "fake", "0", 16, 4

    def __init__(self):
        self.calls: list[tuple[int, int]] = []
        self.references: list[tuple[float, float]] = []  # (reference crop mean, first crop mean) per call

    def sync(self, clip: LipSyncClip) -> list[np.ndarray]:
        factor = 0.3 if len(self.calls) % 2 == 0 else 1.0
        self.calls.append((clip.first_frame, len(clip.crops)))
        if not self.calls[1:]:
            self.references.append((float(clip.reference.mean()), float(clip.crops[0].mean())))
        assert len(clip.audio) == round(len(clip.crops) / clip.fps * clip.sample_rate)
        out = []
        for crop, landmarks in zip(clip.crops, clip.landmarks):
            disc = np.zeros(crop.shape[:2], np.uint8)
            cv2.circle(disc, tuple(int(v) for v in landmarks[48:68].mean(axis=0)), 6, 1, -1)
            darker = crop.copy()
            darker[disc > 0] = np.round(darker[disc > 0] * factor).astype(np.uint8)
            out.append(darker)
        return out


def _disc_mean(frame: np.ndarray, landmarks: np.ndarray) -> float:
    x, y = landmarks[48:68].mean(axis=0).astype(int)
    return float(frame[y - 3 : y + 4, x - 3 : x + 4].mean())


def test_mouth_mask_covers_lips_and_chin_only(single):
    _, frames, landmarks = single
    mask = mouth_mask(landmarks, frames[0].shape)
    assert mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
    assert mask.min() == 0.0 and mask.max() == pytest.approx(1.0)
    for index in list(range(48, 68)) + [8]:  # lips and chin inside, fully
        x, y = np.round(landmarks[index]).astype(int)
        assert mask[y, x] > 0.9
    for index in list(range(36, 48)) + [27, 0, 16]:  # eyes, nose bridge, upper jaw: outside
        x, y = np.round(landmarks[index]).astype(int)
        assert mask[y, x] == 0.0
    soft = (mask > 0) & (mask < 1)
    assert soft.sum() > 0.2 * (mask > 0).sum()  # feathered
    assert (mouth_mask(landmarks, frames[0].shape, feather=0.4) >= 1).sum() < (mask >= 1).sum()


def test_colour_matching_undoes_a_colour_cast(single):
    _, frames, landmarks = single
    source = frames[0]
    mask = mouth_mask(landmarks, source.shape)
    cast = np.clip(source.astype(np.float32) * [1.15, 0.9, 0.8] + [10, 0, -5], 0, 255).astype(np.uint8)
    matched = match_colour(cast, source, mask)
    inside = mask > 0.5
    assert np.abs(matched[inside].astype(float) - source[inside]).mean() < 0.35 * np.abs(cast[inside].astype(float) - source[inside]).mean()
    assert np.array_equal(match_colour(cast, source, np.zeros_like(mask)), cast)


def test_plan_chunks_cover_with_overlap():
    assert plan_chunks(10, 50, 16, 4) == [(10, 26), (22, 38), (34, 50)]
    assert plan_chunks(0, 10, 50, 4) == [(0, 10)]
    assert plan_chunks(0, 17, 16, 0) == [(0, 16), (16, 17)]
    chunks = plan_chunks(3, 200, 9, 20)  # overlap clamped below the limit
    assert all(b - a <= 9 for a, b in chunks) and chunks[0][0] == 3 and chunks[-1][1] == 200


def test_lite_render_moves_the_mouth_with_the_audio_only(single, measure, tmp_path):
    source, frames, landmarks = single
    audio = _syllables(40, 2.2)
    track = tmp_path / "dub.wav"
    sf.write(track, np.concatenate([np.zeros(int(0.4 * SR)), audio, np.zeros(int(0.4 * SR))]), SR)
    job = _job("face_0", 10, 50, landmarks, audio, text="Bob moves the blue boat", language="en")
    out = tmp_path / "out.mp4"
    stats = render_lipsync(source, out, track, SIZE, SIZE, FPS, [job], load_lip_syncer("lite"))
    info = probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (SIZE, SIZE, FPS, True)
    rendered = [frame.copy() for _, frame in read_frames(out, SIZE, SIZE)]
    assert len(rendered) == stats.frames_total == 60 and stats.frames_changed == {"face_0": 40}
    assert min(_psnr(rendered[i], frames[i]) for i in [*range(10), *range(50, 60)]) >= 40.0
    outside = mouth_mask(landmarks, frames[0].shape) == 0
    assert min(_psnr(rendered[i], frames[i], outside) for i in range(10, 50)) >= 40.0
    boxes = measure.boxes(frames[0])
    opening = np.array([mouth_opening(measure(rendered[i], boxes)[0]) for i in range(10, 50)])
    assert np.corrcoef(opening, audio_envelope(audio, SR, FPS, 40))[0, 1] >= 0.5


def test_chunks_are_bounded_and_cross_faded(single, tmp_path):
    source, frames, landmarks = single
    backend = DiscBackend()
    stats = render_lipsync(source, tmp_path / "out.mp4", None, SIZE, SIZE, FPS, [_job("face_0", 10, 50, landmarks, _syllables(40, 2.0))], backend)
    assert backend.calls == [(10, 16), (22, 16), (34, 16)]
    assert stats.peak_frames_held <= 16
    rendered = [frame.copy() for _, frame in read_frames(tmp_path / "out.mp4", SIZE, SIZE)]
    level = np.array([_disc_mean(frame, landmarks) for frame in rendered])
    dark, bright = level[12:20].mean(), level[27:33].mean()
    assert dark < 0.5 * bright and abs(level[5] - bright) < 6  # chunk 0 darkened, chunk 1 as the source
    assert np.all(np.diff(level[21:27]) > 0) and np.all(np.diff(level[33:39]) < 0)  # ramps across overlaps
    assert abs(level[40:50].mean() - dark) < 6


def test_memory_does_not_grow_with_job_length(photo, measure, tmp_path):
    source, frames = _video(tmp_path / "long.mp4", [photo] * 240)
    (landmarks,) = measure(frames[0])
    stats = render_lipsync(source, tmp_path / "out.mp4", None, SIZE, SIZE, FPS, [_job("face_0", 10, 230, landmarks, _syllables(220, 2.0))], DiscBackend())
    assert stats.frames_total == 240 and stats.frames_changed == {"face_0": 220}
    assert stats.peak_frames_held <= 16


def test_reference_after_the_job_is_fetched_first(photo, measure, tmp_path):
    ramp = [np.clip(photo.astype(np.int16) + 2 * i - 40, 0, 255).astype(np.uint8) for i in range(40)]
    source, frames = _video(tmp_path / "ramp.mp4", ramp)
    (landmarks,) = measure(frames[0])
    backend = DiscBackend()
    job = _job("face_0", 5, 20, landmarks, _syllables(15, 2.0), reference_frame=35)
    render_lipsync(source, tmp_path / "out.mp4", None, SIZE, SIZE, FPS, [job], backend)
    # frames brighten by 2 levels each: the reference crop is frame 35's, 30 frames after frame 5
    reference, first = backend.references[0]
    assert 45 < reference - first < 65
    assert len(set(backend.references)) == 1


def test_two_faces_speaking_at_overlapping_times(photo, measure, tmp_path):
    source, frames = _video(tmp_path / "pair.mp4", [np.concatenate([photo, photo], axis=1)] * 60)
    left, right = measure(frames[0])
    audio_a, audio_b = _syllables(40, 2.2), _syllables(30, 3.1, pitch=140.0)
    jobs = [_job("face_0", 10, 50, left, audio_a), _job("face_1", 30, 60, right, audio_b)]
    stats = render_lipsync(source, tmp_path / "out.mp4", None, 2 * SIZE, SIZE, FPS, jobs, load_lip_syncer("lite"))
    assert stats.frames_changed == {"face_0": 40, "face_1": 30}
    rendered = [frame.copy() for _, frame in read_frames(tmp_path / "out.mp4", 2 * SIZE, SIZE)]
    boxes = measure.boxes(frames[0])
    faces = [measure(rendered[i], boxes) for i in range(10, 60)]
    opening_a = np.array([mouth_opening(f[0]) for f in faces[:40]])
    opening_b = np.array([mouth_opening(f[1]) for f in faces[20:]])
    assert np.corrcoef(opening_a, audio_envelope(audio_a, SR, FPS, 40))[0, 1] >= 0.5
    assert np.corrcoef(opening_b, audio_envelope(audio_b, SR, FPS, 30))[0, 1] >= 0.5
    right_mask = mouth_mask(right, frames[0].shape) > 0
    assert min(_psnr(rendered[i], frames[i], right_mask) for i in range(10, 30)) >= 40.0  # the listener is untouched
    left_mask = mouth_mask(left, frames[0].shape) > 0
    # after its line the face is the source again (a P-frame encode of it: a little under the I-frame's quality)
    assert min(_psnr(rendered[i], frames[i], left_mask) for i in range(50, 60)) >= 38.0
    union = ~(left_mask | right_mask)
    assert min(_psnr(rendered[i], frames[i], union) for i in range(60)) >= 40.0


def test_lite_replaces_the_source_mouth_motion(photo, measure):
    (landmarks,) = measure(photo)
    talking = warp_mouth(photo, landmarks, MouthPose(0.9, 0.0))
    shift = np.float64([[1, 0, 6], [0, 1, -4]])
    crops = [cv2.warpAffine(talking, shift, (SIZE, SIZE), borderMode=cv2.BORDER_REPLICATE)] * 3
    moved = landmarks + [6, -4]
    clip = LipSyncClip("face_0", 0, crops, np.stack([moved] * 3), photo, landmarks, np.zeros(int(3 / FPS * SR), np.float32), SR, FPS)
    backend = load_lip_syncer("lite")
    assert isinstance(backend, LipSyncBackend)
    out = backend.sync(clip)
    assert len(out) == 3 and all(o.shape == crops[0].shape and o.dtype == np.uint8 for o in out)
    (measured,) = measure(out[0])
    assert inner_gap(measured) < inner_gap(landmarks) + 2.0  # silent speech: the source's open mouth is gone
    assert np.abs(measured[36:48] - moved[36:48]).mean() < 2.0  # aligned onto the current crop


def test_unknown_backend_is_refused():
    with pytest.raises(BackendUnavailableError, match="lite"):
        load_lip_syncer("nope")
