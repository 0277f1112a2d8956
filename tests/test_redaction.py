"""Tokens (HF, AWS/S3, Prefect, URL credentials, storage options) never reach logs, reports or error messages."""

from __future__ import annotations

import base64
import json
import logging
import socket
from pathlib import Path

import pytest

from polydub import redact
from polydub.redact import MASK, scrub, scrub_data

# distinctive fake values: any trace of them in an output is a leak
SECRETS = {
    "HF_TOKEN": "hf_polydubFAKEtokenQ7x9Vv2Lm4Np8Rs1Tu5Wy3Za6",
    "HUGGING_FACE_HUB_TOKEN": "hf_polydubFAKEhubTokenK3j5H7g9F1d3S5a7P9o1",
    "AWS_ACCESS_KEY_ID": "AKIAPOLYDUBFAKE7Q2X",
    "AWS_SECRET_ACCESS_KEY": "polydub/FAKE+secret/Key9sQ2wE4rT6yU8iO0pA1sD3",
    "AWS_SESSION_TOKEN": "FQoGZXIvYXdzEPolydubFakeSessionToken0123456789",
    "PREFECT_API_KEY": "pnu_polydubFAKEapiKEY0123456789abcdefABCDEF",
    "PREFECT_API_AUTH_STRING": "polydub-admin:FAKEauthPW-7xq2",
}
URL_PASSWORD = "FAKEurlPW-9zr4"
OPTION_SECRET = "FAKEstorageOptionSecret-3kd8"


def leaked(text: str) -> list[str]:
    """The secrets (or their base64 / URL forms) found in ``text``."""
    forms = [*SECRETS.values(), URL_PASSWORD, OPTION_SECRET, "polydub/FAKE+secret", "FAKEauthPW-7xq2"]
    forms += [base64.b64encode(SECRETS["PREFECT_API_AUTH_STRING"].encode()).decode()]
    return [s for s in forms if s in text]


@pytest.fixture
def secret_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def test_scrub_masks_environment_secrets_and_their_encodings(secret_env):
    auth = secret_env["PREFECT_API_AUTH_STRING"]
    text = (
        f"hf={secret_env['HF_TOKEN']} key={secret_env['AWS_ACCESS_KEY_ID']} session {secret_env['AWS_SESSION_TOKEN']} "
        f"basic {base64.b64encode(auth.encode()).decode()} quoted {secret_env['AWS_SECRET_ACCESS_KEY'].replace('/', '%2F').replace('+', '%2B')}"
    )
    clean = scrub(text)
    assert leaked(clean) == [] and clean.count(MASK) == 5, clean
    assert clean.startswith("hf=*** key=*** session ***")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cannot deliver to s3://AKIAXXXXXXXXXXXXXXXX:se/cr+et@bucket/jobs: denied", "cannot deliver to s3://***@bucket/jobs: denied"),
        (f"PUT https://deliverer:{URL_PASSWORD}@cdn.example.com:8443/out failed", "PUT https://***@cdn.example.com:8443/out failed"),
        ("clone https://ghp_tokenonly@github.com/x/y", "clone https://***@github.com/x/y"),
        ("GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AK%2F1&X-Amz-Signature=abc123&x=1", "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1"),
        ("{'key': 'AKIAABCDEFGHIJKLMNOP', 'secret': 'p4ss-w0rd'}", "{'key': '***', 'secret': '***'}"),
        ("aws_secret_access_key = abcdEFGH/1234+xyz", "aws_secret_access_key = ***"),
        ("headers: Authorization: Bearer abc.def.ghi", "headers: Authorization: Bearer ***"),
        ("token hf_abcdefghijklmnopqrstuvwxyz0123456789 used", "token *** used"),
        ("api key pnu_abcdefghijklmnopqrstuvwxyz0123456789 refused", "api key *** refused"),
        # ordinary text, local paths and URLs without credentials stay as they are
        ("Basic English lesson: the secret is patience", "Basic English lesson: the secret is patience"),
        ("file:///srv/out/talk@home.es.mp4 and s3://bucket/p@v2/x.mp4", "file:///srv/out/talk@home.es.mp4 and s3://bucket/p@v2/x.mp4"),
        ("write to /tmp/a:b/c.mp4 at https://example.com/x", "write to /tmp/a:b/c.mp4 at https://example.com/x"),
    ],
)
def test_scrub_masks_url_credentials_and_token_shapes(text, expected):
    assert scrub(text) == expected


