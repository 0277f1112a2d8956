"""Mux the dubbed soundtrack into the source video (ffmpeg through ffmpeg-python, no shell).

The video stream is copied untouched; the dubbed audio is encoded to AAC as the first,
default audio track tagged with its ISO 639-2 language; the original audio can follow
as a second, non-default track. The output is cut to the video stream's duration so
the file is exactly as long as the picture, and appears atomically.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg

from models.ingest import require_ffmpeg
from models.languages import alpha3
from polydub.errors import InputError, PolydubError
from polydub.workdir import atomic_path

AUDIO_CODEC = "aac"
AUDIO_BITRATE = "192k"
MP4_LIKE = {".mp4", ".m4v", ".mov", ".m4a"}  # use_metadata_tags: keep every disclosure tag


def video_duration(video: Path) -> float:
    """Duration of the first video stream (falls back to the container's); InputError if there is none."""
    try:
        info = ffmpeg.probe(str(video))
    except ffmpeg.Error as exc:
        raise InputError(f"cannot read {video}: {_last_line(exc.stderr)}") from exc
    streams = [s for s in info.get("streams", []) if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not streams:
        raise InputError(f"{video} has no video stream (an audio-only source is muxed with video=None)")
    duration = streams[0].get("duration") or info.get("format", {}).get("duration")
    if duration is None:
        raise InputError(f"{video}: ffprobe reports no duration")
    return float(duration)


def mux_audio(
    audio: Path,
    out: Path,
    language: str,
    duration: float,
    original_audio: Path | None = None,
    original_language: str = "en",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``out`` (.m4a) for an audio-only source: the dubbed ``audio`` (+ optional original), ``duration`` s long."""
    return mux_video(None, audio, out, language, original_audio, original_language, metadata, duration=duration)


def mux_video(
    video: Path | None,
    audio: Path,
    out: Path,
    language: str,
    original_audio: Path | None = None,
    original_language: str = "en",
    metadata: dict[str, str] | None = None,
    duration: float | None = None,
) -> Path:
    """Write ``out``: ``video``'s picture (copied) + dubbed ``audio`` (+ optional original) tracks.

    Without ``video`` (an audio-only source) the file holds the audio tracks only, cut to ``duration``.
    """
    audio, out = Path(audio), Path(out)
    require_ffmpeg()
    for path in (video, audio, original_audio):
        if path is not None and not Path(path).exists():
            raise InputError(f"file not found: {path}")
    if video is None:
        if duration is None:
            raise ValueError("an audio-only mux needs the duration")
        streams = [ffmpeg.input(str(audio))["a:0"]]
    else:
        duration = video_duration(Path(video))
        streams = [ffmpeg.input(str(video))["v:0"], ffmpeg.input(str(audio))["a:0"]]
    options: dict[str, object] = {
        **({"c:v": "copy"} if video is not None else {}),
        "c:a": AUDIO_CODEC,
        "b:a": AUDIO_BITRATE,
        "t": f"{duration:.6f}",
        "metadata:s:a:0": f"language={alpha3(language)}",
        "disposition:a:0": "default",
    }
    if original_audio is not None:
        streams.append(ffmpeg.input(str(original_audio))["a:0"])
        options["metadata:s:a:1"] = f"language={alpha3(original_language)}"
        options["disposition:a:1"] = "0"
    if out.suffix.lower() in MP4_LIKE:
        options["movflags"] = "+faststart+use_metadata_tags"
    with atomic_path(out) as tmp:
        args = ffmpeg.output(*streams, str(tmp), **options).overwrite_output().compile()
        # ffmpeg-python cannot repeat an option: put one -metadata per entry before the output name
        container_tags = [arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")]
        at = args.index(str(tmp))
        args[at:at] = container_tags
        done = subprocess.run(args, capture_output=True, check=False)
        if done.returncode != 0:
            raise PolydubError(f"ffmpeg could not mux {out.name}: {_last_line(done.stderr)}")
    return out


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"
