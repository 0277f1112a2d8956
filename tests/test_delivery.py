"""Delivery: manifest.json beside the outputs, copies to a folder and to S3 (moto's server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest

from polydub.delivery import MANIFEST, DeliveryError, Manifest, deliver, verify
from tests.prefect_server import free_port


def _job(out: Path, languages=("es", "ca"), failed=("eo",)) -> dict:
    """A job's outputs on disk (random bytes of different sizes) and the report naming them."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"source": {"video": "/in/talk.mp4", "sha256": "ab" * 32}, "languages": {}}
    for i, lang in enumerate(languages):
        outputs = {}
        for key, ext, size in (("video", "mp4", 200_000 + i), ("srt", "srt", 900 + i), ("vtt", "vtt", 950 + i)):
            path = out / f"talk.{lang}.{ext}"
            path.write_bytes(os.urandom(size))
            outputs[key] = str(path)
        report["languages"][lang] = {"status": "completed", "outputs": outputs}
    for lang in failed:
        report["languages"][lang] = {"status": "failed", "error": "synthesize: boom"}
    (out / "report.json").write_text(json.dumps(report))
    return report


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_manifest_lists_every_output_with_checksums(tmp_path):
    out = tmp_path / "out"
    report = _job(out)
    manifest = deliver(report, out)
    written = Manifest.model_validate_json((out / MANIFEST).read_text())
    assert written.files == manifest.files
    names = {f.name for f in written.files}
    assert names == {f"talk.{l}.{e}" for l in ("es", "ca") for e in ("mp4", "srt", "vtt")} | {"report.json"}
    for item in written.files:
        assert item.size == (out / item.name).stat().st_size
        assert item.sha256 == _sha(out / item.name)
    assert written.entry("talk.es.mp4").kind == "video" and written.entry("talk.es.mp4").language == "es"
    assert written.entry("report.json").kind == "report"
    assert written.source["sha256"] == "ab" * 32
    assert not any("eo" in n for n in names)  # a failed language has no outputs to list


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_deliver_to_folder_copies_outputs_and_manifest(tmp_path, as_url):
    out, dest = tmp_path / "out", tmp_path / "delivered" / "job1"
    report = _job(out)
    deliver(report, out, dest.as_uri() if as_url else str(dest))
    assert sorted(p.name for p in dest.iterdir()) == sorted(p.name for p in out.iterdir())  # no temporary names left
    verify(str(dest))
    for item in Manifest.model_validate_json((dest / MANIFEST).read_text()).files:
        assert (dest / item.name).read_bytes() == (out / item.name).read_bytes()


def test_verify_detects_a_changed_file(tmp_path):
    out, dest = tmp_path / "out", tmp_path / "dest"
    deliver(_job(out), out, str(dest))
    with open(dest / "talk.ca.srt", "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(DeliveryError, match="talk.ca.srt"):
        verify(str(dest))


def test_delivery_into_the_output_folder_itself_only_writes_the_manifest(tmp_path):
    out = tmp_path / "out"
    deliver(_job(out), out, str(out))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    verify(str(out))


def test_unwritable_destination_is_a_delivery_error(tmp_path):
    out = tmp_path / "out"
    report = _job(out)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError):
        deliver(report, out, str(blocker / "sub"))
    assert (out / MANIFEST).exists()  # the local manifest is still written


def test_unknown_protocol_is_a_delivery_error(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(DeliveryError, match="nosuchproto"):
        deliver(_job(out), out, "nosuchproto://bucket/x")


def test_unknown_protocol_is_refused_with_the_parameters(tmp_path):
    """A bad deliver_to fails when the job's parameters are read, not after the whole dubbing."""
    from pydantic import ValidationError

    from polydub.config import LocalizeParams

    with pytest.raises(ValidationError, match="unknown protocol 'nosuchproto'"):
        LocalizeParams(video="v.mp4", deliver_to="nosuchproto://bucket/x")
    for ok in ("s3://bucket/p", "file:///srv/out", str(tmp_path), "memory://x"):
        assert LocalizeParams(video="v.mp4", deliver_to=ok).deliver_to == ok
    assert LocalizeParams(video="v.mp4", deliver_to="").deliver_to is None


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 with dummy credentials in the environment."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    try:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="dubs")
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _s3_objects(endpoint: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    listed = s3.list_objects_v2(Bucket="dubs", Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket="dubs", Key=o["Key"])["Body"].read() for o in listed}


def test_deliver_to_s3_with_storage_options(tmp_path, s3_endpoint):
    out = tmp_path / "out"
    report = _job(out)
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}}
    deliver(report, out, "s3://dubs/jobs/talk/", storage_options=options)
    objects = _s3_objects(s3_endpoint, "jobs/talk/")
    manifest = Manifest.model_validate_json(objects.pop(MANIFEST))
    assert set(objects) == {f.name for f in manifest.files}
    for item in manifest.files:
        assert hashlib.sha256(objects[item.name]).hexdigest() == item.sha256 == _sha(out / item.name)
        assert len(objects[item.name]) == item.size
    assert verify("s3://dubs/jobs/talk", storage_options=options).files == manifest.files


def test_deliver_to_s3_endpoint_from_environment(tmp_path, s3_endpoint, monkeypatch):
    """How a worker is configured: AWS_ENDPOINT_URL and credentials in its environment, a plain s3:// URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    out = tmp_path / "out"
    deliver(_job(out, languages=("es",), failed=()), out, "s3://dubs/env-job")
    objects = _s3_objects(s3_endpoint, "env-job/")
    assert set(objects) == {"talk.es.mp4", "talk.es.srt", "talk.es.vtt", "report.json", MANIFEST}
    verify("s3://dubs/env-job")


def test_missing_bucket_is_a_delivery_error(tmp_path, s3_endpoint):
    out = tmp_path / "out"
    options = {"client_kwargs": {"endpoint_url": s3_endpoint}}
    with pytest.raises(DeliveryError):
        deliver(_job(out), out, "s3://no-such-bucket/x", storage_options=options)
