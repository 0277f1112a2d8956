"""Embedded media of the review report: short audio clips and small image crops as data URIs.

Audio is cut with ffmpeg (argument lists, never a shell) and encoded as mono Opus in Ogg
at a low bit rate, so a line costs a few kilobytes. Frames are decoded in one streaming
pass and only the requested ones are kept.
"""

from __future__ import annotations

import base64
import io
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from models.ingest import require_ffmpeg
from models.video_io import read_frames
from polydub.errors import PolydubError

AUDIO_BITRATE = "24k"
AUDIO_RATE = 24000
JPEG_QUALITY = 80
CLIPS_PER_CALL = 64  # spans cut by one ffmpeg call


def data_uri(payload: bytes, mime: str) -> str:
    """``payload`` as a base64 ``data:`` URI."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def audio_clips(media: Path | str, spans: Sequence[tuple[float, float]], pad: float = 0.1) -> list[str]:
    """The audio of ``media`` over each ``(start, end)`` span (plus ``pad`` each side) as Opus data URIs.

    One ffmpeg call per ``CLIPS_PER_CALL`` spans: the audio is decoded once, split, trimmed and
    encoded into one small Ogg file per span.
    """
    require_ffmpeg()
    uris: list[str] = []
    for first in range(0, len(spans), CLIPS_PER_CALL):
        uris += _clip_batch(Path(media), spans[first : first + CLIPS_PER_CALL], pad)
    return uris


def _clip_batch(media: Path, spans: Sequence[tuple[float, float]], pad: float) -> list[str]:
    labels = [f"[s{i}]" for i in range(len(spans))]
    graph = [f"[0:a]asplit={len(spans)}{''.join(labels)}" if len(spans) > 1 else "[0:a]anull[s0]"]
    for i, (start, end) in enumerate(spans):
        begin = max(0.0, start - pad)
        graph.append(f"[s{i}]atrim=start={begin:.3f}:end={max(begin + 0.05, end + pad):.3f},asetpts=PTS-STARTPTS[o{i}]")
    with tempfile.TemporaryDirectory(prefix="polydub-clips-") as scratch:
        outputs = [Path(scratch) / f"{i}.ogg" for i in range(len(spans))]
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(media), "-filter_complex", ";".join(graph)]
        for i, out in enumerate(outputs):
            cmd += ["-map", f"[o{i}]", "-ac", "1", "-ar", str(AUDIO_RATE), "-c:a", "libopus", "-b:a", AUDIO_BITRATE,
                    "-fflags", "+bitexact", str(out)]  # bitexact: no random Ogg serial, the same page each run
        done = subprocess.run(cmd, capture_output=True, check=False)
        if done.returncode != 0 or not all(out.exists() and out.stat().st_size for out in outputs):
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise PolydubError(f"could not cut audio clips from {media.name}: {message[-1] if message else 'no output'}")
        return [data_uri(out.read_bytes(), "audio/ogg") for out in outputs]


def collect_frames(video: Path | str, width: int, height: int, wanted: Iterable[int]) -> dict[int, np.ndarray]:
    """The decoded frames of ``video`` at the ``wanted`` indices (one pass; stops after the last one)."""
    todo = set(int(i) for i in wanted)
    if not todo:
        return {}
    last = max(todo)
    frames: dict[int, np.ndarray] = {}
    for index, frame in read_frames(video, width, height):
        if index in todo:
            frames[index] = frame.copy()
        if index >= last:
            break
    return frames


def crop(frame: np.ndarray, box: tuple[float, float, float, float], margin: float, aspect: float) -> np.ndarray:
    """The region ``box`` (left, top, right, bottom) grown by ``margin`` and widened to ``aspect`` (w/h), clipped."""
    left, top, right, bottom = box
    cx, cy = (left + right) / 2, (top + bottom) / 2
    w, h = (right - left) * (1 + 2 * margin), (bottom - top) * (1 + 2 * margin)
    w, h = max(w, h * aspect), max(h, w / aspect)
    rows, cols = frame.shape[:2]
    x0, x1 = int(max(0, cx - w / 2)), int(min(cols, cx + w / 2))
    y0, y1 = int(max(0, cy - h / 2)), int(min(rows, cy + h / 2))
    return frame[y0 : max(y0 + 1, y1), x0 : max(x0 + 1, x1)]


def jpeg_uri(image: np.ndarray, height: int) -> str:
    """An RGB array scaled to ``height`` pixels high, as a JPEG data URI."""
    picture = Image.fromarray(np.ascontiguousarray(image))
    width = max(1, round(picture.width * height / max(1, picture.height)))
    picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return data_uri(buffer.getvalue(), "image/jpeg")
