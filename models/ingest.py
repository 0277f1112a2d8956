"""Ingest: probe the source with ffprobe, validate it, extract its audio, normalise its picture.

Input handling (README "Input handling"): an image or a file without any stream is refused;
an audio-only file is accepted (dubbed without lip sync); a picture that the frame pipeline
cannot take as it is (variable frame rate, odd width or height, rotation metadata) is
re-encoded once at ingest to a constant rate, an even size (one black pixel of padding) and
upright frames, and every later stage reads that copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from models.data import MediaInfo
from polydub.errors import BackendUnavailableError, InputError, PolydubError
from polydub.workdir import atomic_path

MIX_RATE = 48000
ANALYSIS_RATE = 16000
# common frame rates a variable-rate source is re-timed to when its usual rate is within 1 % of one
STANDARD_RATES = tuple(Fraction(r) for r in ("24000/1001", "24", "25", "30000/1001", "30", "48", "50", "60000/1001", "60"))
# a stream whose frames stray more than this many frame intervals from a constant-rate grid is variable-rate
VFR_TOLERANCE_FRAMES = 0.5
# an MP4/MOV smaller than this share of the media its index lists is cut off (whole files measure 1.02–1.03)
TRUNCATED_BELOW = 0.95
PICTURE_CRF = 10  # the normalised picture is an intermediate: visually lossless, like the lip-sync encoder's
PICTURE_PRESET = "veryfast"


def require_ffmpeg() -> None:
    """Fail early, with the install command, when ffmpeg/ffprobe are missing."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise BackendUnavailableError(f"{tool} is not installed: apt-get install ffmpeg")


def _ffprobe_messages(exc: ffmpeg.Error, path: Path | str = "") -> list[str]:
    """ffprobe's (or ffmpeg's) error messages, without its banner and the "[demuxer @ 0x…]" / "path: " prefixes."""
    lines = [line.strip() for line in (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines() if line.strip()]
    found: list[str] = []
    for line in lines:
        if line.startswith("["):
            line = re.sub(r"^\[[^\]]*\]\s*", "", line)
        elif path and line.startswith(f"{path}: "):  # "path/of/the/file: message"
            line = line[len(f"{path}: ") :]
        else:  # the version banner
            continue
        if line not in found:
            found.append(line)
    return found or lines[-1:] or ["ffprobe failed"]


def _ffprobe_error(exc: ffmpeg.Error, path: Path | str = "") -> str:
    """The last (most telling) error message of ffprobe or ffmpeg."""
    return _ffprobe_messages(exc, path)[-1]


def _is_image(format_name: str) -> bool:
    """ffmpeg's demuxers of still images: ``image2`` and the ``*_pipe`` family (png_pipe, jpeg_pipe, …)."""
    return any(name == "image2" or name.endswith("_pipe") for name in format_name.split(","))


def _stream_duration(stream: dict) -> float:
    """A stream's duration from its header (mp4: ``duration``; Matroska: the DURATION tag); 0 when not stated."""
    if stream.get("duration") not in (None, "N/A"):
        return float(stream["duration"])
    tag = (stream.get("tags") or {}).get("DURATION", "")
    match = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tag.strip())
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3]) if match else 0.0


