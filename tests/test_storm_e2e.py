"""Storms and a server restart, against real processes on 127.0.0.1.

`prefect server start`, `prefect deploy --all` (the `localize` deployment carries a concurrency
limit in prefect.yaml), `polydub watch INBOX`, process workers on polydub-cpu:

- 100 videos dropped into the inbox at once (three of them copied slowly, in chunks over a few
  seconds) start exactly one `localize` run each: none lost, none twice; a slow copy is announced
  only after its last write, with its final size and content hash.
- A smaller storm is run to the end by two workers that have more process slots between them
  than the deployment's limit: every file's run Completed with its outputs, the number of runs
  Running at once (from the API's state history) never above the deployment's limit, and the
  content-keyed stage cache computed each stage once for all the copies. Running 100 real runs
  takes about 16 CPU-seconds each here (a process per run), so the full 100 is `bench/storm.py`.
- The server is stopped (SIGTERM) while a run is Running and started again on the same port and
  SQLite database: the run ends Completed with its outputs, every stage's task run is recorded,
  and its concurrency-slot lease survived the restart.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import yaml

from polydub.inbox import RunConfirmer, TriggerOutcome, action_idempotency_key, localize_parameters, outcome_of
from polydub.watch import DropOptions, Snapshot, build_drop_event, path_resource_id
from polydub.workdir import file_sha256
from tests.speech_material import cut_sample
from tests.prefect_server import (
    REPO_ROOT,
    PrefectServer,
    _stop,
    copy_slowly,
    deploy_everything,
    max_overlap,
    running_intervals,
    running_server,
)

POLYDUB = str(Path(sys.executable).with_name("polydub"))
DROPPED_AT_ONCE = 100
RUN_TO_THE_END = 5  # files of the storm that is run to Completed in CI (bench/storm.py runs 100)
SLOW_COPY_S = 3.0
SETTLE_S = 1.5
WORKERS, WORKER_LIMIT = 2, 2  # process slots 4 between them: more than the deployment's limit
SERVER_ENV = {
    # slot leases on disk in PREFECT_HOME, so a restarted server still knows the slots Running runs hold
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
}
CONTENT_KEYED = ("transcribe", "diarize", "faces", "translate", "synthesize", "mix", "lipsync", "quality")


def localize_limit() -> int:
    """The concurrency limit prefect.yaml gives the `localize` deployment."""
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    (localize,) = [d for d in spec["deployments"] if d["name"] == "localize"]
    limit = localize["concurrency_limit"]
    return int(limit["limit"] if isinstance(limit, dict) else limit)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> PrefectServer:
    with running_server(tmp_path_factory.mktemp("storm"), extra_env=SERVER_ENV) as running:
        yield deploy_everything(running)


@pytest.fixture(scope="module")
def storm_clip(sample, tmp_path_factory) -> Path:
    """3.8 s of one on-screen speaker's line: every storm file is a copy of it."""
    return cut_sample(sample.video, tmp_path_factory.mktemp("clips") / "storm.mp4", 3.8, start=3.6)


def watch_inbox(server: PrefectServer, inbox: Path, out: Path, log: Path) -> subprocess.Popen:
    args = [POLYDUB, "watch", str(inbox), "--to", "es", "--out", str(out), "--settle", str(SETTLE_S)]
    with open(log, "ab") as handle:
        proc = subprocess.Popen(args, env=server.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while "watching" not in log.read_text(errors="replace"):  # the observer is up once it says so
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)
    return proc


def runs_for(server: PrefectServer, inbox: Path) -> list:
    """The `localize` runs whose video lies in ``inbox``, oldest first."""
    with server.client() as client:
        deployment = client.read_deployment_by_name("localize/localize")
    prefix = str(inbox.resolve()) + "/"
    runs = [r for r in server.flow_runs(deployment_id=deployment.id) if r.parameters["params"]["video"].startswith(prefix)]
    return sorted(runs, key=lambda r: r.created)


