"""Mouth warp on a real face photo, checked by re-measuring the result with dlib's landmarks."""

from __future__ import annotations

import time
import warnings

import cv2
import numpy as np
import pytest

from models.lipsync.geometry import face_axes, interocular, lower_face_polygon, polygon_ramp
from models.lipsync.motion import MouthPose
from models.lipsync.warp import inner_gap, target_landmarks, warp_mouth

dlib = pytest.importorskip("dlib")


@pytest.fixture(scope="module")
def measure():
    """Largest face's 68 landmarks on an RGB image, measured by dlib."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # face_recognition_models imports pkg_resources
        import face_recognition_models
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def landmarks(image: np.ndarray) -> np.ndarray:
        faces = detector(image, 1)
        assert len(faces), "dlib found no face"
        box = max(faces, key=lambda f: f.width())
        return np.array([[p.x, p.y] for p in predictor(image, box).parts()], dtype=np.float64)

    return landmarks


@pytest.fixture(scope="module")
def face(measure):
    from skimage import data

    image = np.ascontiguousarray(data.astronaut())
    return image, measure(image)


def _width(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[54] - landmarks[48]))


def test_neutral_pose_returns_identical_copy(face):
    image, landmarks = face
    out = warp_mouth(image, landmarks, MouthPose(0.0, 0.0))
    assert out is not image
    assert np.array_equal(out, image)


def test_opening_grows_the_measured_lip_gap(face, measure):
    image, landmarks = face
    gaps = [inner_gap(measure(warp_mouth(image, landmarks, MouthPose(o, 0.0)))) for o in (0.2, 0.5, 0.8)]
    source = inner_gap(landmarks)
    assert gaps[0] > source + 1.0
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[2] > source + 0.15 * interocular(landmarks)


def test_rounding_narrows_and_spreading_widens_the_mouth(face, measure):
    image, landmarks = face
    for opening in (0.0, 0.5):
        rounded = _width(measure(warp_mouth(image, landmarks, MouthPose(opening, -1.0))))
        neutral = _width(measure(warp_mouth(image, landmarks, MouthPose(opening, 0.0))))
        spread = _width(measure(warp_mouth(image, landmarks, MouthPose(opening, 1.0))))
        assert rounded < neutral - 2.0
        assert spread > neutral + 2.0


def test_nothing_changes_outside_the_lower_face_region(face):
    image, landmarks = face
    support = polygon_ramp(lower_face_polygon(landmarks), image.shape, band=1.0) > 0
    for pose in (MouthPose(0.8, 0.0), MouthPose(0.5, -1.0), MouthPose(1.0, 1.0)):
        changed = np.any(warp_mouth(image, landmarks, pose) != image, axis=-1)
        assert changed.sum() > 200
        assert not np.any(changed & ~support)
    # the eyes and everything above the nose stay bit-exact
    top = int(landmarks[27:36, 1].min())
    assert np.array_equal(warp_mouth(image, landmarks, MouthPose(1.0, 0.5))[:top], image[:top])


def test_open_mouth_interior_is_dark(face):
    image, landmarks = face
    pose = MouthPose(0.8, 0.0)
    out = warp_mouth(image, landmarks, pose)
    target = target_landmarks(landmarks, pose)
    centre = np.round((target[62] + target[66]) / 2 + [0, 2]).astype(int)  # below the teeth hint
    inside = out[centre[1] - 1 : centre[1] + 2, centre[0] - 2 : centre[0] + 3].mean()
    assert inside < 0.4 * image[int(target[33, 1]), int(target[33, 0])].mean()


def test_target_landmarks_follow_the_face_axes(face):
    _, landmarks = face
    pose = MouthPose(0.7, 0.0)
    moved = target_landmarks(landmarks, pose) - landmarks
    assert np.allclose(moved[17:48], 0.0) and np.allclose(moved[27:36], 0.0)
    _, down = face_axes(landmarks)
    assert moved[57] @ down > 0.15 * interocular(landmarks)  # lower lip drops
    assert moved[51] @ down < 0  # upper lip rises a little
    assert moved[8] @ down > 0.1 * interocular(landmarks)  # chin drops
    # the same face tilted by 25 degrees moves the same way in its own frame
    angle = np.deg2rad(25.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = target_landmarks(landmarks @ rotation.T, pose) - landmarks @ rotation.T
    assert np.allclose(tilted, moved @ rotation.T, atol=1e-6)


def test_warp_is_fast_on_a_300px_face(face):
    image, landmarks = face
    x0, y0 = int(landmarks[:, 0].min()) - 30, int(landmarks[:, 1].min()) - 45
    crop = cv2.resize(image[y0 : y0 + 150, x0 : x0 + 150], (300, 300), interpolation=cv2.INTER_CUBIC)
    points = (landmarks - [x0, y0]) * 2.0
    times = []
    for i in range(15):
        start = time.perf_counter()
        warp_mouth(crop, points, MouthPose(0.2 + 0.05 * i, 0.3))
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.03  # a few ms unloaded; generous for a shared machine
