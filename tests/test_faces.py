"""Face analysis (lite dlib backend) on the sample interview, and its building blocks."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.active_speaker import match_speakers
from models.data import Diarization, SpeakerTurn
from models.faces import BACKENDS, FaceAnalyzer, load_face_analyzer
from models.faces.mouth import mouth_opening, mouth_signal
from models.faces.records import MOUTH, FaceAnalysis
from models.faces.shots import shots_from_cuts
from models.faces.tracking import RawTrack, SavedTrack, ShotTracker, is_spurious, link_identities
from polydub.errors import BackendUnavailableError

STATIC_MOUTH_STD = 1e-3  # below this, an identity's mouth never moves (the sample before it was animated)


@pytest.fixture(scope="module")
def truth(sample) -> dict:
    return json.loads(sample.script.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def analysed(sample, tmp_path_factory):
    """The sample analysed once: (analysis, out_dir, seconds, progress calls)."""
    out_dir = tmp_path_factory.mktemp("faces")
    calls: list[tuple[int, int]] = []
    analyzer = load_face_analyzer("dlib")
    started = time.perf_counter()
    analysis = analyzer.analyze(sample.video, out_dir, progress=lambda done, total: calls.append((done, total)))
    seconds = time.perf_counter() - started
    print(f"\nface analysis of the sample: {seconds:.1f} s for {analysis.frame_count} frames", file=sys.stderr)
    return analysis, out_dir, seconds, calls


@pytest.fixture(scope="module")
def analysis(analysed) -> FaceAnalysis:
    return analysed[0]


def _overlap_fraction(boxes: np.ndarray, box: list[float]) -> np.ndarray:
    """Fraction of each box's area that lies inside ``box``."""
    left = np.maximum(boxes[:, 0], box[0])
    top = np.maximum(boxes[:, 1], box[1])
    right = np.minimum(boxes[:, 2], box[2])
    bottom = np.minimum(boxes[:, 3], box[3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    return inter / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))


def _speaker_of_identity(analysis: FaceAnalysis, truth: dict, identity: str) -> dict[int, set[str]]:
    """Per shot, the script speakers whose face box holds (≥ 80 % of) every box of this identity."""
    found: dict[int, set[str]] = {}
    for track in analysis.tracks_of(identity):
        boxes = track.load_geometry().boxes
        faces = truth["shots"][track.shot]["faces"]
        found.setdefault(track.shot, set()).update(s for s, box in faces.items() if _overlap_fraction(boxes, box).min() >= 0.8)
    return found


# --- the sample ---------------------------------------------------------------------------------


def test_analyzer_follows_the_interface(analysis, analysed):
    assert isinstance(load_face_analyzer(), FaceAnalyzer)
    assert analysis.backend == "dlib"
    assert (analysis.width, analysis.height, analysis.fps) == (640, 360, 25.0)
    restored = FaceAnalysis.model_validate_json(analysis.model_dump_json())
    assert restored == analysis


def test_shot_change_found_at_the_script_cut(analysis, truth):
    expected = [shot["start_frame"] for shot in truth["shots"]]
    found = [shot.start_frame for shot in analysis.shots]
    assert len(found) == len(expected)
    assert all(abs(a - b) <= 1 for a, b in zip(found, expected))
    assert analysis.shots[0].start_frame == 0 and analysis.shots[-1].end_frame == analysis.frame_count
    assert all(a.end_frame == b.start_frame for a, b in zip(analysis.shots, analysis.shots[1:]))
    assert abs(analysis.frame_count - truth["shots"][-1]["end_frame"]) <= 1


def test_two_identities_over_the_whole_video(analysis):
    assert analysis.identities == ["face_0", "face_1"]
    for identity in analysis.identities:
        assert {t.shot for t in analysis.tracks_of(identity)} == {0, 1}
    for track in analysis.tracks:
        assert len(track.descriptor) == 128


def test_each_identity_is_one_speakers_face_in_both_shots(analysis, truth):
    """Identity linking is right across the cut, although the faces swap sides and change size."""
    speakers = []
    for identity in analysis.identities:
        per_shot = _speaker_of_identity(analysis, truth, identity)
        assert set(per_shot) == {0, 1}
        assert all(len(found) == 1 for found in per_shot.values()), per_shot
        assert per_shot[0] == per_shot[1], f"{identity} is {per_shot[0]} in the wide shot but {per_shot[1]} in the close shot"
        speakers.append(per_shot[0].pop())
    assert len(set(speakers)) == 2


def test_landmarks_on_every_frame_of_every_track(analysis, analysed):
    out_dir = analysed[1]
    for track in analysis.tracks:
        geometry = track.load_geometry()
        assert str(out_dir) in track.geometry
        n = track.end_frame - track.start_frame
        np.testing.assert_array_equal(geometry.frames, np.arange(track.start_frame, track.end_frame))
        assert geometry.boxes.shape == (n, 4) and geometry.landmarks.shape == (n, 68, 2)
        assert np.isfinite(geometry.landmarks).all()
    for identity in analysis.identities:  # both faces stay on screen: their tracks cover every frame
        covered = np.concatenate([np.arange(t.start_frame, t.end_frame) for t in analysis.tracks_of(identity)])
        np.testing.assert_array_equal(np.sort(covered), np.arange(analysis.frame_count))


