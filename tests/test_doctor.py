"""`polydub doctor`: per-stage checks of a profile, and the exit status that says whether a run would work."""

from __future__ import annotations

import os
import subprocess

from models.preflight import Check
from polydub import doctor
from polydub.config import Profile


def test_lite_profile_is_complete_on_this_machine():
    checks = doctor.run_checks(Profile.lite)
    assert {c.stage for c in checks} >= {"ingest", "transcribe", "diarize", "translate", "synthesize", "faces"}
    assert [c for c in checks if doctor.is_blocking(c)] == []
    pairs = next(c for c in checks if c.item == "Apertium language pairs")
    assert "es" in pairs.detail


def test_a_missing_program_is_named_with_its_install_command(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    checks = doctor.lite_checks()
    missing = {c.item: c.fix for c in checks if doctor.is_blocking(c)}
    assert missing["program ffmpeg"] == "apt-get install ffmpeg"
    assert missing["program espeak-ng"] == "apt-get install espeak-ng"
    assert "ffmpeg" in doctor.blocking_summary(checks)


def test_licence_notes_inform_but_do_not_block():
    note = Check("faces", "licence dlib 68-point landmarks", False, "commercial use restricted")
    assert not doctor.is_blocking(note)
    assert doctor.is_blocking(Check("faces", "package dlib-bin", False, "not installed"))


def test_a_studio_backend_that_cannot_be_imported_is_a_failure(monkeypatch):
    monkeypatch.setitem(doctor.STUDIO_MODULES, "lipsync", "models.lipsync.no_such_backend")
    failing = [c for c in doctor.studio_checks() if c.stage == "lipsync"]
    assert len(failing) == 1 and doctor.is_blocking(failing[0])
    assert "cannot import" in failing[0].detail


def test_cli_exit_status_follows_the_checks(polydub_bin, tmp_path):
    ok = subprocess.run([polydub_bin, "doctor"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "lite profile" in ok.stdout and "dlib" in ok.stdout
    broken = subprocess.run([polydub_bin, "doctor"], capture_output=True, text=True, timeout=300, env={"PATH": str(tmp_path), "HOME": str(tmp_path)})
    assert broken.returncode == 1
    assert "would fail" in broken.stderr


def test_a_runs_stage_options_reach_the_backends_own_checks(tmp_path):
    """`--model translate.family=m2m100` checks M2M100's weights, not NLLB's; `lipsync.lora` checks that LoRA."""
    from polydub.config import Backends

    lora = tmp_path / "my-lora"
    lora.mkdir()
    studio = Backends.for_profile(Profile.studio, models={"translate.family": "m2m100", "lipsync.lora": str(lora)})
    checks = doctor.run_checks(Profile.studio, backends=studio)
    translate = [c.item for c in checks if c.stage == "translate"]
    assert "weights facebook/m2m100_418M" in translate and not any("nllb" in item for item in translate)
    lipsync = {c.item: c for c in checks if c.stage == "lipsync"}
    assert lipsync[f"weights {lora}"].ok and lipsync[f"weights {lora}"].detail == f"local folder {lora}"


def test_cli_takes_a_runs_backend_and_model_choices(polydub_bin):
    wide = {**os.environ, "COLUMNS": "240"}
    lite_nllb = subprocess.run([polydub_bin, "doctor", "--backend", "translate=seq2seq", "--model", "translate.family=m2m100"],
                               capture_output=True, text=True, timeout=300, env=wide)
    assert "weights facebook/m2m100_418M" in lite_nllb.stdout and "apertium" not in lite_nllb.stdout.lower()
    assert lite_nllb.returncode == 1 and "would fail" in lite_nllb.stderr  # the weights are not on this machine
    bad = subprocess.run([polydub_bin, "doctor", "--model", "translate"], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "--model takes STAGE=VALUE, got 'translate'" in bad.stderr
