"""Shared fixtures: an isolated Prefect home, offline settings, and the sample video."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="polydub-prefect-")
for key, value in {
    "PREFECT_HOME": _PREFECT_HOME,
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PYANNOTE_METRICS_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # a loaded CI machine starts it slowly
    "POLYDUB_STAGE_RETRY_DELAY_S": "1",  # retries stay on, without 10 s + 20 s waits in a test
}.items():
    os.environ.setdefault(key, value)
for key in ("POLYDUB_C2PA_CERT", "POLYDUB_C2PA_KEY", "POLYDUB_C2PA_TSA_URL"):  # a developer's own key never signs test outputs
    os.environ.pop(key, None)


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """The generated interview sample with its ground truth (built once per test session)."""
    from polydub.sample import build_sample

    return build_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def polydub_bin() -> str:
    """The installed console script of this venv."""
    import sys

    return str(Path(sys.executable).with_name("polydub"))


SHORT_SAMPLE_SECONDS = 17.4  # the narrator's opening line and two lines of each on-screen speaker
TWO_LINES = (3.6, 7.8)  # start and length: one line of each on-screen speaker, nobody else


@pytest.fixture(scope="session")
def short_sample(sample, tmp_path_factory) -> Path:
    """The first 17.4 s of the sample (narrator off-screen, then both faces talking), for tests that run
    the whole pipeline several times."""
    from tests.speech_material import cut_sample

    return cut_sample(sample.video, tmp_path_factory.mktemp("short-sample") / "interview-short.mp4", SHORT_SAMPLE_SECONDS)


@pytest.fixture(scope="session")
def two_line_clip(sample, tmp_path_factory) -> Path:
    """7.8 s of the sample: one line of each on-screen speaker. For the end-to-end tests of orchestration
    (Prefect UI, triggers, fan-out, review), where what runs matters more than how well it dubs."""
    from tests.speech_material import cut_sample

    start, seconds = TWO_LINES
    return cut_sample(sample.video, tmp_path_factory.mktemp("two-lines") / "two-lines.mp4", seconds, start)


@pytest.fixture(scope="session")
def lite_runs(tmp_path_factory, sample, polydub_bin) -> dict:
    """Three CLI runs of the sample on the lite profile, sharing one work folder: `first` (es), `added` (es,ca)
    and `repeat` (es,ca again). Each entry: report.json, stdout, stderr and the output folder."""
    import json
    import subprocess

    base = tmp_path_factory.mktemp("lite-runs")
    runs = {"base": base, "work": base / "work"}
    for name, targets in (("first", "es"), ("added", "es,ca"), ("repeat", "es,ca")):
        out = base / name
        cmd = [polydub_bin, "localize", str(sample.video), "--to", targets, "--out", str(out), "--work-dir", str(base / "work"),
               "--reference-text", str(sample.reference_text), "--reference-rttm", str(sample.rttm)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        runs[name] = {"report": report, "stdout": done.stdout, "stderr": done.stderr, "out": out}
    return runs
