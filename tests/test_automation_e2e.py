"""File drop end to end, against real processes on 127.0.0.1.

`prefect server start`, `prefect deploy --all` from prefect.yaml, a process worker on polydub-cpu,
`polydub watch INBOX` running: a two-line cut of the sample copied into INBOX is announced, the
deployment trigger runs `localize` to Completed, the outputs and manifest.json are in place and delivered. The same
file dropped again (copied over, touched, announced by a second watcher, announced with a fresh
event id) starts no second run; a different file does. Then the `scan-inbox` flow starts one run
per new video, once, with a server-side idempotency key.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from polydub.delivery import MANIFEST, Manifest, verify
from polydub.watch import drop_key, event_id
from polydub.workdir import file_sha256
from tests.prefect_server import PrefectServer, _stop, deployed, prefect_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e
POLYDUB = str(Path(sys.executable).with_name("polydub"))


def _localize_runs(server: PrefectServer) -> list:
    with server.client() as client:
        deployment = client.read_deployment_by_name("localize/localize")
    return sorted(server.flow_runs(deployment_id=deployment.id), key=lambda r: r.created)


def _watch(server: PrefectServer, inbox: Path, out: Path, deliver: Path, *extra: str, log: Path) -> subprocess.Popen:
    args = [POLYDUB, "watch", str(inbox), "--to", "es", "--out", str(out), "--deliver-to", str(deliver), "--settle", "1", *extra]
    handle = open(log, "ab")
    return subprocess.Popen(args, env=server.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def test_dropped_file_is_localized_once(deployed: PrefectServer, two_line_clip, tmp_path):
    server = deployed
    inbox, out, deliver = tmp_path / "inbox", tmp_path / "out", tmp_path / "delivered"
    inbox.mkdir()
    watch_log = tmp_path / "watch.log"
    watcher = _watch(server, inbox, out, deliver, log=watch_log)
    try:
        with server.worker("polydub-cpu"):
            time.sleep(2)  # the observer is up
            dropped_at = datetime.now(timezone.utc)
            shutil.copyfile(two_line_clip, inbox / "interview.mp4")
            runs = server.wait_for(lambda c: _localize_runs(server), timeout=60, what="a localize run from the trigger")
            final = server.wait_for_flow_run(runs[0].id, timeout=480)  # about 40 s for the 7.8 s clip on a 2-core machine
            assert final.state.is_completed(), f"{final.state}\n{server.worker_log('polydub-cpu')[-4000:]}"
            print(f"drop → run created {(final.created - dropped_at).total_seconds():.1f} s, "
                  f"run {final.total_run_time.total_seconds():.1f} s, drop → completed {(final.end_time - dropped_at).total_seconds():.1f} s")

            # parameters templated from the event into the pydantic `params`
            params = final.parameters["params"]
            real = (inbox / "interview.mp4").resolve()
            first_key = drop_key(real, real.stat().st_size, file_sha256(real), ["es"])
            assert params["video"] == str((inbox / "interview.mp4").resolve())
            assert params["targets"] == ["es"] and params["out_dir"] == str(out / "interview")
            assert params["deliver_to"] == str(deliver / "interview")

            job = out / "interview"
            for name in ("interview.es.mp4", "interview.es.srt", "interview.es.vtt", "report.json", MANIFEST):
                assert (job / name).stat().st_size > 0, name
            manifest = verify(str(job))
            assert {f.name for f in manifest.files} == {"interview.es.mp4", "interview.es.srt", "interview.es.vtt", "interview.es.report.html", "report.json"}
            delivered = verify(str(deliver / "interview"))
            assert delivered.files == Manifest.model_validate_json((job / MANIFEST).read_text()).files

            # the same file again: copied over, touched, announced by a second watcher process
            shutil.copyfile(two_line_clip, inbox / "interview.mp4")
            os.utime(inbox / "interview.mp4")
            once = subprocess.run(
                [POLYDUB, "watch", str(inbox), "--to", "es", "--out", str(out), "--deliver-to", str(deliver), "--settle", "1", "--once"],
                env=server.env, capture_output=True, text=True, timeout=120,
            )
            assert once.returncode == 0, once.stdout + once.stderr
            assert "dropped" in once.stdout  # it did emit (the same event id)
            # ... and the same drop under a fresh event id (what a server restart would let through)
            _emit_with_fresh_id(server, inbox, out, deliver)
            # a different file is a new job (this one is not a video: its run fails fast)
            (inbox / "other.mp4").write_bytes(os.urandom(4096))
            second = server.wait_for(lambda c: len(_localize_runs(server)) >= 2 and _localize_runs(server), timeout=60, what="a run for other.mp4")
            time.sleep(6)  # time for any duplicate to show up
            runs = _localize_runs(server)
            videos = [r.parameters["params"]["video"] for r in runs]
            assert videos == [str((inbox / "interview.mp4").resolve()), str((inbox / "other.mp4").resolve())], videos
            assert server.wait_for_flow_run(second[1].id, timeout=120).state.is_failed()
            # stored for interview.mp4: the watcher's event once (the second watcher's repeat of that
            # id was dropped) and the fresh-id one, which the trigger's per-key window kept from running
            ids = server.wait_for(lambda c: len(_drop_event_ids(server, first_key)) >= 2 and _drop_event_ids(server, first_key), timeout=30, what="stored events")
            assert len(ids) == 2 and ids[0] == str(event_id(first_key)) != ids[1], ids
    finally:
        _stop(watcher)
    log = watch_log.read_text()
    assert log.count("dropped ") == 2, log  # interview.mp4 once, other.mp4 once: the re-copy was not re-announced


def _drop_event_ids(server: PrefectServer, key: str) -> list[str]:
    """Ids of the stored `polydub.source.dropped` events of one drop key, oldest first."""
    import httpx

    body = {"filter": {"event": {"name": ["polydub.source.dropped"]}, "order": "ASC"}, "limit": 50}
    events = httpx.post(f"{server.api_url}/events/filter", json=body, timeout=10).json()["events"]
    return [e["id"] for e in events if e["resource"]["polydub.drop-key"] == key]


def _emit_with_fresh_id(server: PrefectServer, inbox: Path, out: Path, deliver: Path) -> None:
    from prefect.events import emit_event

    from polydub.watch import DropOptions, Snapshot, build_drop_event, flush_events

    real = (inbox / "interview.mp4").resolve()
    drop = build_drop_event(inbox, real, Snapshot.of(real), file_sha256(real), DropOptions(("es",), out, deliver_to=str(deliver)))
    with server.settings():
        assert emit_event(drop.event, resource=drop.resource, related=drop.related, payload=drop.payload) is not None
        flush_events()


def test_scan_inbox_starts_each_new_video_once(deployed: PrefectServer, two_line_clip, tmp_path):
    """No worker here: the runs the scan starts stay scheduled; what matters is how many and with what."""
    from flows.scan import scan_inbox
    from polydub.inbox import ScanParams, ScanState

    server = deployed
    inbox = tmp_path / "scan-inbox"
    (inbox / "show").mkdir(parents=True)
    shutil.copyfile(two_line_clip, inbox / "show" / "ep1.mp4")
    (inbox / "ep2.mov.part").write_bytes(b"still downloading")
    params = ScanParams(inbox=str(inbox), targets=["es", "ca"], settle_s=0, work_dir=str(tmp_path / "work"), out_root=str(tmp_path / "scan-out"))
    before = {r.id for r in _localize_runs(server)}
    with server.settings():
        first = scan_inbox(params)
        assert scan_inbox(params) == []  # the state file remembers it
        ScanState.location(inbox, tmp_path / "work").unlink()
        third = scan_inbox(params)  # state lost: the server's idempotency key returns the same run
    assert len(first) == 1 and third[0]["flow_run_id"] == first[0]["flow_run_id"]
    new = [r for r in _localize_runs(server) if r.id not in before]
    assert len(new) == 1
    p = new[0].parameters["params"]
    assert p["video"] == str((inbox / "show" / "ep1.mp4").resolve()) and p["targets"] == ["es", "ca"]
    assert p["out_dir"] == str(tmp_path / "scan-out" / "show" / "ep1")
    assert new[0].idempotency_key.startswith("polydub-drop-")
