"""insightface face backend on tiny ONNX models exported in the test (models.testing.tiny_insightface).

The pack (SCRFD-shaped detector, ArcFace-shaped recogniser, 3D-68 landmark model) is
loaded through insightface's own ``FaceAnalysis`` / ``model_zoo`` routing, exactly as a
downloaded ``buffalo_l`` folder would be, and run on synthetic faces drawn in tmp_path.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("insightface")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

from models.faces import BACKENDS, FaceAnalyzer, load_face_analyzer  # noqa: E402
from models.faces.insightface_faces import InsightFaceAnalyzer, check, five_points  # noqa: E402
from models.testing.tiny_insightface import FACE_HALF, build_tiny_pack, draw_face  # noqa: E402
from models.video_io import FrameWriter  # noqa: E402
from polydub.errors import BackendUnavailableError  # noqa: E402

WIDTH, HEIGHT, FRAMES = 320, 192, 40
SKIN, BLUE = (230, 180, 150), (120, 200, 240)


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return build_tiny_pack(tmp_path_factory.mktemp("pack"))


@pytest.fixture(scope="module")
def analyzer(pack) -> InsightFaceAnalyzer:
    return load_face_analyzer("insightface", root_or_pack=str(pack), providers=["CPUExecutionProvider"],
                              det_size=(WIDTH, HEIGHT))


def _centres(index: int) -> dict[str, tuple[float, float] | None]:
    """Where each synthetic person is on frame ``index`` (None: off screen)."""
    left = (70.0 + index, 96.0)
    right = None if 15 <= index < 25 else (250.0 - index, 96.0)
    return {"skin": left, "blue": right}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "faces.mp4"
    with FrameWriter(path, WIDTH, HEIGHT, 25.0) as writer:
        for index in range(FRAMES):
            frame = np.full((HEIGHT, WIDTH, 3), 10, np.uint8)
            for person, centre in _centres(index).items():
                if centre is not None:
                    draw_face(frame, centre, SKIN if person == "skin" else BLUE)
            writer.write(frame)
    return path


def test_the_tiny_pack_is_routed_by_insightfaces_model_zoo(pack, analyzer):
    from insightface.model_zoo import get_model

    kinds = {path.name: get_model(str(path), providers=["CPUExecutionProvider"]) for path in sorted(pack.glob("*.onnx"))}
    assert {name: model.taskname for name, model in kinds.items()} == {
        "1k3d68_tiny.onnx": "landmark_3d_68", "det_tiny.onnx": "detection", "w600k_tiny.onnx": "recognition"}
    assert kinds["det_tiny.onnx"].use_kps and kinds["det_tiny.onnx"].fmc == 3
    assert "insightface" in BACKENDS and isinstance(analyzer, FaceAnalyzer)
    assert analyzer.name == "insightface" and "det_tiny" in analyzer.version and analyzer.providers == ["CPUExecutionProvider"]


def test_detection_landmarks_and_embeddings_on_one_frame(analyzer):
    frame = np.full((HEIGHT, WIDTH, 3), 10, np.uint8)
    draw_face(frame, (80, 96), SKIN)
    draw_face(frame, (240, 96), BLUE)
    boxes = analyzer.detect(frame)
    assert boxes.shape == (2, 4)
    for box in boxes:
        centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
        assert min(np.abs(centre - [80, 96]).max(), np.abs(centre - [240, 96]).max()) <= 8
        assert box[2] - box[0] == pytest.approx(2 * FACE_HALF[0], abs=1)
        points = analyzer.landmarks(frame, box)
        assert points.shape == (68, 2)
        assert box[0] - 1 <= points[:, 0].min() and points[:, 0].max() <= box[2] + 1
        assert points[36:48, 1].mean() < points[30, 1] < points[48:68, 1].mean() < points[8, 1]  # eyes, nose, mouth, chin
        assert points[36:42, 0].mean() < points[42:48, 0].mean()  # image-left eye first, as in dlib's layout
        kps = five_points(points)
        assert kps.shape == (5, 2) and kps[0, 0] < kps[1, 0] and kps[3, 0] < kps[4, 0]
    (left, right) = sorted(boxes, key=lambda b: b[0])
    a = analyzer.descriptor(frame, left, analyzer.landmarks(frame, left))
    b = analyzer.descriptor(frame, right, analyzer.landmarks(frame, right))
    moved = frame.copy()
    moved[:, :] = 10
    draw_face(moved, (100, 90), SKIN)
    a2 = analyzer.descriptor(moved, analyzer.detect(moved)[0], analyzer.landmarks(moved, analyzer.detect(moved)[0]))
    assert np.linalg.norm(a) == pytest.approx(1.0) and np.linalg.norm(b) == pytest.approx(1.0)
    assert np.linalg.norm(a - a2) < 0.3 < 1.2 < np.linalg.norm(a - b)  # same person moved vs another person


def test_analyze_tracks_two_people_and_links_a_returning_face(analyzer, video, tmp_path):
    calls: list[tuple[int, int]] = []
    analysis = analyzer.analyze(video, tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert analysis.backend == "insightface" and analysis.frame_count == FRAMES and calls[-1] == (FRAMES, FRAMES)
    assert (analysis.width, analysis.height) == (WIDTH, HEIGHT) and len(analysis.shots) == 1
    tracks = sorted(analysis.tracks, key=lambda t: (t.start_frame, t.track_id))
    assert len(tracks) == 3  # the skin face throughout; the blue one before and after its absence
    by_person: dict[str, list] = {"skin": [], "blue": []}
    for track in tracks:
        geometry = track.load_geometry()
        first = geometry.boxes[0]
        person = "skin" if (first[0] + first[2]) / 2 < WIDTH / 2 else "blue"
        by_person[person].append(track)
        assert len(track.descriptor) == 512
        for frame, box, points in zip(geometry.frames, geometry.boxes, geometry.landmarks):
            centre = _centres(int(frame))[person]
            assert centre is not None, f"{person} tracked on frame {frame} where it is absent"
            # 8 px detector grid + up to 4 frames at 1 px/frame between detections (the tiny
            # landmark model returns a fixed shape, so boxes only move on detection frames)
            assert np.abs(np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]) - centre).max() <= 13
            assert points.shape == (68, 2) and box[1] <= points[48:68, 1].min()
    assert [t.start_frame for t in by_person["skin"]] == [0] and by_person["skin"][0].end_frame == FRAMES
    assert [(t.start_frame, t.end_frame) for t in by_person["blue"]] == [(0, 15), (25, FRAMES)]
    assert by_person["blue"][0].identity == by_person["blue"][1].identity != by_person["skin"][0].identity


def test_missing_pack_and_check(tmp_path, pack):
    with pytest.raises(BackendUnavailableError, match="buffalo_l"):
        InsightFaceAnalyzer.from_pretrained("buffalo_l", root=str(tmp_path))
    checks = {c.item: c for c in check(str(pack))}
    assert checks["package insightface"].ok and checks[f"weights {pack}"].ok
    missing = {c.item: c for c in check("buffalo_l", root=str(tmp_path))}
    assert not missing["weights buffalo_l"].ok and "FaceAnalysis('buffalo_l')" in missing["weights buffalo_l"].fix
    licence = next(c for c in checks.values() if c.item.startswith("licence"))
    assert not licence.ok and "non-commercial" in licence.detail
