"""`polydub doctor`: per-stage checks of a profile, and the exit status that says whether a run would work."""

from __future__ import annotations

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
