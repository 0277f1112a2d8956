"""Ingest: probe the source with ffprobe, validate it, extract its audio."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import ffmpeg

from models.data import MediaInfo
from polydub.errors import BackendUnavailableError, InputError
from polydub.workdir import atomic_path

MIX_RATE = 48000
ANALYSIS_RATE = 16000


def require_ffmpeg() -> None:
    """Fail early, with the install command, when ffmpeg/ffprobe are missing."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            raise BackendUnavailableError(f"{tool} is not installed: apt-get install ffmpeg")


def _ffprobe_error(exc: ffmpeg.Error) -> str:
    lines = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "ffprobe failed"


def probe(path: Path | str) -> MediaInfo:
    """Read the container and stream facts of a media file."""
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
        raise InputError(f"not a readable video file: {path.name} ({_ffprobe_error(exc)})") from exc
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(info.get("format", {}).get("duration") or 0.0)
    media = MediaInfo(path=str(path.resolve()), duration=duration, has_video=video is not None, has_audio=audio is not None)
    if video is not None:
        fps = Fraction(video.get("avg_frame_rate") or "0/1") if video.get("avg_frame_rate") not in (None, "0/0") else Fraction(0)
        media.width = int(video.get("width", 0))
        media.height = int(video.get("height", 0))
        media.fps = float(fps)
        media.frame_count = int(video.get("nb_frames") or round(duration * float(fps)))
        media.video_codec = video.get("codec_name", "")
    if audio is not None:
        media.audio_codec = audio.get("codec_name", "")
        media.audio_sample_rate = int(audio.get("sample_rate", 0))
        media.audio_channels = int(audio.get("channels", 0))
    return media


def _is_cover_art(stream: dict) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def validate(media: MediaInfo, max_duration_s: float | None = None) -> MediaInfo:
    """Refuse sources that cannot be dubbed, with a message naming the problem."""
    name = Path(media.path).name
    if not media.has_video and not media.has_audio:
        raise InputError(f"no audio or video stream in {name}: not a video file")
    if not media.has_video:
        raise InputError(f"no video stream in {name}: polydub localizes videos")
    if not media.has_audio:
        raise InputError(f"no audio stream in {name}: there is no speech to dub")
    if media.duration <= 0.0:
        raise InputError(f"{name} has no duration: the file is truncated or corrupt")
    if max_duration_s is not None and media.duration > max_duration_s:
        raise InputError(f"{name} is {media.duration:.0f} s long, over the limit of {max_duration_s:.0f} s")
    return media


def extract_audio(source: Path | str, mix_48k: Path | str, mono_16k: Path | str) -> None:
    """Decode the first audio stream to a 48 kHz stereo WAV and a 16 kHz mono WAV."""
    require_ffmpeg()
    stream = ffmpeg.input(str(source)).audio
    for target, rate, channels in ((mix_48k, MIX_RATE, 2), (mono_16k, ANALYSIS_RATE, 1)):
        with atomic_path(target) as tmp:
            try:
                (
                    stream.output(str(tmp), acodec="pcm_s16le", ar=rate, ac=channels, format="wav")
                    .overwrite_output()
                    .run(quiet=True)
                )
            except ffmpeg.Error as exc:
                raise InputError(f"cannot decode the audio of {Path(source).name}: {_ffprobe_error(exc)}") from exc
