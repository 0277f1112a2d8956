"""Bad input to `polydub localize` exits non-zero with one line naming the problem,
and leaves no output file behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


def _make_video_without_audio(path: Path) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-y", str(path)]
    subprocess.run(cmd, check=True)
    return path


def _make_tiny_video(path: Path) -> Path:
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", "-y", str(path)]
    subprocess.run(cmd, check=True)
    return path


def _write_text(path: Path) -> Path:
    path.write_text("just some text\n")
    return path


def _write_empty(path: Path) -> Path:
    path.touch()
    return path


def _run(polydub_bin: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([polydub_bin, "localize", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


CASES = {
    "missing file": (lambda d: d / "nope.mp4", "es", "not found"),
    "not a video": (lambda d: _write_text(d / "notes.mp4"), "es", "not a readable video"),
    "empty file": (lambda d: _write_empty(d / "empty.mp4"), "es", "empty"),
    "no audio stream": (lambda d: _make_video_without_audio(d / "silent-film.mp4"), "es", "no audio stream"),
    "unsupported target": (lambda d: _make_tiny_video(d / "talk.mp4"), "ja", "supported targets"),
    "target equals source": (lambda d: _make_tiny_video(d / "talk.mp4"), "en", "source language"),
    "duplicated target": (lambda d: _make_tiny_video(d / "talk.mp4"), "es,es", "twice"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_clearly(case, tmp_path, polydub_bin):
    make, targets, phrase = CASES[case]
    video = make(tmp_path)
    out = tmp_path / "out"
    done = _run(polydub_bin, [str(video), "--to", targets, "--out", str(out), "--work-dir", str(tmp_path / "work")], tmp_path)
    assert done.returncode != 0
    message = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(message) == 1, done.stderr
    assert message[0].startswith("error:") and phrase in message[0], message[0]
    assert not out.exists() or not any(out.iterdir())


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
