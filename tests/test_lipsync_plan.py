"""Planning lip-sync jobs: which face changes, over which frames, with which audio."""

from __future__ import annotations

import numpy as np
import pytest

from models.audio import write_wav
from models.data import Dub, DubbedLine
from models.faces.records import FaceAnalysis, FaceTrack, Shot, SpeakerFace, SpeakerFaces, TrackGeometry
from models.lipsync.plan import JOB_SAMPLE_RATE, plan_jobs

FPS = 25.0


def _neutral_landmarks(x: float) -> np.ndarray:
    """A crude 68-point face centred at ``x``: eyes 40 px apart, lips closed."""
    points = np.zeros((68, 2))
    points[:, 0], points[:, 1] = x, 100.0
    points[36:42] = (x - 20, 80)
    points[42:48] = (x + 20, 80)
    points[48:68, 0] = x + np.linspace(-15, 15, 20)
    points[48:68, 1] = 120
    return points


def _track(tmp_path, track_id: int, identity: str, shot: int, frames: range, x: float, open_at: int | None = None) -> FaceTrack:
    landmarks = np.stack([_neutral_landmarks(x)] * len(frames))
    landmarks[:, 65:68, 1] += 6  # lips a little apart everywhere…
    if open_at is not None:
        landmarks[open_at - frames.start, 65:68, 1] -= 6  # …except one frame: the most closed mouth
    boxes = np.tile([x - 40, 40, x + 40, 160], (len(frames), 1)).astype(float)
    path = TrackGeometry(frames=np.array(frames), boxes=boxes, landmarks=landmarks).save(tmp_path / f"t{track_id}.npz")
    return FaceTrack(track_id=track_id, identity=identity, shot=shot, start_frame=frames.start, end_frame=frames.stop, geometry=str(path))


def _line(tmp_path, index: int, speaker: str, start: float, end: float, window: tuple[float, float]) -> DubbedLine:
    t = np.arange(round((end - start) * JOB_SAMPLE_RATE)) / JOB_SAMPLE_RATE
    audio = write_wav(tmp_path / f"line{index}.wav", 0.3 * np.sin(2 * np.pi * 200 * t), JOB_SAMPLE_RATE)
    return DubbedLine(
        index=index, speaker=speaker, source_text="x", target_text=f"hola {index}", window_start=window[0], window_end=window[1],
        audio=str(audio), natural_duration=end - start, speed=1.0, start=start, end=end,
    )  # fmt: skip


@pytest.fixture
def scene(tmp_path):
    """Two shots (cut at frame 100); face_0 = speaker A, face_1 = speaker B, C is a narrator."""
    tracks = [
        _track(tmp_path, 0, "face_0", 0, range(0, 100), 100, open_at=10),
        _track(tmp_path, 1, "face_1", 0, range(0, 100), 300),
        _track(tmp_path, 2, "face_0", 1, range(100, 200), 300, open_at=150),
        _track(tmp_path, 3, "face_1", 1, range(100, 200), 100),
    ]
    faces = FaceAnalysis(
        backend="test", fps=FPS, width=400, height=200, frame_count=200,
        shots=[Shot(index=0, start_frame=0, end_frame=100), Shot(index=1, start_frame=100, end_frame=200)], tracks=tracks,
    )  # fmt: skip
    mapping = SpeakerFaces(
        speakers=[SpeakerFace(speaker="A", identity="face_0", confidence=0.9), SpeakerFace(speaker="B", identity="face_1", confidence=0.9),
                  SpeakerFace(speaker="C", identity=None)],
    )  # fmt: skip
    return faces, mapping


def test_only_on_screen_speakers_get_jobs(tmp_path, scene):
    faces, mapping = scene
    dub = Dub(language="es", lines=[_line(tmp_path, 0, "C", 0.2, 1.0, (0.2, 1.0)), _line(tmp_path, 1, "B", 1.2, 2.0, (1.2, 2.0))])
    jobs = plan_jobs(dub, faces, mapping)
    assert [(j.identity, j.start_frame, j.end_frame) for j in jobs] == [("face_1", 30, 50)]
    job = jobs[0]
    assert job.text == "hola 1" and job.language == "es"
    assert job.landmarks.shape == (20, 68, 2)
    assert len(job.audio) == round(20 / FPS * JOB_SAMPLE_RATE)


def test_a_job_covers_the_original_window_and_the_dubbed_speech(tmp_path, scene):
    faces, mapping = scene
    # the dub is shorter than the original line: the job still covers the original window (the old mouth must close)
    dub = Dub(language="es", lines=[_line(tmp_path, 0, "A", 1.0, 1.6, (1.0, 2.4))])
    (job,) = plan_jobs(dub, faces, mapping)
    assert (job.start_frame, job.end_frame) == (25, 60)
    speech_frames = round(0.6 * JOB_SAMPLE_RATE)
    assert np.abs(job.audio[:speech_frames]).max() > 0.2 and np.abs(job.audio[speech_frames + 10 :]).max() == 0.0
    assert job.reference_frame == 10  # the most closed mouth of the track is the reference


def test_a_line_across_the_cut_is_split_per_track(tmp_path, scene):
    faces, mapping = scene
    dub = Dub(language="es", lines=[_line(tmp_path, 0, "A", 3.6, 4.4, (3.6, 4.4))])
    jobs = plan_jobs(dub, faces, mapping)
    assert [(j.identity, j.start_frame, j.end_frame) for j in jobs] == [("face_0", 90, 100), ("face_0", 100, 110)]
    assert jobs[0].landmarks[0, 48, 0] == pytest.approx(85) and jobs[1].landmarks[0, 48, 0] == pytest.approx(285)
    assert jobs[1].reference_frame == 150  # each shot's own neutral frame


def test_neighbouring_jobs_of_one_face_never_overlap(tmp_path, scene):
    faces, mapping = scene
    lines = [_line(tmp_path, 0, "A", 0.4, 1.01, (0.4, 1.01)), _line(tmp_path, 1, "A", 1.0, 1.6, (1.0, 1.6))]
    jobs = plan_jobs(Dub(language="es", lines=lines), faces, mapping)
    assert [(j.start_frame, j.end_frame) for j in jobs] == [(10, 26), (26, 40)]
    assert len(jobs[1].landmarks) == 14 and len(jobs[1].audio) == round(14 / FPS * JOB_SAMPLE_RATE)