def test_mouth_points_lie_inside_the_face_box(analysis):
    """dlib's box ends near the lower lip, so a wide-open mouth may pass it by a few pixels."""
    for track in analysis.tracks:
        geometry = track.load_geometry()
        mouth = geometry.landmarks[:, MOUTH]
        boxes = geometry.boxes
        margin = 0.1 * (boxes[:, 3] - boxes[:, 1])[:, None]
        left, top, right, bottom = (boxes[:, k, None] for k in range(4))
        assert ((mouth[..., 0] >= left) & (mouth[..., 0] <= right)).all()
        assert ((mouth[..., 1] >= top) & (mouth[..., 1] <= bottom + margin)).all()
        centre = mouth.mean(axis=1)
        assert ((centre[:, 1] > (top + bottom)[:, 0] / 2) & (centre[:, 1] < bottom[:, 0])).all()  # lower half


def test_progress_reaches_every_frame(analysed):
    analysis, _, _, calls = analysed
    assert calls and calls[-1] == (analysis.frame_count, analysis.frame_count)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_speakers_match_the_faces_of_the_script(analysis, truth):
    openings = {
        identity: np.concatenate([mouth_opening(t.load_geometry().landmarks) for t in analysis.tracks_of(identity)])
        for identity in analysis.identities
    }
    stds = {identity: float(np.nanstd(values)) for identity, values in openings.items()}
    if max(stds.values()) < STATIC_MOUTH_STD:
        pytest.skip(f"the sample's mouths are static (mouth-opening std {stds}); needs the animated sample")
    face_of = {}
    for identity in analysis.identities:
        per_shot = _speaker_of_identity(analysis, truth, identity)
        face_of[next(iter(per_shot[0]))] = identity
    turns = [SpeakerTurn(speaker=line["speaker"], start=line["start"], end=line["end"]) for line in truth["lines"]]
    result = match_speakers(analysis, Diarization(turns=turns))
    for entry in result.speakers:
        assert entry.identity == face_of.get(entry.speaker), (entry, stds)
    assert result.silent_identities == [i for i in analysis.identities if i not in face_of.values()]


# --- mouth opening ------------------------------------------------------------------------------


