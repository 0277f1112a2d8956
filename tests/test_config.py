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


def test_profiles_choose_every_stage_and_each_choice_can_be_overridden():
    lite = Backends.for_profile(Profile.lite)
    assert (lite.translate, lite.separate, lite.faces, lite.lipsync) == ("apertium", "none", "dlib", "lite")
    studio = Backends.for_profile(Profile.studio)
    assert (studio.diarize, studio.separate, studio.translate, studio.synthesize, studio.faces, studio.lipsync) == (
        "pyannote", "demucs", "seq2seq", "xtts", "insightface", "ltx",
    )  # fmt: skip
    assert studio.model("transcribe") == "large-v3" and studio.model("translate") is None
    mixed = Backends.for_profile(Profile.studio, translate="apertium", models={"lipsync": "/models/ltx"})
    assert mixed.translate == "apertium" and mixed.model("lipsync") == "/models/ltx" and mixed.synthesize == "xtts"


def test_studio_run_is_refused_up_front_when_this_machine_lacks_what_it_needs(tmp_path):
    from polydub.preflight import preflight

    video = tmp_path / "v.mp4"
    video.write_bytes(b"not checked: the backends are checked first")
    params = LocalizeParams(video=str(video), targets="es", profile="studio", out_dir=str(tmp_path / "out"))
    with pytest.raises(BackendUnavailableError, match="studio profile cannot run on this machine: .*GPU"):
        preflight(params)


def test_work_root_default_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYDUB_WORK_DIR", str(tmp_path))
    assert LocalizeParams(video="v.mp4", targets="es").work_root == tmp_path
    assert LocalizeParams(video="v.mp4", targets="es", work_dir="/x").work_root.as_posix() == "/x"


def test_stage_options_carry_the_model_and_backend_options():
    chosen = Backends.for_profile(Profile.studio, models={"lipsync": "/m/ltx", "lipsync.lora": "/m/lora", "translate.family": "m2m100"})
    assert chosen.options("lipsync") == (("lora", "/m/lora"), ("model", "/m/ltx"))
    assert chosen.options("translate") == (("family", "m2m100"),)
    assert chosen.options("diarize") == ()
    assert chosen.options("transcribe") == (("model", "large-v3"),)


def test_with_languages_on_a_pool_only_the_source_side_is_checked_here(tmp_path):
    from polydub.preflight import preflight

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    params = LocalizeParams(video=str(video), targets="es", profile="studio", out_dir=str(tmp_path / "out"), language_deployment="d/d")
    with pytest.raises(BackendUnavailableError) as refused:
        preflight(params)
    message = str(refused.value)
    assert "transcribe:" in message  # the source side runs here and lacks its GPU and weights
    assert "lipsync:" not in message and "synthesize:" not in message and "translate:" not in message


def test_a_run_overrides_any_stage_backend_and_model():
    params = LocalizeParams(video="v.mp4", targets="es", profile="studio", stage_backends={"translate": "apertium", "lipsync": "lite"},
                            models={"synthesize": "/m/xtts", "transcribe": "medium"})
    chosen = params.backends
    assert (chosen.translate, chosen.lipsync, chosen.synthesize, chosen.diarize) == ("apertium", "lite", "xtts", "pyannote")
    assert chosen.model("synthesize") == "/m/xtts" and chosen.model("transcribe") == "medium"
    with pytest.raises(ValidationError, match="no stage named mux"):
        LocalizeParams(video="v.mp4", targets="es", stage_backends={"mux": "x"})


def test_source_language_can_be_detected():
    params = LocalizeParams(video="v.mp4", targets="en,es", source_language="AUTO")
    assert params.source_language == "auto" and params.detects_language  # a target may equal what is detected
    assert LocalizeParams(video="v.mp4", targets="es", source_language="ENG").source_language == "en"
    with pytest.raises(ValidationError, match="not a language code"):
        LocalizeParams(video="v.mp4", targets="es", source_language="klingon-ish!")


def test_cli_key_value_options_are_parsed_or_refused_by_name():
    from polydub.cli import key_values
    from polydub.errors import PolydubError

    assert key_values(["translate=apertium", "lipsync.mode = native"], "--backend") == {"translate": "apertium", "lipsync.mode": "native"}
    with pytest.raises(PolydubError, match="--model takes STAGE=VALUE, got 'translate'"):
        key_values(["translate"], "--model")


def test_xtts_target_languages_are_checked_before_any_work(tmp_path):
    """A studio synthesizer chosen for a lite run is checked like in `polydub doctor`: the target it cannot speak is named."""
    import json

    from polydub import doctor
    from polydub.preflight import preflight

    xtts = tmp_path / "xtts"
    xtts.mkdir()
    (xtts / "config.json").write_text(json.dumps({"languages": ["en", "es", "zh-cn"]}))
    backends = Backends.for_profile(Profile.lite, synthesize="xtts", models={"synthesize": str(xtts)})
    checks = doctor.run_checks(Profile.lite, backends=backends, targets=["es", "zh", "eo"])
    languages = next(c for c in checks if c.item == "XTTS languages")
    assert not languages.ok and languages.detail == "XTTS cannot speak eo" and "es, zh" in languages.fix
    assert {c.stage for c in checks if c.item.startswith("program apertium")} == {"translate"}  # lite translation kept
    assert not any("nllb" in c.item for c in checks)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"not checked: the backends are checked first")
    params = LocalizeParams(video=str(video), targets="es,eo", stage_backends={"synthesize": "xtts"},
                            models={"synthesize": str(xtts)}, out_dir=str(tmp_path / "out"))
    with pytest.raises(BackendUnavailableError, match="XTTS cannot speak eo"):
        preflight(params)
