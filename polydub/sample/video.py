"""The sample's pictures: two real face photos composed into shots, their mouths talking.

The photos ship inside installed packages (scikit-image's astronaut and the Tom Hanks
photo in insightface's data folder), so nothing is downloaded. Each shot is one still
frame whose faces' mouths are then animated (dlib's 68-point landmarks locate them);
ffmpeg receives raw RGB frames on standard input and muxes the audio.
"""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from polydub.errors import BackendUnavailableError, PolydubError

FPS = 25
WIDTH = 640
HEIGHT = 360
AUDIO_SAMPLE_RATE = 48000
PHOTO_PACKAGE = "insightface"
PHOTO_PATH = ("data", "images", "Tom_Hanks_54745.png")

Box = tuple[int, int, int, int]  # left, top, right, bottom (pixels, right/bottom exclusive)


@dataclass(frozen=True)
class Placement:
    """Where one face photo goes in a frame: the crop of the photo and its box on screen."""

    face: str
    crop: Box
    box: Box


@dataclass(frozen=True)
class Framing:
    """One camera framing: a background gradient and the photos placed on it."""

    name: str
    top_color: tuple[int, int, int]
    bottom_color: tuple[int, int, int]
    placements: tuple[Placement, ...]


# Crops are in the photos' own pixels: the astronaut is 512x512, Tom Hanks 112x112.
WIDE = Framing(
    name="wide",
    top_color=(58, 66, 84),
    bottom_color=(24, 28, 38),
    placements=(
        Placement("astronaut", crop=(96, 8, 352, 264), box=(56, 64, 296, 304)),
        Placement("tom_hanks", crop=(0, 0, 112, 112), box=(344, 64, 584, 304)),
    ),
)
CLOSE = Framing(
    name="close",
    top_color=(112, 86, 62),
    bottom_color=(46, 34, 26),
    placements=(
        Placement("tom_hanks", crop=(0, 0, 112, 112), box=(14, 24, 314, 324)),
        Placement("astronaut", crop=(136, 24, 316, 204), box=(326, 24, 626, 324)),
    ),
)


def face_photos() -> dict[str, Image.Image]:
    """The two face photos as RGB images, keyed by face name."""
    from skimage import data

    try:
        tom = importlib.resources.files(PHOTO_PACKAGE).joinpath(*PHOTO_PATH)
    except ModuleNotFoundError as exc:
        raise BackendUnavailableError(f"the sample needs the photos inside {PHOTO_PACKAGE}: pip install {PHOTO_PACKAGE}") from exc
    if not tom.is_file():
        raise BackendUnavailableError(f"{PHOTO_PACKAGE} is installed without {'/'.join(PHOTO_PATH)}")
    with importlib.resources.as_file(tom) as path, Image.open(path) as image:
        tom_image = image.convert("RGB")
    return {"astronaut": Image.fromarray(data.astronaut()).convert("RGB"), "tom_hanks": tom_image}


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A vertical colour gradient filling the frame (uint8 RGB)."""
    weights = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    colours = (1.0 - weights) * np.array(top, np.float32) + weights * np.array(bottom, np.float32)
    return np.broadcast_to(np.round(colours).astype(np.uint8), (HEIGHT, WIDTH, 3)).copy()


def compose_frame(framing: Framing, photos: dict[str, Image.Image]) -> np.ndarray:
    """One still frame of ``framing`` (HEIGHT x WIDTH x 3, uint8 RGB)."""
    frame = _gradient(framing.top_color, framing.bottom_color)
    for place in framing.placements:
        left, top, right, bottom = place.box
        patch = photos[place.face].crop(place.crop).resize((right - left, bottom - top), Image.Resampling.LANCZOS)
        frame[top:bottom, left:right] = np.asarray(patch)
    return frame


def face_landmarks(frame: np.ndarray, framing: Framing) -> dict[str, np.ndarray]:
    """dlib's 68 landmarks (x, y) of each placed photo's face in a composed ``frame``."""
    from models.faces.dlib_faces import DlibFaceAnalyzer

    dlib_faces = DlibFaceAnalyzer(upsample=1)
    found = dlib_faces.detect(frame)
    landmarks: dict[str, np.ndarray] = {}
    for place in framing.placements:
        left, top, right, bottom = place.box
        centres = (found[:, :2] + found[:, 2:]) / 2
        inside = [box for box, (x, y) in zip(found, centres) if left <= x < right and top <= y < bottom]
        if not inside:
            raise PolydubError(f"dlib found no face in the {framing.name} shot's {place.face} photo")
        landmarks[place.face] = dlib_faces.landmarks(frame, inside[0])
    return landmarks


def ffmpeg_binary() -> str:
    """Path of the ffmpeg executable, or a clear error saying how to install it."""
    binary = shutil.which("ffmpeg")
    if binary is None:
        raise BackendUnavailableError("ffmpeg is not installed: apt-get install ffmpeg")
    return binary


def encode_mp4(frames: Iterable[np.ndarray], audio_wav: Path, out: Path) -> Path:
    """Encode frames in order with the audio into an H.264/AAC mp4.

    Raw RGB frames are piped to ffmpeg (argument list, no shell). Constant quantizers
    with a large I/P ratio make the still parts of a P frame exact copies (blocks
    skipped), so only the moving mouths cost bits and change between frames.
    """
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}", "-framerate", str(FPS), "-i", "pipe:0",
        "-i", str(audio_wav),
        "-map", "0:v:0", "-map", "1:a:0",
        "-c:v", "libx264", "-preset", "veryfast", "-qp", "18", "-x264-params", "ipratio=4",
        "-pix_fmt", "yuv420p", "-threads", "2",
        "-c:a", "aac", "-b:a", "160k", "-ar", str(AUDIO_SAMPLE_RATE), "-ac", "2",
        "-metadata:s:a:0", "language=eng",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip
    process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None
    try:
        for frame in frames:
            process.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        process.stdin.close()
    except BrokenPipeError:
        pass  # ffmpeg stopped early: its exit status and message say why
    stderr = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
    if process.wait() != 0:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {process.returncode}"
        raise PolydubError(f"ffmpeg could not encode the sample video: {reason}")
    return out
