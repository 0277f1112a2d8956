"""Bad input to `polydub localize` exits non-zero with one line naming the problem,
leaves no output file behind and marks nothing finished in the work folder.

Every case here is refused before Prefect starts (preflight), so each costs about a second.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", *args, "-y"], check=True)


def _make_video_without_audio(path: Path) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


def _make_tiny_video(path: Path, *extra: str) -> Path:
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", *extra, str(path))
    return path


def _cut_in_half(path: Path, *extra: str) -> Path:
    """A real MP4 whose second half is missing; with ``+faststart`` its index (moov) survives at the front."""
    whole = _make_tiny_video(path.with_name("whole.mp4"), *extra)
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    whole.unlink()
    return path


def _make_image(path: Path, codec_suffix: str) -> Path:
    """A still picture (PNG or JPEG by ``codec_suffix``) saved under ``path``'s name, whatever its extension."""
    image = path.with_name(f"picture{codec_suffix}")
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", str(image))
    image.rename(path)
    return path


def _write_text(path: Path) -> Path:
    path.write_text("just some text\n")
    return path


def _write_empty(path: Path) -> Path:
    path.touch()
    return path


def _run(polydub_bin: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([polydub_bin, "localize", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


# case: (make the input in a folder, --to, phrase the error line must hold, extra CLI arguments)
CASES = {
    "missing file": (lambda d: d / "nope.mp4", "es", "not found", []),
    "not a video (text)": (lambda d: _write_text(d / "notes.mp4"), "es", "not a readable video", []),
    "empty file": (lambda d: _write_empty(d / "empty.mp4"), "es", "empty", []),
    "truncated mp4, index lost": (lambda d: _cut_in_half(d / "cut.mp4"), "es", "cut.mp4 is truncated or incomplete", []),
    "truncated mp4, index kept": (
        lambda d: _cut_in_half(d / "cut.mp4", "-movflags", "+faststart"), "es", "cut.mp4 is truncated: it holds", []),
    "png renamed .mp4": (lambda d: _make_image(d / "holiday.mp4", ".png"), "es", "holiday.mp4 is a still image (png), not a video", []),
    "png image": (lambda d: _make_image(d / "holiday.png", ".png"), "es", "holiday.png is a still image (png), not a video", []),
    "jpeg renamed .mp4": (lambda d: _make_image(d / "photo.mp4", ".jpg"), "es", "photo.mp4 is a still image (mjpeg), not a video", []),
    "no audio stream": (lambda d: _make_video_without_audio(d / "silent-film.mp4"), "es", "no audio stream", []),
    "unsupported target": (lambda d: _make_tiny_video(d / "talk.mp4"), "ja", "supported targets", []),
    "target equals source": (lambda d: _make_tiny_video(d / "talk.mp4"), "en", "source language", []),
    "duplicated target": (lambda d: _make_tiny_video(d / "talk.mp4"), "es,es", "twice", []),
    "empty target list": (lambda d: _make_tiny_video(d / "talk.mp4"), "", "no target language given", []),
    "target list of commas": (lambda d: _make_tiny_video(d / "talk.mp4"), ",", "no target language given", []),
    "longer than --max-duration": (
        lambda d: _make_tiny_video(d / "talk.mp4"), "es", "talk.mp4 is 2 s long, over the limit of 1 s", ["--max-duration", "1"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_clearly(case, tmp_path, polydub_bin):
    make, targets, phrase, extra = CASES[case]
    video = make(tmp_path)
    out, work = tmp_path / "out", tmp_path / "work"
    done = _run(polydub_bin, [str(video), "--to", targets, "--out", str(out), "--work-dir", str(work), *extra], tmp_path)
    assert done.returncode != 0
    message = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(message) == 1, done.stderr
    assert message[0].startswith("error:") and phrase in message[0], message[0]
    assert not out.exists() or not any(out.iterdir())
    assert not work.exists() or not list(work.rglob("result.json"))  # no stage marked finished


def test_video_without_speech_is_refused_after_analysis(tmp_path, polydub_bin):
    video = tmp_path / "tones.mp4"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
           "-f", "lavfi", "-i", "sine=frequency=220:duration=4", "-filter:a", "volume=0.05",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-y", str(video)]
    subprocess.run(cmd, check=True)
    out = tmp_path / "out"
    done = _run(polydub_bin, [str(video), "--to", "es", "--out", str(out), "--work-dir", str(tmp_path / "work")], tmp_path)
    assert done.returncode != 0
    assert "error: no speech found in tones.mp4" in done.stderr
    assert not out.exists() or not any(out.iterdir())

