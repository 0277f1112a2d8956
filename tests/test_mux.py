"""Delivery: muxing the dub into a generated video, and the subtitle files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pysubs2
import pytest

from models.data import DubbedLine
from models.mux import mux_video
from models.subtitles import write_subtitles
from polydub.errors import InputError, PolydubError

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
FPS = 25
SECONDS = 2.0


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def ffprobe(path: Path) -> dict:
    done = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def video_packets_hash(path: Path) -> str:
    """Hash of the first video stream's packets (equal only if the stream was copied)."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "streamhash", "-"],
                          check=True, capture_output=True, text=True)
    return done.stdout.split("=", 1)[1].strip()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mux")
    video = tmp / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=160x120:rate={FPS}:duration={SECONDS}",
           "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={SECONDS}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video))
    dub = tmp / "mix.wav"  # a little longer than the video, as a real mix may be
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=600:sample_rate=48000:duration={SECONDS + 0.3}", "-ac", "2", str(dub))
    original = tmp / "original.wav"
    ffmpeg("-i", str(video), "-vn", "-ac", "2", "-ar", "48000", str(original))
    tone = tmp / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(tone))
    return {"video": video, "dub": dub, "original": original, "tone": tone, "dir": tmp}


def audio_streams(info: dict) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == "audio"]


@needs_ffmpeg
def test_mux_copies_video_and_tags_both_audio_tracks(media, tmp_path):
    out = tmp_path / "talk.es.mp4"
    result = mux_video(media["video"], media["dub"], out, "es", original_audio=media["original"], original_language="en",
                       metadata={"comment": "Speech was AI-generated.", "encoder_tool": "polydub test"})
    assert result == out and out.exists()
    info, source = ffprobe(out), ffprobe(media["video"])
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264"
    assert video_packets_hash(out) == video_packets_hash(media["video"])  # copied, not re-encoded
    dubbed, original = audio_streams(info)
    assert dubbed["codec_name"] == "aac" and dubbed["tags"]["language"] == "spa" and dubbed["disposition"]["default"] == 1
    assert original["tags"]["language"] == "eng" and original["disposition"]["default"] == 0
    assert info["format"]["tags"]["comment"] == "Speech was AI-generated."
    assert info["format"]["tags"]["encoder_tool"] == "polydub test"
    source_duration = float([s for s in source["streams"] if s["codec_type"] == "video"][0]["duration"])
    assert abs(float(info["format"]["duration"]) - source_duration) <= 1.0 / FPS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.es.mp4"]  # no temp file left


@needs_ffmpeg
@pytest.mark.parametrize("language, code", [("ca", "cat"), ("eo", "epo")])
def test_mux_without_the_original_has_one_tagged_track(media, tmp_path, language, code):
    out = mux_video(media["video"], media["tone"], tmp_path / f"talk.{language}.mkv", language)
    info = ffprobe(out)
    (track,) = audio_streams(info)
    assert track["tags"]["language"] == code and track["disposition"]["default"] == 1
    assert abs(float(info["format"]["duration"]) - SECONDS) <= 1.0 / FPS  # a short dub does not shorten the file


@needs_ffmpeg
def test_a_failing_ffmpeg_leaves_no_output(media, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("this is not audio")
    out = tmp_path / "talk.es.mp4"
    with pytest.raises(PolydubError, match="ffmpeg could not mux talk.es.mp4"):
        mux_video(media["video"], broken, out, "es")
    assert list(tmp_path.iterdir()) == [broken]


@needs_ffmpeg
def test_bad_inputs_are_refused(media, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        mux_video(tmp_path / "missing.mp4", media["dub"], tmp_path / "o.mp4", "es")
    with pytest.raises(InputError, match="no video stream"):
        mux_video(media["original"], media["dub"], tmp_path / "o.mp4", "es")
    assert not (tmp_path / "o.mp4").exists()


def dubbed_line(index: int, start: float, end: float, text: str) -> DubbedLine:
    return DubbedLine(index=index, speaker="A", source_text="x", target_text=text, window_start=start, window_end=end,
                      audio="/dev/null", natural_duration=end - start, speed=1.0, start=start, end=end)


def test_subtitles_have_one_cue_per_line_at_the_placed_times(tmp_path):
    lines = [
        dubbed_line(2, 4.25, 6.5, "La casa es roja."),
        dubbed_line(0, 0.5, 2.125, "Hola, ¿cómo estás?"),
        dubbed_line(1, 2.5, 3.9, "Una línea\ncon dos partes {y llaves}."),
        dubbed_line(3, 7.0, 7.0, ""),  # nothing spoken: no cue
    ]
    srt, vtt = write_subtitles(lines, tmp_path / "talk.es.srt", tmp_path / "talk.es.vtt")
    assert (srt.suffix, vtt.suffix) == (".srt", ".vtt")
    assert vtt.read_text(encoding="utf-8").startswith("WEBVTT")
    spoken = sorted((l for l in lines if l.target_text), key=lambda l: l.start)
    for path in (srt, vtt):
        cues = pysubs2.load(str(path), encoding="utf-8")
        assert len(cues) == len(spoken)
        for cue, line in zip(cues, spoken):
            assert cue.start == pytest.approx(line.start * 1000, abs=1)
            assert cue.end == pytest.approx(line.end * 1000, abs=1)
            assert cue.plaintext == " ".join(line.target_text.split()).replace("{", "(").replace("}", ")")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.es.srt", "talk.es.vtt"]
