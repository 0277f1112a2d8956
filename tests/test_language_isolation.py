"""Failure isolation: a language whose stage keeps failing is retried with backoff, then marked failed with
the reason, while the other languages complete and are delivered; a permanent error is not retried."""

from __future__ import annotations

import errno
import json
import subprocess
import time
from pathlib import Path

import pytest
from prefect.states import Failed
from prefect.utilities.math import lower_clamp_multiple

from polydub.config import LocalizeParams
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError
from tasks.retry import POLICY, RetryPolicy, is_transient, retry_transient


def shared_work(tmp_path_factory) -> Path:
    """The work folder the e2e runs on `short_sample` share (test_redaction reuses this one's finished stages)."""
    return tmp_path_factory.getbasetemp() / "short-sample-work"


class _BrokenFor:
    """Wraps the real translator; records every attempt per target; some targets always fail."""

    def __init__(self, real, failures: dict[str, Exception]):
        self.real, self.failures = real, failures
        self.name, self.version = real.name, real.version
        self.attempts: dict[str, list[float]] = {}

    def check_pair(self, source: str, target: str) -> None:
        self.real.check_pair(source, target)

    def translate(self, texts, source, target, budgets=None):
        self.attempts.setdefault(target, []).append(time.monotonic())
        if target in self.failures:
            raise self.failures[target]
        return self.real.translate(texts, source, target)


@pytest.mark.parametrize(
    "exc, transient",
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (OSError(errno.EIO, "Input/output error"), True),
        (ConnectionResetError("connection reset by peer"), True),
        (TimeoutError("stage timed out"), True),
        (subprocess.TimeoutExpired(["ffmpeg"], 60), True),
        (MemoryError(), True),
        (InputError("not a readable video file"), False),
        (UnsupportedLanguageError("no Apertium pair en→de"), False),
        (BackendUnavailableError("pip install TTS"), False),
        (OSError(errno.ENOSPC, "No space left on device"), False),
        (OSError(errno.EROFS, "Read-only file system"), False),
        (FileNotFoundError("ffmpeg"), False),
        (PermissionError("denied"), False),
        (subprocess.CalledProcessError(1, ["espeak-ng"]), False),
        (ValueError("bad value"), False),
        (KeyError("speaker"), False),
    ],
)
def test_only_transient_errors_are_retried(exc, transient):
    assert is_transient(exc) is transient
    assert retry_transient(None, None, Failed(data=exc)) is transient  # what Prefect calls


def test_policy_from_environment_and_on_every_stage_task(monkeypatch):
    from tasks import deliver, diarize, faces, ingest, lipsync, mix, quality, references, separate, synthesize, transcribe, translate

    env = {"POLYDUB_STAGE_RETRIES": "3", "POLYDUB_STAGE_RETRY_DELAY_S": "0.5", "POLYDUB_STAGE_RETRY_JITTER": "0"}
    policy = RetryPolicy.from_env(env)
    assert (policy.retries, policy.delays(), policy.jitter) == (3, [0.5, 1.0, 2.0], 0)
    assert RetryPolicy.from_env({}) == RetryPolicy() and RetryPolicy().delays() == [10.0, 20.0]
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy.from_env({"POLYDUB_STAGE_RETRIES": "-1"})
    stage_tasks = [
        ingest.ingest_source, transcribe.transcribe, diarize.diarize, diarize.profile_speakers, faces.analyze_faces,
        separate.separate, references.choose_references, translate.translate, synthesize.synthesize, synthesize.fit,
        mix.mix, lipsync.lipsync, deliver.deliver, quality.measure_quality,
    ]
    for stage in stage_tasks:
        assert stage.retries == POLICY.retries and stage.retry_delay_seconds == POLICY.delays(), stage.name
        assert stage.retry_condition_fn is retry_transient and stage.retry_jitter_factor == POLICY.jitter, stage.name


@pytest.mark.e2e
def test_a_failing_language_is_retried_then_failed_and_the_others_delivered(short_sample, tmp_path, tmp_path_factory, monkeypatch):
    import flows.language
    from flows.localize import LanguagesFailed, localize
    from tasks import backends
    from tasks.translate import translate

    # the configured policy's jitter (and retries, at least 2), with a short delay so the test waits ~3 s, not 30
    policy = POLICY.model_copy(update={"delay_s": 1.0, "retries": max(POLICY.retries, 2)})
    monkeypatch.setattr(flows.language, "translate", translate.with_options(**policy.task_options()))
    down, unsupported = RuntimeError("translation service for ca is down"), UnsupportedLanguageError("no eo dictionary on this host")
    fake = _BrokenFor(backends.translator("apertium"), {"ca": down, "eo": unsupported})
    monkeypatch.setattr(backends, "translator", lambda name, options=(): fake)
    out = tmp_path / "out"
    params = LocalizeParams(video=str(short_sample), targets="es,ca,eo", out_dir=str(out), work_dir=str(shared_work(tmp_path_factory)))

    with pytest.raises(LanguagesFailed, match="2 of 3 languages failed") as failed:
        localize(params)
    message = str(failed.value)  # what the CLI prints after `error:`
    assert "ca: " in message and "translation service for ca is down" in message
    assert "eo: " in message and "no eo dictionary on this host" in message

    # the transient failure: 1 + retries attempts, each wait at least its jittered backoff and longer than the last
    tries = fake.attempts["ca"]
    assert len(tries) == 1 + policy.retries
    gaps = [b - a for a, b in zip(tries, tries[1:])]
    floor = lower_clamp_multiple(1 + policy.jitter)
    for gap, delay in zip(gaps, policy.delays()):
        assert gap >= delay * floor, (gaps, policy.delays())
    assert all(later > earlier for earlier, later in zip(gaps, gaps[1:])), gaps
    assert len(fake.attempts["eo"]) == 1  # permanent: not retried
    assert len(fake.attempts.get("es", [])) <= 1  # 0 when an earlier test's run left it in the shared work folder

    report = json.loads((out / "report.json").read_text())
    langs = report["languages"]
    assert langs["es"]["status"] == "completed"
    assert langs["ca"]["status"] == "failed" and "translation service for ca is down" in langs["ca"]["error"]
    assert langs["eo"]["status"] == "failed" and "no eo dictionary on this host" in langs["eo"]["error"]
    stem = short_sample.stem
    delivered = [f"{stem}.es.mp4", f"{stem}.es.report.html", f"{stem}.es.srt", f"{stem}.es.vtt", "manifest.json", "report.json"]
    assert sorted(p.name for p in out.iterdir()) == delivered  # nothing of the failed languages
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(f["name"] for f in manifest["files"]) == sorted(delivered[:4] + ["report.json"])
    assert {f["language"] for f in manifest["files"] if f["language"]} == {"es"}

    # each language ran as a subflow of this localize run (nested under it in the UI), failed ones included
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        (parent,) = [r for r in runs if isinstance(r.parameters.get("params"), dict) and r.parameters["params"].get("out_dir") == str(out)]
        children = [r for r in runs if r.parameters.get("out_dir") == str(out)]
        parents = {client.read_task_run(r.parent_task_run_id).flow_run_id for r in children if r.parent_task_run_id}
    assert sorted(r.parameters["language"] for r in children) == ["ca", "eo", "es"]
    assert parents == {parent.id} and all(r.parent_task_run_id for r in children)
