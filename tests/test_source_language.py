"""`source_language='auto'`: the transcriber detects the language, and the languages are dubbed from it."""

from __future__ import annotations

import subprocess

import pytest

from flows.localize import with_detected_language
from flows.source import analyze_source
from polydub.config import Backends, LocalizeParams
from polydub.errors import UnsupportedLanguageError
from tests.speech_material import MONOLOGUE_SCRIPT, conversation


@pytest.fixture(scope="module")
def detected(tmp_path_factory):
    base = tmp_path_factory.mktemp("auto")
    wav, _, _ = conversation(base, MONOLOGUE_SCRIPT[:2])
    video = base / "talk.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-i", str(wav), "-shortest",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-y", str(video)], check=True)  # fmt: skip
    return analyze_source(str(video), str(base / "work"), "auto", Backends())


def test_the_transcriber_detects_the_source_language(detected):
    assert detected.language == "en" and detected.lines.lines
    runs = [r for r in detected.work.ledger() if r.stage == "transcribe"]
    assert [r.status for r in runs] == ["computed"]


def test_targets_follow_the_detected_language(detected):
    params = LocalizeParams(video="talk.mp4", targets="en,es", source_language="auto")
    resolved, skipped = with_detected_language(params, detected)
    assert (resolved.source_language, resolved.targets) == ("en", ["es"])
    assert skipped == {"en": "the video already speaks en (detected)"}
    given = LocalizeParams(video="talk.mp4", targets="es", source_language="en")
    assert with_detected_language(given, detected) == (given, {})
    with pytest.raises(UnsupportedLanguageError, match="speaks en .detected., the only target"):
        with_detected_language(LocalizeParams(video="talk.mp4", targets="en", source_language="auto"), detected)