def test_short_values_and_ordinary_variables_are_not_masked(monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TOKEN", "1")
    monkeypatch.setenv("POLYDUB_WORK_DIR", "/srv/polydub-work")
    assert scrub("1 line in /srv/polydub-work/abc") == "1 line in /srv/polydub-work/abc"


def test_registered_storage_options_and_data(secret_env):
    redact.register_mapping({"client_kwargs": {"region_name": "eu-west-1"}, "secret": OPTION_SECRET, "anon": False})
    assert scrub(f"denied for {OPTION_SECRET}") == "denied for ***" and scrub("eu-west-1") == "eu-west-1"
    data = {"error": f"failed with {secret_env['HF_TOKEN']}", "nested": [{"password": "hunter2-x"}, ("s3://k:v@b/p",)], "n": 3}
    assert scrub_data(data) == {"error": "failed with ***", "nested": [{"password": MASK}, ("s3://***@b/p",)], "n": 3}


def test_a_failing_stage_raises_its_error_scrubbed_with_its_causes(secret_env, tmp_path):
    from models.data import Lines
    from polydub.workdir import WorkDir
    from tasks.stage import run_cached

    def compute(folder: Path) -> Lines:
        try:
            raise PermissionError(13, f"denied for {secret_env['HF_TOKEN']}", f"s3://key:{URL_PASSWORD}@bucket/x")
        except OSError as exc:
            raise RuntimeError(f"upload failed aws={secret_env['AWS_SECRET_ACCESS_KEY']}") from exc

    with pytest.raises(RuntimeError) as failed:
        run_cached(WorkDir(tmp_path, "ab" * 32), "lines", Lines, compute, inputs=["x"])
    cause = failed.value.__cause__
    assert str(failed.value) == f"upload failed aws={MASK}"
    assert leaked(str(cause)) == [] and MASK in str(cause) and "s3://***@bucket/x" in str(cause)
    assert leaked(repr(failed.value)) == [] and leaked(repr(cause)) == []


def test_log_records_are_scrubbed_from_any_logger_and_traceback(secret_env, caplog):
    redact.install()
    redact.install()  # idempotent
    token = secret_env["HF_TOKEN"]
    caplog.set_level(logging.INFO, logger="prefect")
    with caplog.at_level(logging.INFO):
        logging.getLogger("prefect.tasks").info("Task run failed with exception: %r", RuntimeError(f"bad token {token}"))
        logging.getLogger("some.library").warning("connecting to %s", f"https://u:{URL_PASSWORD}@h/x")
        try:
            raise OSError(f"S3 refused {secret_env['AWS_SECRET_ACCESS_KEY']}")
        except OSError:
            logging.getLogger("polydub.delivery").exception("delivery failed")
    assert [r.name for r in caplog.records if r.name in ("prefect.tasks", "some.library", "polydub.delivery")] == ["prefect.tasks", "some.library", "polydub.delivery"]
    assert leaked(caplog.text) == [], caplog.text
    assert "bad token ***" in caplog.records[0].getMessage() and "S3 refused ***" in caplog.text


def test_filter_scrubs_records_of_a_handler():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "auth %s", (f"https://a:{URL_PASSWORD}@h",), None)
    assert redact.RedactingFilter().filter(record) and record.getMessage() == "auth https://***@h"


def test_delivery_errors_and_cli_messages_hold_no_credentials(tmp_path, capsys):
    import typer

    from polydub.cli import _fail
    from polydub.delivery import DeliveryError, _filesystem, check_destination, deliver

    with pytest.raises(DeliveryError) as unknown:
        check_destination(f"nosuch://user:{URL_PASSWORD}@host/x")
    assert URL_PASSWORD not in str(unknown.value) and "nosuch://***@host/x" in str(unknown.value)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    with pytest.raises(DeliveryError) as refused:  # nothing listens on that port: a connection error naming the URL
        deliver({"languages": {}}, out, f"https://deliverer:{URL_PASSWORD}@127.0.0.1:{_closed_port()}/out")
    assert leaked(str(refused.value)) == [] and "https://***@127.0.0.1" in str(refused.value)
    _filesystem("memory://jobs", {"secret": "FAKEmemoryOptionSecret-5ut1"})  # storage options' credentials are registered
    assert scrub("denied: FAKEmemoryOptionSecret-5ut1") == "denied: ***"
    with pytest.raises(typer.Exit):
        _fail(f"cannot read s3://AKIAPOLYDUBFAKE7Q2X:{URL_PASSWORD}@bucket/in.mp4")
    err = capsys.readouterr().err
    assert "error:" in err and leaked(err) == [] and "s3://***@bucket/in.mp4" in err


