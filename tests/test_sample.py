"""The sample interview: container format, ground truth, audio layout and shots."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from models.metrics import read_rttm
from polydub.errors import BackendUnavailableError, InputError
from polydub.sample import SampleFiles, build_sample
from polydub.sample import video as sample_video

AUDIO_RATE = 48000


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> SampleFiles:
    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def truth(sample) -> dict:
    return json.loads(sample.script.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def audio(sample) -> np.ndarray:
    """The sample's audio track decoded to 48 kHz mono float."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(sample.video), "-vn", "-ac", "1", "-ar", str(AUDIO_RATE), "-f", "f32le", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32).astype(np.float64)


def decode_frames(path: Path, first: int, count: int, width: int, height: int) -> np.ndarray:
    """``count`` consecutive decoded frames starting at frame ``first`` (RGB, int16)."""
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-vf", f"select=between(n\\,{first}\\,{first + count - 1})",
         "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype=np.uint8).reshape(count, height, width, 3).astype(np.int16)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def window(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    return samples[int(round(start * AUDIO_RATE)) : int(round(end * AUDIO_RATE))]


def test_files_are_written_beside_each_other(sample, tmp_path_factory):
    folder = sample.video.parent
    assert sample == SampleFiles(
        video=folder / "interview.mp4",
        script=folder / "interview.script.json",
        rttm=folder / "interview.rttm",
        reference_text=folder / "interview.txt",
    )
    assert all(p.is_file() and p.stat().st_size > 0 for p in (sample.video, sample.script, sample.rttm, sample.reference_text))
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], "temporary files were left behind"


def test_container_is_h264_aac_25fps(sample, truth):
    probe = ffmpeg.probe(str(sample.video))
    streams = probe["streams"]
    videos = [s for s in streams if s["codec_type"] == "video"]
    audios = [s for s in streams if s["codec_type"] == "audio"]
    assert len(videos) == 1 and len(audios) == 1 and len(streams) == 2
    v, a = videos[0], audios[0]
    duration = float(probe["format"]["duration"])
    assert 35.0 <= duration <= 45.0
    assert duration == pytest.approx(truth["duration"], abs=0.05)
    assert v["codec_name"] == "h264" and v["pix_fmt"] == "yuv420p"
    assert v["r_frame_rate"] == "25/1" and truth["fps"] == 25
    assert (v["width"], v["height"]) == (truth["width"], truth["height"])
    assert v["width"] >= 640 and v["height"] >= 360
    assert int(v["nb_frames"]) == round(truth["duration"] * 25)
    assert a["codec_name"] == "aac" and int(a["sample_rate"]) == 48000 and int(a["channels"]) == 2


def test_ground_truth_describes_three_speakers_and_their_lines(sample, truth):
    assert truth["video"] == sample.video.name and truth["language"] == "en"
    speakers = truth["speakers"]
    assert sorted(speakers) == ["narrator", "spk_a", "spk_b"]
    assert {s["face"] for s in speakers.values()} == {"astronaut", "tom_hanks", None}  # the narrator is never seen
    assert len({(s["voice"], s["pitch"]) for s in speakers.values()}) == 3
    lines = truth["lines"]
    assert 10 <= len(lines) <= 12
    assert lines[0]["speaker"] == lines[-1]["speaker"] == "narrator"
    assert [line["index"] for line in lines] == list(range(len(lines)))
    assert sum(line["text"].count(".") + line["text"].count("?") >= 2 for line in lines) >= 2  # two-sentence turns
    reference = sample.reference_text.read_text(encoding="utf-8").splitlines()
    assert reference == [line["text"] for line in lines]


def test_lines_alternate_in_order_inside_the_video(truth):
    lines = truth["lines"]
    speakers = [line["speaker"] for line in lines]
    assert all(a != b for a, b in zip(speakers, speakers[1:]))
    assert all(0.0 < line["start"] < line["end"] <= truth["duration"] for line in lines)
    assert all(1.5 <= line["end"] - line["start"] <= 4.0 for line in lines)
    pauses = [b["start"] - a["end"] for a, b in zip(lines, lines[1:])]
    assert all(0.6 - 1e-3 <= pause <= 1.0 + 1e-3 for pause in pauses)  # sorted, no overlap, slack for dubbing


def test_rttm_has_one_turn_per_line(sample, truth):
    turns = read_rttm(sample.rttm).turns
    lines = truth["lines"]
    assert [t.speaker for t in turns] == [line["speaker"] for line in lines]
    for turn, line in zip(turns, lines):
        assert turn.start == pytest.approx(line["start"], abs=2e-3)
        assert turn.end == pytest.approx(line["end"], abs=2e-3)


def test_speech_fills_the_lines_and_the_gaps_hold_only_quiet_background(truth, audio):
    lines = truth["lines"]
    line_levels = [rms(window(audio, line["start"], line["end"])) for line in lines]
    quietest_line = min(line_levels)
    assert quietest_line > 0.03
    for a, b in zip(lines, lines[1:]):
        gap = rms(window(audio, a["end"] + 0.05, b["start"] - 0.05))
        assert quietest_line * 10 ** (-35 / 20) < gap < quietest_line * 10 ** (-18 / 20)  # background tones, well below speech
    for line, level in zip(lines, line_levels):  # the times are the speech's real extents
        before = rms(window(audio, line["start"] - 0.1, line["start"] - 0.02))
        after = rms(window(audio, line["end"] + 0.02, line["end"] + 0.1))
        head = rms(window(audio, line["start"], line["start"] + 0.15))
        tail = rms(window(audio, line["end"] - 0.15, line["end"]))
        assert before < level * 10 ** (-18 / 20) and after < level * 10 ** (-18 / 20)
        assert head > 2 * before and tail > 2 * after


