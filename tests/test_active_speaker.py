"""Active-speaker matching on synthetic face tracks whose mouths follow known speaker turns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.active_speaker import match_speakers, mouth_activity, voice_activity
from models.data import Diarization, SpeakerTurn
from models.faces.mouth import mouth_opening
from models.faces.records import FaceAnalysis, FaceTrack, Shot, TrackGeometry

FPS = 25.0
SECONDS = 40.0
FRAMES = int(SECONDS * FPS)
CUT = FRAMES // 2  # a shot change half-way: every identity has one track per shot

TURNS = {
    "spk_a": [(1.0, 4.0), (9.0, 12.0), (17.0, 19.5), (25.0, 28.0)],
    "spk_b": [(5.0, 8.0), (13.0, 16.0), (21.0, 24.0), (29.0, 31.0)],
    "narrator": [(32.5, 35.0), (36.0, 39.0)],
}


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int, start: float = 0.0) -> np.ndarray:
    angles = start + np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


def face_landmarks(cx: float, cy: float, size: float, lip_gap: float) -> np.ndarray:
    """A plausible 68-point face (dlib layout) of width ``size``; ``lip_gap`` in units of ``size``."""
    s = size
    points = np.zeros((68, 2))
    jaw = np.linspace(np.pi, 0.0, 17)
    points[0:17] = np.stack([cx + 0.5 * s * np.cos(jaw), cy + 0.55 * s * np.sin(jaw)], axis=1)
    points[17:22] = np.stack([cx - np.linspace(0.4, 0.1, 5) * s, np.full(5, cy - 0.3 * s)], axis=1)
    points[22:27] = np.stack([cx + np.linspace(0.1, 0.4, 5) * s, np.full(5, cy - 0.3 * s)], axis=1)
    points[27:31] = np.stack([np.full(4, cx), cy - np.linspace(0.2, 0.05, 4) * s], axis=1)
    points[31:36] = np.stack([cx + np.linspace(-0.1, 0.1, 5) * s, np.full(5, cy + 0.05 * s)], axis=1)
    points[36:42] = _ellipse(cx - 0.2 * s, cy - 0.2 * s, 0.08 * s, 0.03 * s, 6, np.pi)
    points[42:48] = _ellipse(cx + 0.2 * s, cy - 0.2 * s, 0.08 * s, 0.03 * s, 6, np.pi)
    mouth_y = cy + 0.25 * s
    half_gap = 0.5 * lip_gap * s
    points[48:60] = _ellipse(cx, mouth_y, 0.2 * s, 0.06 * s + half_gap, 12, np.pi)
    points[60] = (cx - 0.15 * s, mouth_y)
    points[61:64] = np.stack([cx + np.array([-0.07, 0.0, 0.07]) * s, np.full(3, mouth_y - half_gap)], axis=1)
    points[64] = (cx + 0.15 * s, mouth_y)
    points[65:68] = np.stack([cx + np.array([0.07, 0.0, -0.07]) * s, np.full(3, mouth_y + half_gap)], axis=1)
    return points


def speaking(speaker: str, frames: np.ndarray) -> np.ndarray:
    times = (frames + 0.5) / FPS
    return np.any([(times >= a) & (times < b) for a, b in TURNS[speaker]], axis=0)


def lip_gaps(follows: str | None, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Lip gap per frame: syllable-rate opening while ``follows`` speaks, a slightly open resting mouth otherwise."""
    gap = np.full(len(frames), 0.02)
    if follows is not None:
        times = frames / FPS
        syllables = np.abs(np.sin(2 * np.pi * 2.3 * times + rng.uniform(0, np.pi)))
        gap += 0.12 * syllables * speaking(follows, frames)
    return gap


def build_analysis(tmp_path: Path, faces: dict[str, str | None], noise: float = 0.0, seed: int = 0) -> FaceAnalysis:
    """Faces (identity -> speaker they mouth, or None: static) each with one track per shot.

    ``noise``: standard deviation of landmark jitter, as a fraction of the face size.
    """
    rng = np.random.default_rng(seed)
    shots = [Shot(index=0, start_frame=0, end_frame=CUT), Shot(index=1, start_frame=CUT, end_frame=FRAMES)]
    tracks = []
    for k, (identity, follows) in enumerate(faces.items()):
        for shot in shots:
            frames = np.arange(shot.start_frame, shot.end_frame)
            size = 120.0 if shot.index == 0 else 180.0
            cx = 150.0 + 300.0 * ((k + shot.index) % 2)
            gaps = lip_gaps(follows, frames, rng)
            landmarks = np.stack([face_landmarks(cx, 180.0, size, g) for g in gaps])
            landmarks += rng.normal(0.0, noise * size, landmarks.shape)
            boxes = np.tile([cx - size / 2, 180.0 - size / 2, cx + size / 2, 180.0 + size / 2], (len(frames), 1))
            path = TrackGeometry(frames=frames, boxes=boxes, landmarks=landmarks).save(tmp_path / f"{identity}_{shot.index}.npz")
            tracks.append(
                FaceTrack(
                    track_id=len(tracks), identity=identity, shot=shot.index,
                    start_frame=shot.start_frame, end_frame=shot.end_frame, geometry=str(path),
                )
            )  # fmt: skip
    return FaceAnalysis(backend="synthetic", fps=FPS, width=640, height=360, frame_count=FRAMES, shots=shots, tracks=tracks)


def diarization(*speakers: str) -> Diarization:
    turns = [SpeakerTurn(speaker=s, start=a, end=b) for s in speakers for a, b in TURNS[s]]
    return Diarization(turns=sorted(turns, key=lambda t: t.start))


