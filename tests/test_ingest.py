"""Ingest: ffprobe facts, validation messages, audio extraction at both rates."""

from __future__ import annotations

import subprocess

import pytest
import soundfile as sf

from models.ingest import extract_audio, probe, validate
from polydub.errors import InputError


def _lavfi(out, *inputs: str, extra: tuple[str, ...] = ()) -> str:
    cmd = ["ffmpeg", "-v", "error"]
    for src in inputs:
        cmd += ["-f", "lavfi", "-i", src]
    subprocess.run([*cmd, *extra, "-y", str(out)], check=True)
    return str(out)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("ingest") / "clip.mp4"
    return _lavfi(out, "testsrc=size=320x180:rate=25:duration=3", "sine=frequency=300:duration=3:sample_rate=44100",
                  extra=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"))


def test_probe_reads_stream_facts(clip):
    media = probe(clip)
    assert media.has_video and media.has_audio
    assert (media.width, media.height, media.fps) == (320, 180, 25.0)
    assert abs(media.duration - 3.0) < 0.1
    assert media.video_codec == "h264" and media.audio_codec == "aac" and media.audio_sample_rate == 44100
    assert validate(media) is media


def test_validate_names_the_problem(tmp_path, clip):
    audio_only = probe(_lavfi(tmp_path / "a.m4a", "sine=duration=1", extra=("-c:a", "aac")))
    assert audio_only.audio_only and validate(audio_only) is audio_only  # dubbed without lip sync
    with pytest.raises(InputError, match="over the limit"):
        validate(probe(clip), max_duration_s=1.0)
    with pytest.raises(InputError, match="not found"):
        probe(tmp_path / "missing.mp4")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(open(clip, "rb").read()[:2000])
    with pytest.raises(InputError, match="truncated.mp4 is truncated or incomplete"):
        validate(probe(truncated))


def test_extract_audio_writes_both_rates(tmp_path, clip):
    mix, mono = tmp_path / "mix.wav", tmp_path / "mono.wav"
    extract_audio(clip, mix, mono)
    mix_info, mono_info = sf.info(str(mix)), sf.info(str(mono))
    assert (mix_info.samplerate, mix_info.channels) == (48000, 2)
    assert (mono_info.samplerate, mono_info.channels) == (16000, 1)
    assert abs(mix_info.duration - mono_info.duration) < 0.01
    assert abs(mix_info.duration - 3.0) < 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav", "mono.wav"]
