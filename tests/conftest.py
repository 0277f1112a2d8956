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
}.items():
    os.environ.setdefault(key, value)


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