def test_shot_change_is_a_hard_cut_in_a_pause(sample, truth):
    first, second = truth["shots"]
    fps = truth["fps"]
    assert first["start"] == 0.0 and first["end"] == second["start"] and second["end"] == truth["duration"]
    cut = second["start_frame"]
    assert first["end_frame"] == cut and cut == round(second["start"] * fps)
    cut_time = cut / fps
    assert not any(line["start"] - 0.2 < cut_time < line["end"] + 0.2 for line in truth["lines"])

    width, height = truth["width"], truth["height"]
    across = decode_frames(sample.video, cut - 1, 2, width, height)
    assert np.abs(across[1] - across[0]).mean() > 30
    for shot in (first, second):
        middle = (shot["start_frame"] + shot["end_frame"]) // 2
        inside = decode_frames(sample.video, middle, 2, width, height)
        faces = np.zeros((height, width), bool)
        for left, top, right, bottom in shot["faces"].values():
            faces[top:bottom, left:right] = True
        assert np.abs(inside[0][~faces] - inside[1][~faces]).mean() < 1.0  # only faces move inside a shot (coding noise aside)
        assert inside[0].std() > 20  # a real picture, not a blank frame


def mouth_region(box: list[int]) -> tuple[slice, slice]:
    """Rows and columns of a placed photo's mouth area: the lower middle of its box."""
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    return slice(top + int(0.55 * h), top + int(0.95 * h)), slice(left + int(0.25 * w), right - int(0.25 * w))


def test_each_face_talks_only_during_its_own_lines(sample, truth):
    width, height = truth["width"], truth["height"]
    fps = truth["fps"]
    shots = truth["shots"]
    faces = {speaker: info["face"] for speaker, info in truth["speakers"].items()}
    lines = truth["lines"]
    pause_frames = {}  # a frame in a pause of each shot: every mouth closed
    for shot in shots:
        for a, b in zip(lines, lines[1:]):
            frame = round((a["end"] + b["start"]) / 2 * fps)
            if shot["start_frame"] + 2 < frame < shot["end_frame"] - 2:
                pause_frames[shot["start_frame"]] = decode_frames(sample.video, frame, 1, width, height)[0]
                break
    for line in lines:
        first, last = round(line["start"] * fps), round(line["end"] * fps)
        shot = next(s for s in shots if s["start_frame"] <= first < s["end_frame"])
        rest = pause_frames[shot["start_frame"]]
        frames = decode_frames(sample.video, first, last - first, width, height)
        for speaker, box in shot["faces"].items():
            rows, cols = mouth_region(box)
            change = max(float(np.abs(f[rows, cols] - rest[rows, cols]).mean()) for f in frames)
            if speaker == line["speaker"]:
                assert change > 4.0, f"{speaker}'s mouth does not move in line {line['index']}"
            else:  # a listener's mouth keeps still: what changes is coding noise
                assert change < 2.0, f"{speaker}'s mouth moves during {line['speaker']}'s line {line['index']}"
    assert faces["narrator"] is None


def test_each_speakers_face_is_where_the_ground_truth_says(sample, truth):
    from skimage import data
    from skimage.feature import Cascade

    detector = Cascade(data.lbp_frontal_face_cascade_filename())
    width, height = truth["width"], truth["height"]
    for shot in truth["shots"]:
        frame = decode_frames(sample.video, (shot["start_frame"] + shot["end_frame"]) // 2, 1, width, height)[0]
        gray = frame.astype(np.float64).mean(axis=2) / 255.0
        found = detector.detect_multi_scale(img=gray, scale_factor=1.2, step_ratio=1, min_size=(60, 60), max_size=(320, 320))
        centres = [(f["c"] + f["width"] / 2, f["r"] + f["height"] / 2) for f in found]
        for speaker, (left, top, right, bottom) in shot["faces"].items():
            assert any(left <= x < right and top <= y < bottom for x, y in centres), f"no face for {speaker} in {shot['framing']}"


def test_build_is_deterministic(sample, tmp_path):
    again = build_sample(tmp_path)
    for first, second in zip(
        (sample.video, sample.script, sample.rttm, sample.reference_text),
        (again.video, again.script, again.rttm, again.reference_text),
    ):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_a_file_in_place_of_the_folder_is_refused(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(InputError, match="not a folder"):
        build_sample(target)


def test_a_missing_photo_package_is_named(monkeypatch):
    monkeypatch.setattr(sample_video, "PHOTO_PACKAGE", "polydub_no_such_photo_package")
    with pytest.raises(BackendUnavailableError, match="pip install polydub_no_such_photo_package"):
        sample_video.face_photos()


def test_a_missing_photo_file_is_named(monkeypatch):
    monkeypatch.setattr(sample_video, "PHOTO_PATH", ("data", "images", "nobody.png"))
    with pytest.raises(BackendUnavailableError, match="data/images/nobody.png"):
        sample_video.face_photos()
