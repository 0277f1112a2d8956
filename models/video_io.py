"""Stream video frames through ffmpeg pipes: decode one frame at a time, encode one at a time.

Memory stays constant whatever the video's length: a reader holds one frame, a writer
none. Frames are ``(height, width, 3)`` uint8 RGB arrays. ffmpeg is always called with
an argument list, never through a shell.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import numpy as np

from models.ingest import require_ffmpeg
from polydub.errors import PolydubError

ENCODE_CRF = 10  # visually lossless: decoded pixels outside a changed region stay well above 40 dB PSNR
ENCODE_PRESET = "veryfast"


def frame_rate(fps: float) -> str:
    """``fps`` as the exact rational ffmpeg expects: 29.97002997 -> "30000/1001", 25.0 -> "25/1"."""
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    return f"{rate.numerator}/{rate.denominator}"


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def read_frames(video: Path | str, width: int, height: int, start_frame: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` for every decoded frame of ``video`` from ``start_frame`` on.

    ``width`` and ``height`` are the stream's (from ``models.ingest.probe``); frames are
    decoded at that size, in presentation order, one at a time.
    """
    require_ffmpeg()
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(video), "-map", "0:v:0"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-vsync", "passthrough", "pipe:1"]
    size = width * height * 3
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    index = 0
    try:
        while True:
            data = process.stdout.read(size)
            if len(data) < size:
                break
            if index >= start_frame:
                yield index, np.frombuffer(data, np.uint8).reshape(height, width, 3)
            index += 1
    finally:
        process.stdout.close()
        if process.poll() is None:
            process.kill()
        stderr = process.stderr.read()
        process.stderr.close()
        status = process.wait()
    if status not in (0, -9) and index == 0:
        raise PolydubError(f"ffmpeg could not decode {Path(video).name}: {_last_line(stderr)}")


class FrameWriter:
    """Encode frames to H.264 (yuv420p) at a fixed size and frame rate, optionally with an audio track.

    Use as a context manager; ``write`` one frame at a time. The file is complete only
    after a clean exit (the caller wraps ``out`` in ``polydub.workdir.atomic_path``).
    """

    def __init__(self, out: Path | str, width: int, height: int, fps: float, audio: Path | str | None = None, crf: int = ENCODE_CRF):
        require_ffmpeg()
        self.out, self.width, self.height = Path(out), width, height
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", frame_rate(fps), "-i", "pipe:0"]
        if audio is not None:
            # the picture sets the length: a shorter track is padded with silence, a longer one cut
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-af", "apad", "-c:a", "aac", "-b:a", "192k", "-shortest"]
        cmd += ["-c:v", "libx264", "-preset", ENCODE_PRESET, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(self.out)]
        self._process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3):
            raise ValueError(f"frame of shape {frame.shape}, expected {(self.height, self.width, 3)}")
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            self._fail()
        self.frames_written += 1

    def close(self) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        if self._process.wait() != 0:
            self._fail()

    def _fail(self) -> None:
        stderr = self._process.stderr.read() if self._process.stderr else b""
        self._process.kill()
        raise PolydubError(f"ffmpeg could not encode {self.out.name}: {_last_line(stderr)}")

    def __enter__(self) -> "FrameWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            if self._process.stdin is not None:
                self._process.stdin.close()
            self._process.kill()
            self._process.wait()