def drop_copies(clip: Path, inbox: Path, names: list[str], slow: list[str]) -> dict[str, float]:
    """Copy ``clip`` under every name at once: ``slow`` ones in chunks over SLOW_COPY_S seconds (threads),
    the rest straight away. Returns each slow copy's time of last write."""
    finished: dict[str, float] = {}
    threads = [threading.Thread(target=lambda n=n: finished.__setitem__(n, copy_slowly(clip, inbox / n, SLOW_COPY_S))) for n in slow]
    for thread in threads:
        thread.start()
    for name in names:
        if name not in slow:
            shutil.copyfile(clip, inbox / name)
    for thread in threads:
        thread.join()
    return finished


def wait_until_all_final(server: PrefectServer, inbox: Path, count: int, timeout: float, watch_log: Path) -> list:
    """Poll until ``count`` runs exist for ``inbox`` and every one is final; on timeout, say what was missing:
    runs not created yet (drops announced? trigger actions executed?) or runs not finished (their states)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = runs_for(server, inbox)
        if len(runs) >= count and all(r.state is not None and r.state.is_final() for r in runs):
            return runs
        if time.monotonic() > deadline:
            drops = [e for e in _latest_events(server, "polydub.source.dropped") if e["payload"]["path"].startswith(str(inbox.resolve()))]
            actions = [e["event"] for e in _latest_events(server, "prefect.automation.action.")]
            raise AssertionError(
                f"after {timeout:.0f} s: {len(runs)} of {count} runs, states {[(r.name, r.state.type.value if r.state else None) for r in runs]}; "
                f"{len(drops)} drops announced; trigger actions {sorted(set(actions))} ×{len(actions)}\n"
                f"watcher: {watch_log.read_text(errors='replace')[-3000:]}"
            )
        time.sleep(2)


def _latest_events(server: PrefectServer, prefix: str) -> list[dict]:
    body = {"filter": {"event": {"prefix": [prefix]}, "order": "DESC"}, "limit": 50}
    return httpx.post(f"{server.api_url}/events/filter", json=body, timeout=30).json()["events"]


def _drop_events(server: PrefectServer, path: Path) -> list[dict]:
    body = {"filter": {"event": {"name": ["polydub.source.dropped"]}, "resource": {"id": [path_resource_id(path)]}, "order": "ASC"}, "limit": 50}
    return httpx.post(f"{server.api_url}/events/filter", json=body, timeout=30).json()["events"]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_hundred_files_dropped_at_once_start_one_run_each(server: PrefectServer, storm_clip, tmp_path):
    """No worker: the runs stay Scheduled; what counts is one run per file, and when slow copies were announced."""
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    names = [f"upload {i:03d}.mp4" for i in range(DROPPED_AT_ONCE)]
    slow = names[:3]
    watch_log = tmp_path / "watch.log"
    watcher = watch_inbox(server, inbox, out, watch_log)
    try:
        started = time.monotonic()
        last_writes = drop_copies(storm_clip, inbox, names, slow)
        server.wait_for(lambda c: len(runs_for(server, inbox)) >= DROPPED_AT_ONCE, timeout=180, poll_s=2, what=f"{DROPPED_AT_ONCE} runs")
        print(f"{DROPPED_AT_ONCE} files dropped → {DROPPED_AT_ONCE} runs created in {time.monotonic() - started:.1f} s")
        time.sleep(2 * SETTLE_S + 3)  # room for a late duplicate
        runs = runs_for(server, inbox)
        videos = sorted(r.parameters["params"]["video"] for r in runs)
        assert videos == sorted(str((inbox / n).resolve()) for n in names)  # each file once, none lost
        assert all(r.parameters["params"]["out_dir"] == str(out / Path(r.parameters["params"]["video"]).stem) for r in runs)
        # a failed trigger action is retried by the watcher under the key the action used: check it is that key
        body = {"filter": {"event": {"name": ["prefect.automation.action.executed"]}, "related": {"id": [f"prefect.flow-run.{runs[0].id}"]}}, "limit": 5}
        (executed,) = httpx.post(f"{server.api_url}/events/filter", json=body, timeout=30).json()["events"]
        assert runs[0].idempotency_key == action_idempotency_key(executed)

        size, sha = storm_clip.stat().st_size, file_sha256(storm_clip)
        for name in slow:
            real = (inbox / name).resolve()
            (event,) = _drop_events(server, real)  # announced once, and only with its final content
            occurred = datetime.fromisoformat(event["occurred"]).timestamp()
            assert occurred > last_writes[name], f"{name} announced {last_writes[name] - occurred:.2f} s before its last write"
            assert (event["payload"]["size"], event["payload"]["sha256"]) == (size, sha)
            assert event["payload"]["mtime_ns"] == real.stat().st_mtime_ns
    finally:
        _stop(watcher)
        with server.client() as client:  # the next test's worker must not run these
            for run in runs_for(server, inbox):
                client.delete_flow_run(run.id)
    log = watch_log.read_text()
    assert log.count("dropped ") == DROPPED_AT_ONCE
    print(f"runs the watcher started itself after a failed trigger action: {log.count(' itself')}")


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_storm_runs_each_file_once_within_the_concurrency_limit(server: PrefectServer, storm_clip, tmp_path):
    limit = localize_limit()
    assert WORKERS * WORKER_LIMIT > limit, "the workers alone must not be what bounds the storm"
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    names = [f"clip-{i:02d}.mp4" for i in range(RUN_TO_THE_END)]
    slow = names[-1:]
    watch_log = tmp_path / "watch.log"
    watcher = watch_inbox(server, inbox, out, watch_log)
    try:
        with contextlib.ExitStack() as workers:  # together they could run more than the deployment's limit
            for i in range(WORKERS):
                workers.enter_context(server.worker("polydub-cpu", limit=WORKER_LIMIT, name=f"storm-{i}"))
            started = time.monotonic()
            drop_copies(storm_clip, inbox, names, slow)
            finals = wait_until_all_final(server, inbox, RUN_TO_THE_END, timeout=480, watch_log=watch_log)
            wall = time.monotonic() - started
    finally:
        _stop(watcher)
    log = "".join(server.worker_log("polydub-cpu", f"storm-{i}")[-2000:] for i in range(WORKERS))
    assert len(finals) == RUN_TO_THE_END, [r.parameters["params"]["video"] for r in finals]
    assert sorted(r.parameters["params"]["video"] for r in finals) == sorted(str((inbox / n).resolve()) for n in names)
    assert all(r.state.is_completed() for r in finals), [(r.name, r.state.type, r.state.message) for r in finals] + [log]

    spans = running_intervals(server, [r.id for r in finals])
    assert all(len(s) == 1 for s in spans.values()), spans  # each run ran once
    peak = max_overlap([span for s in spans.values() for span in s])
    waited = 0
    with server.client() as client:
        for run in finals:
            waited += any(s.name == "AwaitingConcurrencySlot" for s in client.read_flow_run_states(run.id))
    print(f"{RUN_TO_THE_END} runs Completed in {wall:.0f} s ({wall / RUN_TO_THE_END:.1f} s a run); "
          f"at most {peak} Running at once (limit {limit}); {waited} runs waited for a slot")
    assert 2 <= peak <= limit
    assert waited > 0  # the limit did hold runs back

    sha = file_sha256(storm_clip)
    ledger = [json.loads(line) for line in (server.work_dir / sha[:16] / "ledger.jsonl").read_text().splitlines()]
    for stage in CONTENT_KEYED:
        calls = [e["status"] for e in ledger if e["stage"] == stage]
        assert len(calls) == RUN_TO_THE_END and calls.count("computed") == 1, (stage, calls)

    missing = []
    for name in names:
        job, stem = out / Path(name).stem, Path(name).stem
        missing += [str(job / o) for o in (f"{stem}.es.mp4", f"{stem}.es.srt", f"{stem}.es.vtt", "report.json", "manifest.json") if not (job / o).is_file()]
        if (job / "report.json").is_file():  # the run read the whole file (the slow copy too)
            assert json.loads((job / "report.json").read_text())["source"]["sha256"] == sha
    assert not missing, f"outputs missing: {missing}; found {sorted(str(p.relative_to(out)) for p in out.rglob('*.mp4'))}"


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_server_restart_during_a_run_loses_nothing(server: PrefectServer, two_line_clip, tmp_path):
    restart_clip = two_line_clip  # other content than the storm's, so its run computes every stage (it lasts)
    out = tmp_path / "out"
    with server.worker("polydub-cpu") as worker:
        run = server.run_deployment("localize/localize", {"params": {"video": str(restart_clip), "targets": ["es"], "out_dir": str(out)}})
        running = server.wait_for(lambda c: (r := c.read_flow_run(run.id)).state.is_running() and r, timeout=120, poll_s=0.5, what="Running")
        time.sleep(3)  # inside the pipeline
        lease = running.state.state_details.deployment_concurrency_lease_id
        stopped_at = datetime.now(timezone.utc)
        down_s = server.restart_server()  # SIGTERM, then the same port and PREFECT_HOME (SQLite)
        with server.client() as client:
            during = client.read_flow_run(run.id)
            assert not during.state.is_final(), "the run ended before the server came back: use a longer clip"
            client.renew_concurrency_lease(lease_id=lease, lease_duration=300)  # the slot survived the restart
        final = server.wait_for_flow_run(run.id, timeout=240)
        assert worker.poll() is None  # the worker rode it out too
    log = server.worker_log("polydub-cpu")[-4000:]
    print(f"server down {down_s:.1f} s during a {final.total_run_time.total_seconds():.0f} s run")
    assert final.state.is_completed(), f"{final.state}\n{log}"
    assert final.start_time < stopped_at < final.end_time
    for output in (f"{restart_clip.stem}.es.mp4", f"{restart_clip.stem}.es.srt", f"{restart_clip.stem}.es.vtt", "report.json", "manifest.json"):
        assert (out / output).stat().st_size > 0, output

    # the source side is a linked subflow; the language subflow runs in a thread of the run, unlinked: found by its out_dir
    children = server.flow_runs(parent_flow_run_id=final.id) + [r for r in server.flow_runs() if r.parameters.get("out_dir") == str(out)]
    assert len({c.id for c in children}) == 2 and all(c.state.is_completed() for c in children), [(c.name, c.state) for c in children]
    tasks = {t.name.rsplit("-", 1)[0]: t.state.type.value for c in [final, *children] for t in server.task_runs(c.id)}
    expected = {"ingest", "transcribe", "diarize", "faces", "lines", "speakers", "active_speaker", "translate", "synthesize",
                "fit_timing", "mix", "lipsync", "deliver", "quality", "review_report", "publish"}
    assert expected <= set(tasks) and all(tasks[t] == "COMPLETED" for t in expected), tasks
    with server.client() as client:
        states = [s.type.value for s in sorted(client.read_flow_run_states(run.id), key=lambda s: s.timestamp)]
    assert states.count("RUNNING") == 1, states  # it carried on; it was not crashed and rerun


# --- the watcher's follow-up, without a server ------------------------------------------------
def _action_event(name: str, trigger: str, flow_run: str | None = None, invocation: str = "inv-1") -> dict:
    related = [{"prefect.resource.id": "prefect.deployment.d-1", "prefect.resource.role": "target"}]
    if flow_run:
        related.append({"prefect.resource.id": f"prefect.flow-run.{flow_run}", "prefect.resource.role": "flow-run"})
    related += [{"prefect.resource.id": "prefect.event.a-1", "prefect.resource.role": "automation-triggered-event"},
                {"prefect.resource.id": f"prefect.event.{trigger}", "prefect.resource.role": "triggering-event"}]
    payload = {"action_index": 0, "action_type": "run-deployment", "invocation": invocation}
    if name.endswith("failed"):
        payload |= {"reason": "Unexpected status from 'run-deployment' action: 503", "status_code": 503}
    return {"event": name, "resource": {"prefect.resource.id": "prefect.automation.auto-1"}, "related": related, "payload": payload}


def test_outcome_of_reads_the_trigger_action_events():
    done = outcome_of(_action_event("prefect.automation.action.executed", "e-1", flow_run="run-1"))
    assert done == ("e-1", TriggerOutcome(True, flow_run_id="run-1"))
    trigger, failed = outcome_of(_action_event("prefect.automation.action.failed", "e-2", invocation="inv-9"))
    assert trigger == "e-2" and not failed.executed and "503" in failed.reason
    assert failed.retry_key == "automation auto-1, action 0, invocation inv-9"
    assert outcome_of({"event": "prefect.automation.action.failed", "resource": {}, "related": []}) is None


def _drops(tmp_path: Path, count: int) -> list:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    drops = []
    for i in range(count):
        video = inbox / f"v{i}.mp4"
        video.write_bytes(bytes([i]) * 100)
        drops.append(build_drop_event(inbox, video.resolve(), Snapshot.of(video), file_sha256(video), DropOptions(("es",), tmp_path / "out")))
    return drops


def test_confirmer_starts_the_run_of_a_failed_trigger_itself_once(tmp_path):
    ok, failed, silent = _drops(tmp_path, 3)
    now = [0.0]
    answers = {str(ok.id): TriggerOutcome(True, flow_run_id="run-ok"), str(failed.id): TriggerOutcome(False, retry_key="automation a, action 0, invocation i", reason="503")}
    asked, started = [], []

    def outcomes(ids):
        asked.append(list(ids))
        return {str(i): answers[str(i)] for i in ids if str(i) in answers}

    confirmer = RunConfirmer(outcomes=outcomes, start=lambda *a: started.append(a) or "run-direct", check_every_s=10, clock=lambda: now[0])
    for drop in (ok, failed, silent):
        confirmer.add(drop)
    settled = confirmer.check()
    assert settled == [(ok, "run-ok"), (failed, "run-direct")]
    assert started == [("localize/localize", localize_parameters(failed.payload), "automation a, action 0, invocation i")]
    assert set(confirmer.pending) == {str(silent.id)}  # no word from the trigger yet: keep asking
    now[0] = 5.0
    assert confirmer.check() == [] and len(asked) == 1  # not before check_every_s
    answers[str(silent.id)] = TriggerOutcome(True, flow_run_id="run-late")
    assert confirmer.check(force=True) == [(silent, "run-late")] and not confirmer.pending
    assert len(started) == 1


def test_confirmer_keeps_a_drop_while_the_api_or_the_start_fails(tmp_path):
    (drop,) = _drops(tmp_path, 1)
    now = [0.0]
    api_up, start_ok = [False], [False]

    def outcomes(ids):
        if not api_up[0]:
            raise ConnectionError("server restarting")
        return {str(drop.id): TriggerOutcome(False, retry_key="k", reason="503")}

    def start(deployment, parameters, key):
        if not start_ok[0]:
            raise ConnectionError("still busy")
        return "run-1"

    confirmer = RunConfirmer(outcomes=outcomes, start=start, check_every_s=1, clock=lambda: now[0])
    confirmer.add(drop)
    for up, ok in ((False, False), (True, False), (True, True)):
        api_up[0], start_ok[0] = up, ok
        now[0] += 2
        settled = confirmer.check()
    assert settled == [(drop, "run-1")] and not confirmer.pending


def test_confirmer_says_once_when_a_drop_gets_no_outcome(tmp_path, caplog):
    (drop,) = _drops(tmp_path, 1)
    now = [0.0]
    confirmer = RunConfirmer(outcomes=lambda ids: {}, start=lambda *a: "never", check_every_s=1, warn_after_s=60, clock=lambda: now[0])
    confirmer.add(drop)
    with caplog.at_level("WARNING", logger="polydub.inbox"):
        for t in (30, 61, 62, 120):
            now[0] = t
            confirmer.check()
    assert [r.getMessage() for r in caplog.records if "no trigger outcome" in r.getMessage()] == [
        f"no trigger outcome for {drop.payload['path']} (event {drop.id}) after 61 s: is the localize trigger deployed and enabled?"
    ]
    assert str(drop.id) in confirmer.pending
