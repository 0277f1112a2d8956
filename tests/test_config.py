"""Run parameters: target parsing, bounds and profiles are checked before any work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from polydub.config import Backends, LocalizeParams, Profile
from polydub.errors import BackendUnavailableError, UnsupportedLanguageError


def test_targets_are_parsed_and_normalized():
    assert LocalizeParams(video="v.mp4", targets="es, CA,eo").targets == ["es", "ca", "eo"]
    assert LocalizeParams(video="v.mp4", targets=["spa"]).targets == ["es"]


def test_duplicate_and_empty_targets_are_refused():
    with pytest.raises(ValidationError, match="twice"):
        LocalizeParams(video="v.mp4", targets="es,es")
    with pytest.raises(ValidationError, match="no target"):
        LocalizeParams(video="v.mp4", targets=" , ")


def test_source_language_as_target_is_refused():
    with pytest.raises(ValidationError, match="source language") as caught:
        LocalizeParams(video="v.mp4", targets="es,en", source_language="en")
    # a ValueError, so pydantic (and the Prefect UI) report it against the field
    assert isinstance(caught.value.errors()[0]["ctx"]["error"], UnsupportedLanguageError)


def test_speed_bounds_are_validated():
    with pytest.raises(ValidationError):
        LocalizeParams(video="v.mp4", targets="es", max_speed=0.9)
    with pytest.raises(ValidationError):
        LocalizeParams(video="v.mp4", targets="es", min_speed=1.2)


def test_profiles():
    assert Backends.for_profile(Profile.lite).translate == "apertium"
    with pytest.raises(BackendUnavailableError, match="--profile lite"):
        Backends.for_profile(Profile.studio)


def test_work_root_default_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYDUB_WORK_DIR", str(tmp_path))
    assert LocalizeParams(video="v.mp4", targets="es").work_root == tmp_path
    assert LocalizeParams(video="v.mp4", targets="es", work_dir="/x").work_root.as_posix() == "/x"