def _rotation(stream: dict) -> int:
    """Degrees of display rotation stored with a video stream (display matrix side data or the old rotate tag)."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    return int((stream.get("tags") or {}).get("rotate", 0) or 0) % 360


def probe(path: Path | str) -> MediaInfo:
    """Read the container and stream facts of a media file; refuse what is not audio or video."""
    require_ffmpeg()
    path = Path(path)
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if not path.is_file():
        raise InputError(f"input is not a file: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"input file is empty: {path}")
    try:
        info = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        why = _ffprobe_messages(exc, path)
        if "moov atom not found" in why and _starts_like_mp4(path):
            raise InputError(f"{path.name} is truncated or incomplete: its index (moov atom) is missing") from exc
        raise InputError(f"not a readable video file: {path.name} ({why[-1]})") from exc
    streams = info.get("streams", [])
    container = info.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if _is_image(container.get("format_name", "")):
        codec = video.get("codec_name", "image") if video else "image"
        raise InputError(f"{path.name} is a still image ({codec}), not a video")
    _check_complete(path, container, streams)
    duration = float(container.get("duration") or 0.0)
    media = MediaInfo(path=str(path.resolve()), duration=duration, has_video=video is not None, has_audio=audio is not None)
    if video is not None:
        fps = Fraction(video.get("avg_frame_rate") or "0/1") if video.get("avg_frame_rate") not in (None, "0/0") else Fraction(0)
        media.width = int(video.get("width", 0))
        media.height = int(video.get("height", 0))
        media.fps = float(fps)
        media.frame_count = int(video.get("nb_frames") or round(duration * float(fps)))
        media.video_codec = video.get("codec_name", "")
        media.rotation = _rotation(video)
    if audio is not None:
        media.audio_codec = audio.get("codec_name", "")
        media.audio_sample_rate = int(audio.get("sample_rate", 0))
        media.audio_channels = int(audio.get("channels", 0))
        media.audio_duration = _stream_duration(audio)
    return media


def _starts_like_mp4(path: Path) -> bool:
    """Whether the file begins with an ISO-BMFF box (ftyp, mdat, …): a real MP4/MOV, not another file renamed."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    return len(head) == 8 and head[4:8] in (b"ftyp", b"mdat", b"moov", b"free", b"skip", b"wide")


def _check_complete(path: Path, container: dict, streams: list[dict]) -> None:
    """Refuse an MP4/MOV whose index lists more media than the file holds (cut off while copied or written).

    ffprobe's per-stream bit rate of these containers comes from the index's sample sizes, so
    rate × duration summed over the streams is the media the file should hold.
    """
    if not any(name in ("mov", "mp4") for name in container.get("format_name", "").split(",")):
        return
    listed = sum(float(s.get("bit_rate") or 0) * float(s.get("duration") or 0) / 8 for s in streams)
    size = float(container.get("size") or path.stat().st_size)
    if listed > 0 and size < TRUNCATED_BELOW * listed:
        raise InputError(f"{path.name} is truncated: it holds {size / listed:.0%} of the media its index lists")