def test_synthetic_landmarks_open_as_asked():
    closed = mouth_opening(face_landmarks(100, 100, 100, 0.0))
    opened = mouth_opening(face_landmarks(100, 100, 100, 0.12))
    assert closed == pytest.approx(0.0, abs=1e-9)
    assert opened == pytest.approx(0.12 / 0.4)  # gap over the 0.4-size eye distance


def test_each_speaker_gets_the_face_that_follows_its_voice(tmp_path):
    analysis = build_analysis(tmp_path, {"face_0": "spk_a", "face_1": "spk_b"})
    result = match_speakers(analysis, diarization("spk_a", "spk_b", "narrator"))
    assert result.identity_of("spk_a") == "face_0"
    assert result.identity_of("spk_b") == "face_1"
    assert result.identity_of("narrator") is None
    assert result.silent_identities == []
    for entry in result.speakers:
        assert set(entry.scores) == {"face_0", "face_1"}
        assert all(-1.0 <= v <= 1.0 for v in entry.scores.values())
        assert 0.0 <= entry.confidence <= 1.0
    narrator = next(e for e in result.speakers if e.speaker == "narrator")
    assert narrator.confidence == 0.0 and max(narrator.scores.values()) < 0.2


def test_mapping_follows_the_mouths_not_the_order(tmp_path):
    analysis = build_analysis(tmp_path, {"face_0": "spk_b", "face_1": "spk_a"})
    result = match_speakers(analysis, diarization("spk_a", "spk_b"))
    assert result.identity_of("spk_a") == "face_1"
    assert result.identity_of("spk_b") == "face_0"


def test_static_face_is_silent_and_its_speaker_off_screen(tmp_path):
    analysis = build_analysis(tmp_path, {"face_0": "spk_a", "face_1": None}, noise=0.002)
    result = match_speakers(analysis, diarization("spk_a", "spk_b"))
    assert result.identity_of("spk_a") == "face_0"
    assert result.identity_of("spk_b") is None
    assert result.silent_identities == ["face_1"]


def test_confidence_is_higher_for_clean_signals_than_noisy(tmp_path):
    faces = {"face_0": "spk_a", "face_1": "spk_b"}
    (tmp_path / "clean").mkdir()
    (tmp_path / "noisy").mkdir()
    clean = match_speakers(build_analysis(tmp_path / "clean", faces), diarization("spk_a", "spk_b"))
    noisy = match_speakers(build_analysis(tmp_path / "noisy", faces, noise=0.03), diarization("spk_a", "spk_b"))
    for speaker, identity in (("spk_a", "face_0"), ("spk_b", "face_1")):
        assert clean.identity_of(speaker) == identity
        assert noisy.identity_of(speaker) == identity
        clean_conf = next(e.confidence for e in clean.speakers if e.speaker == speaker)
        noisy_conf = next(e.confidence for e in noisy.speakers if e.speaker == speaker)
        assert clean_conf > 0.6
        assert noisy_conf < clean_conf


def test_a_threshold_above_every_confidence_matches_nobody(tmp_path):
    analysis = build_analysis(tmp_path, {"face_0": "spk_a", "face_1": "spk_b"})
    result = match_speakers(analysis, diarization("spk_a", "spk_b"), min_confidence=1.01)
    assert [e.identity for e in result.speakers] == [None, None]
    assert result.silent_identities == ["face_0", "face_1"]


def test_little_speech_on_screen_lowers_confidence(tmp_path):
    """A face seen only during one short stretch of its speaker's speech is trusted less."""
    full = build_analysis(tmp_path, {"face_0": "spk_a"})
    short = full.model_copy(deep=True)
    track = short.tracks[0]
    geometry = track.load_geometry()
    keep = (geometry.frames >= int(2.5 * FPS)) & (geometry.frames < int(5.0 * FPS))  # 1.5 s of spk_a's speech
    path = TrackGeometry(geometry.frames[keep], geometry.boxes[keep], geometry.landmarks[keep]).save(tmp_path / "short.npz")
    short.tracks = [track.model_copy(update={"geometry": str(path), "start_frame": int(geometry.frames[keep][0]), "end_frame": int(geometry.frames[keep][-1]) + 1})]
    turns = diarization("spk_a", "spk_b")
    full_conf = match_speakers(full, turns, min_confidence=0.0).speakers[0].confidence
    short_conf = match_speakers(short, turns, min_confidence=0.0).speakers[0].confidence
    assert full_conf > 0.6
    assert 0.0 < short_conf < full_conf


def test_mouth_activity_keeps_gaps_and_does_not_bleed_across_them():
    opening = np.full(100, np.nan)
    opening[10:40] = 0.1  # still
    opening[60:90] = 0.1 + 0.1 * (np.arange(30) % 2)  # flapping
    activity = mouth_activity(opening, window=5)
    assert np.isnan(activity[:10]).all() and np.isnan(activity[40:60]).all() and np.isnan(activity[90:]).all()
    assert np.allclose(activity[10:40], 0.0)
    assert np.allclose(activity[60:90], 0.1)


def test_voice_activity_is_one_inside_turns_and_zero_far_outside():
    turns = [SpeakerTurn(speaker="x", start=1.0, end=2.0)]
    voice = voice_activity(turns, fps=FPS, frame_count=100, window=5)
    assert np.allclose(voice[30:45], 1.0)
    assert np.allclose(voice[:20], 0.0) and np.allclose(voice[60:], 0.0)


def test_no_faces_means_every_speaker_is_off_screen():
    analysis = FaceAnalysis(backend="synthetic", fps=FPS, width=640, height=360, frame_count=FRAMES, shots=[], tracks=[])
    result = match_speakers(analysis, diarization("spk_a", "narrator"))
    assert [(e.speaker, e.identity, e.scores) for e in result.speakers] == [("narrator", None, {}), ("spk_a", None, {})]
    assert result.silent_identities == []