def shared_work(tmp_path_factory) -> Path:
    """The work folder the e2e runs on `short_sample` share (as in test_language_isolation): finished stages are reused."""
    return tmp_path_factory.getbasetemp() / "short-sample-work"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # free once the socket closes: connections are refused


class _LeakyTranslator:
    """The real translator, except that one language fails with a message full of credentials."""

    def __init__(self, real, broken: str, message: str):
        self.real, self.broken, self.message = real, broken, message
        self.name, self.version = real.name, real.version

    def check_pair(self, source: str, target: str) -> None:
        self.real.check_pair(source, target)

    def translate(self, texts, source, target, budgets=None):
        if target == self.broken:
            raise RuntimeError(self.message)
        return self.real.translate(texts, source, target)


@pytest.mark.e2e
def test_no_token_in_logs_reports_pages_or_artifacts_of_a_run(short_sample, tmp_path, tmp_path_factory, monkeypatch, secret_env):
    import flows.language
    import flows.localize
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogWorker

    from flows.localize import localize
    from polydub.config import LocalizeParams
    from polydub.delivery import DeliveryError
    from tasks import backends
    from tasks.publish import publish
    from tasks.retry import POLICY
    from tasks.translate import translate

    message = (
        f"MT service rejected hf={secret_env['HF_TOKEN']} aws={secret_env['AWS_SECRET_ACCESS_KEY']} "
        f"session={secret_env['AWS_SESSION_TOKEN']} via https://mt:{URL_PASSWORD}@mt.example.com/v1"
    )
    fake = _LeakyTranslator(backends.translator("apertium"), "ca", message)
    monkeypatch.setattr(backends, "translator", lambda name, options=(): fake)
    # retried (its logs repeat the message), without the production waits
    monkeypatch.setattr(flows.language, "translate", translate.with_options(**POLICY.model_copy(update={"delay_s": 0.1}).task_options()))
    monkeypatch.setattr(flows.localize, "publish", publish.with_options(retry_delay_seconds=0))
    out = tmp_path / "out"
    deliver_to = f"https://deliverer:{URL_PASSWORD}@127.0.0.1:{_closed_port()}/dubs"
    params = LocalizeParams(video=str(short_sample), targets="es,ca", out_dir=str(out), work_dir=str(shared_work(tmp_path_factory)), deliver_to=deliver_to)

    records: list[logging.LogRecord] = []  # every record any logger makes (as handlers get it), whatever the handlers are
    make_record = logging.getLogRecordFactory()

    def collect(*args, **kwargs) -> logging.LogRecord:
        records.append(make_record(*args, **kwargs))
        return records[-1]

    logging.setLogRecordFactory(collect)
    try:
        with pytest.raises(DeliveryError) as failed:  # the outputs are written, then the delivery is refused
            localize(params)
    finally:
        logging.setLogRecordFactory(make_record)
    APILogWorker.drain_all(timeout=30)

    assert leaked(str(failed.value)) == [] and "https://***@127.0.0.1" in str(failed.value)
    texts = [r.getMessage() + "\n" + (r.exc_text or "") for r in records]
    assert [t[:200] for t in texts if leaked(t)] == []
    assert any("MT service rejected" in t and MASK in t for t in texts), "the failure should have been logged, redacted"

    report = json.loads((out / "report.json").read_text())
    assert report["languages"]["es"]["status"] == "completed"
    assert "MT service rejected hf=*** aws=*** session=*** via https://***@mt.example.com/v1" in report["languages"]["ca"]["error"]
    written = [p for p in out.iterdir() if p.suffix in (".json", ".html", ".srt", ".vtt")]
    assert {"report.json", "manifest.json", f"{short_sample.stem}.es.report.html"} <= {p.name for p in written}
    for path in written:
        assert leaked(path.read_text(encoding="utf-8", errors="replace")) == [], path.name

    with get_client(sync_client=True) as client:
        logs, offset = [], 0
        while batch := client.read_logs(limit=200, offset=offset):
            logs += batch
            offset += len(batch)
        artifacts = client.read_artifacts()
        runs = [*client.read_task_runs(), *client.read_flow_runs()]
    states = "\n".join(r.state.message or "" for r in runs if r.state)  # the failure messages the UI shows
    assert "MT service rejected" in states and leaked(states) == [], [m for m in states.splitlines() if leaked(m)]
    api_logs = "\n".join(log.message for log in logs)
    assert "MT service rejected" in api_logs and leaked(api_logs) == []
    assert artifacts and leaked("\n".join(f"{a.key} {a.description} {json.dumps(a.data, default=str)}" for a in artifacts)) == []