def _is_cover_art(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def validate(media: MediaInfo, max_duration_s: float | None = None) -> MediaInfo:
    """Refuse sources that cannot be dubbed, with a message naming the problem (audio-only sources pass)."""
    name = Path(media.path).name
    if not media.has_video and not media.has_audio:
        raise InputError(f"no audio or video stream in {name}: not a video file")
    if not media.has_audio:
        raise InputError(f"no audio stream in {name}: there is no speech to dub")
    if media.duration <= 0.0:
        raise InputError(f"{name} has no duration: the file is truncated or corrupt")
    if media.has_video and (media.width <= 0 or media.height <= 0):
        raise InputError(f"the video stream of {name} has no picture size: the file is corrupt")
    if max_duration_s is not None and media.duration > max_duration_s:
        raise InputError(
            f"{name} is {media.duration:.0f} s long, over the limit of {max_duration_s:.0f} s (--max-duration)"
        )
    return media


def extract_audio(source: Path | str, mix_48k: Path | str, mono_16k: Path | str, expected_s: float = 0.0) -> None:
    """Decode the first audio stream to a 48 kHz stereo WAV and a 16 kHz mono WAV.

    With ``expected_s`` (the stream's duration from the header), a decode that stops well short
    of it means the file is cut off: InputError, and no WAV is left under its final name.
    """
    require_ffmpeg()
    stream = ffmpeg.input(str(source)).audio
    name = Path(source).name
    for target, rate, channels in ((mix_48k, MIX_RATE, 2), (mono_16k, ANALYSIS_RATE, 1)):
        with atomic_path(target) as tmp:
            try:
                (
                    stream.output(str(tmp), acodec="pcm_s16le", ar=rate, ac=channels, format="wav")
                    .overwrite_output()
                    .run(quiet=True)
                )
            except ffmpeg.Error as exc:
                raise InputError(f"cannot decode the audio of {name}: {_ffprobe_error(exc, source)}") from exc
            decoded = _wav_seconds(tmp)
            if expected_s > 0 and decoded < expected_s - max(1.0, 0.02 * expected_s):
                raise InputError(f"{name} is truncated or damaged: its audio stops at {decoded:.1f} s of {expected_s:.1f} s")


def _wav_seconds(path: Path) -> float:
    import soundfile

    info = soundfile.info(str(path))
    return info.frames / float(info.samplerate)


@dataclass(frozen=True)
class PicturePlan:
    """What the source picture needs before frame-by-frame work; nothing needed: the source is read as it is."""

    width: int
    height: int
    rotation: int = 0  # applied (frames turned upright, no rotation metadata left)
    rate: Fraction | None = None  # a variable-rate picture is re-timed to this constant rate
    source_rate: float = 0.0

    @property
    def upright_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    @property
    def odd(self) -> bool:
        return self.width % 2 == 1 or self.height % 2 == 1

    @property
    def needed(self) -> bool:
        return bool(self.rotation) or self.rate is not None or self.odd

    def fixes(self) -> list[str]:
        """What normalising corrects, in words (for the report and the command line)."""
        notes = []
        if self.rate is not None:
            notes.append(f"variable frame rate (average {self.source_rate:.2f} fps) re-timed to a constant {float(self.rate):.3g} fps")
        if self.rotation:
            notes.append(f"rotation metadata ({self.rotation}°) applied to the frames")
        if self.odd:
            w, h = self.upright_size
            notes.append(f"odd size {w}x{h} padded to {w + w % 2}x{h + h % 2}")
        return notes


def frame_times(video: Path | str) -> np.ndarray:
    """Presentation times (s) of the first video stream's packets, sorted; read from the container, nothing decoded."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(video)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise InputError(f"cannot read the frame times of {Path(video).name}: {lines[-1] if lines else 'ffprobe failed'}")
    values = [float(v.strip().rstrip(",")) for v in done.stdout.split() if v.strip().rstrip(",") not in ("", "N/A")]
    return np.sort(np.asarray(values, dtype=float))


def variable_rate(times: np.ndarray, tolerance_frames: float = VFR_TOLERANCE_FRAMES) -> Fraction | None:
    """The constant rate to re-time a variable-rate stream to, or None when its frames sit on a constant grid.

    A stream is variable-rate when some frame strays more than ``tolerance_frames`` intervals from
    the evenly spaced grid between its first and last frame (frame index ↔ time then breaks). The
    rate chosen is the stream's usual one (median interval), snapped to a standard rate within 1 %.
    """
    if len(times) < 3:
        return None
    step = (times[-1] - times[0]) / (len(times) - 1)
    if step <= 0:
        return None
    grid = times[0] + step * np.arange(len(times))
    if np.max(np.abs(times - grid)) <= tolerance_frames * step:
        return None
    intervals = np.diff(times)
    usual = float(np.median(intervals[intervals > 0]))
    rate = Fraction(1.0 / usual).limit_denominator(1001)
    return next((r for r in STANDARD_RATES if abs(float(r) / float(rate) - 1.0) <= 0.01), rate)


def plan_picture(video: Path | str, media: MediaInfo) -> PicturePlan:
    """Check the source picture (rotation, size, frame timing) and say what must be normalised."""
    return PicturePlan(
        width=media.width, height=media.height, rotation=media.rotation, rate=variable_rate(frame_times(video)), source_rate=media.fps
    )


def normalize_picture(source: Path | str, out: Path | str, plan: PicturePlan) -> Path:
    """Write ``out``: the source's picture only, upright, at an even size and a constant rate (H.264 yuv420p)."""
    require_ffmpeg()
    filters = []
    if plan.rate is not None:
        filters.append(f"fps={plan.rate.numerator}/{plan.rate.denominator}")
    filters += ["pad=ceil(iw/2)*2:ceil(ih/2)*2", "format=yuv420p"]
    out = Path(out)
    with atomic_path(out) as tmp:
        # ffmpeg turns the frames upright itself (autorotate) and then writes no rotation metadata
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(source), "-map", "0:v:0", "-an", "-sn", "-dn"]
        cmd += ["-vf", ",".join(filters), "-c:v", "libx264", "-preset", PICTURE_PRESET, "-crf", str(PICTURE_CRF)]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
        done = subprocess.run(cmd, capture_output=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise PolydubError(f"ffmpeg could not normalise the picture of {Path(source).name}: {lines[-1] if lines else 'no message'}")
    return out