def _open_mouth(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Move the lower lip (outer 55–59, inner 65–67) and the chin down by ``amount`` eye distances."""
    opened = landmarks.copy()
    eyes = np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0))
    for index in [*range(55, 60), *range(65, 68), *range(6, 11)]:
        opened[index, 1] += amount * eyes
    return opened


def test_mouth_opening_grows_when_the_lower_lip_drops(analysis):
    for track in analysis.tracks:
        landmarks = track.load_geometry().landmarks[0]
        before = float(mouth_opening(landmarks))
        after = float(mouth_opening(_open_mouth(landmarks, 0.2)))
        assert after > before + 0.15


def test_mouth_opening_ignores_scale_position_and_roll(analysis):
    landmarks = analysis.tracks[0].load_geometry().landmarks[0]
    angle = np.deg2rad(15)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = landmarks * 2.7 + np.array([31.0, -12.0])
    rolled = landmarks @ rotation.T
    reference = float(mouth_opening(landmarks))
    assert reference > 0
    assert float(mouth_opening(moved)) == pytest.approx(reference)
    assert float(mouth_opening(rolled)) == pytest.approx(reference)
    batch = mouth_opening(np.stack([landmarks, _open_mouth(landmarks, 0.1), moved]))
    assert batch.shape == (3,) and batch[1] > batch[0] == pytest.approx(batch[2])
    with pytest.raises(ValueError):
        mouth_opening(landmarks[:60])


def test_mouth_signal_is_nan_where_the_track_is_absent(analysis):
    track = analysis.tracks[-1]
    geometry = track.load_geometry()
    signal = mouth_signal(geometry, analysis.frame_count)
    assert signal.shape == (analysis.frame_count,)
    assert np.isnan(signal[: track.start_frame]).all() and np.isnan(signal[track.end_frame :]).all()
    np.testing.assert_allclose(signal[track.start_frame : track.end_frame], mouth_opening(geometry.landmarks))


# --- building blocks ----------------------------------------------------------------------------


def test_shots_cover_every_frame():
    shots = shots_from_cuts([412, 0, 900, 412, 100], 836)
    assert [(s.index, s.start_frame, s.end_frame) for s in shots] == [(0, 0, 100), (1, 100, 412), (2, 412, 836)]
    assert shots_from_cuts([], 10)[0].end_frame == 10


def _template(box: np.ndarray) -> np.ndarray:
    """A fake landmark fit: a fixed point pattern scaled into the box."""
    unit = np.random.default_rng(7).uniform(0.2, 0.8, (68, 2))
    return box[:2] + unit * (box[2:] - box[:2])


def _run(detections: dict[int, list[list[float]]], frames: int, detect_every: int) -> list[RawTrack]:
    tracker = ShotTracker(0, 640, 360, descriptor_gap=5, max_descriptors=2)
    for frame in range(frames):
        found = np.array(detections.get(frame, []), dtype=float).reshape(-1, 4) if frame % detect_every == 0 else None
        tracker.step(frame, found, _template)
        for track, _ in tracker.wants_descriptor(frame):
            tracker.add_descriptor(track, frame, np.zeros(128))
    return tracker.finish()


def test_tracker_follows_faces_between_detections():
    face_a, face_b = [50, 50, 150, 150], [400, 60, 500, 160]
    detections = {f: [face_a, face_b] for f in range(0, 40, 5)}
    tracks = _run(detections, 40, 5)
    assert len(tracks) == 2
    for track, box in zip(tracks, (face_a, face_b)):
        assert track.frames == list(range(40)) and track.reached_shot_end
        np.testing.assert_allclose(track.boxes[-1], box, atol=1e-6)  # carried by its landmarks
        assert len(track.descriptors) == 2


def test_a_lost_face_ends_and_a_one_off_detection_is_dropped():
    face_a, ghost = [50, 50, 150, 150], [400, 60, 500, 160]
    detections = {f: [face_a] for f in range(0, 15, 5)}  # face_a leaves after frame 10
    detections[20] = [ghost]  # a single false detection
    tracks = _run(detections, 40, 5)
    lost = next(t for t in tracks if t.boxes[0][0] == 50)
    assert lost.frames == list(range(15))  # ends at its first missed detection
    one_off = next(t for t in tracks if t.boxes[0][0] == 400)
    assert is_spurious(one_off, min_frames=3) and not is_spurious(lost, min_frames=3)


def test_one_missed_detection_is_bridged_but_a_miss_before_the_cut_is_not_trusted():
    face = [50, 50, 150, 150]
    detections = {f: [face] for f in (0, 5, 15, 20, 25, 30)}  # frame 10 misses it, frame 35 too
    (track,) = _run(detections, 40, 5)
    assert track.frames == list(range(35))  # bridged over 10; the frames after the last miss are dropped
    assert not track.reached_shot_end and track.detections == 6


def _track(start: int, end: int, descriptor: list[float], left: float = 0.0) -> SavedTrack:
    shot = 0 if start < 10 else 1
    return SavedTrack(track_id=0, shot=shot, start_frame=start, end_frame=end, left=left, descriptor=np.array(descriptor), geometry=Path("unused.npz"))


def test_identities_link_across_shots_but_never_on_screen_together():
    tracks = [
        _track(0, 10, [0.0, 0.0], left=300),  # person X, right side
        _track(0, 10, [0.3, 0.0], left=10),  # person Y looks like X (0.3 apart) but is on screen with X
        _track(10, 20, [0.05, 0.0]),  # X again after a cut
        _track(10, 20, [5.0, 5.0]),  # a stranger
    ]
    identities = link_identities(tracks, threshold=0.6)
    assert identities[0] == identities[2]
    assert len(set(identities)) == 3
    assert identities[1] == "face_0" and identities[0] == "face_1"  # first appearance, left to right


def test_unknown_backend_is_refused_with_the_available_ones():
    with pytest.raises(BackendUnavailableError, match="available: dlib, insightface"):
        load_face_analyzer("mediapipe")
    assert "dlib" in BACKENDS


def test_missing_dlib_names_the_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    monkeypatch.delitem(sys.modules, "models.faces.dlib_faces", raising=False)
    with pytest.raises(BackendUnavailableError, match="pip install dlib-bin face-recognition-models"):
        load_face_analyzer("dlib")


def test_missing_face_models_name_the_package_to_install(monkeypatch):
    from models.faces import dlib_faces

    monkeypatch.setattr(dlib_faces.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailableError, match="pip install face-recognition-models"):
        load_face_analyzer("dlib")


def test_a_video_without_faces_gives_shots_and_no_tracks(tmp_path):
    from models.video_io import FrameWriter

    video = tmp_path / "empty.mp4"
    ramp = np.linspace(0, 255, 160, dtype=np.uint8)
    with FrameWriter(video, 160, 96, 25.0) as writer:
        for k in range(30):
            frame = np.zeros((96, 160, 3), np.uint8)
            frame[..., 0] = ramp[None, :]
            frame[..., 1] = 40 if k < 15 else 220  # a hard cut at frame 15
            writer.write(frame)
    analysis = load_face_analyzer("dlib").analyze(video, tmp_path / "out")
    assert analysis.tracks == [] and analysis.identities == []
    assert analysis.frame_count == 30
    assert [(s.start_frame, s.end_frame) for s in analysis.shots] == [(0, 15), (15, 30)]
