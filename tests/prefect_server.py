"""A real Prefect server for end-to-end tests, plus helpers to deploy, run workers and wait on runs.

Usage in a test module::

    from tests.prefect_server import prefect_server  # noqa: F401  (the fixture)

    def test_x(prefect_server):
        prefect_server.deploy_all()
        prefect_server.create_pool("polydub-cpu")
        with prefect_server.worker("polydub-cpu"):
            run = prefect_server.run_deployment("localize/localize", {...})
            final = prefect_server.wait_for_flow_run(run.id)

Everything runs as real processes on 127.0.0.1: `prefect server start` with SQLite in a temporary
PREFECT_HOME, `prefect deploy`, `prefect worker start`. Subprocesses get `server.env`.
`restart_server()` stops the server (SIGTERM) and starts it again on the same port and database;
`running_intervals`/`max_overlap` measure how many runs were Running at once from the API's
state history; `copy_slowly` writes a file in chunks, like a slow upload.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional
from uuid import UUID

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PREFECT_BIN = str(Path(sys.executable).with_name("prefect"))
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a process started in its own session, and its children (by its process group id)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@dataclass
class PrefectServer:
    """A running `prefect server start` and the environment its clients need."""

    api_url: str
    home: Path
    work_dir: Path
    env: dict[str, str]
    log_path: Path
    _workers: list[subprocess.Popen] = field(default_factory=list)
    _process: Optional[subprocess.Popen] = None
    _cwd: Optional[Path] = None

    # --- the server process ----------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1].split("/", 1)[0])

    def start_server(self) -> None:
        """Start `prefect server start` on this server's port and home (its SQLite database); wait until healthy."""
        if self._process is not None and self._process.poll() is None:
            raise RuntimeError("the server is already running")
        # the server itself must not be a client of itself; its UI must call this port, not the default 4200
        server_env = {k: v for k, v in self.env.items() if k != "PREFECT_API_URL"} | {"PREFECT_UI_API_URL": self.api_url}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [PREFECT_BIN, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self._cwd or self.home, env=server_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _wait_healthy(self.api_url, self._process, self.log_path)

    def stop_server(self, grace_s: float = 10.0) -> None:
        """SIGTERM the server (and its children), SIGKILL after ``grace_s``; workers and clients keep running."""
        if self._process is not None:
            _stop(self._process, grace_s)

    def restart_server(self, down_s: float = 0.0) -> float:
        """Stop the server, stay down ``down_s`` seconds, start it again on the same port and database.
        Returns how long the API was unreachable (seconds)."""
        started = time.monotonic()
        self.stop_server()
        time.sleep(down_s)
        self.start_server()
        return time.monotonic() - started

    # --- processes -------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 180, check: bool = True, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
        """Run `prefect ARGS…` against this server (non-interactive)."""
        done = subprocess.run(
            [PREFECT_BIN, "--no-prompt", *args], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(f"prefect {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def deploy_all(self, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
        """`prefect deploy --all` from prefect.yaml in `cwd` (the work pools it names must exist)."""
        return self.cli("deploy", "--all", cwd=cwd, timeout=300)

    def deploy(self, *names: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
        """`prefect deploy --name N …`: only the named deployments of prefect.yaml (e.g. "localize")."""
        args = [arg for name in names for arg in ("--name", name)]
        return self.cli("deploy", *args, cwd=cwd, timeout=300)

    def create_pool(self, name: str, pool_type: str = "process", base_job_template: Optional[Path] = None) -> None:
        """Create (or overwrite) a work pool."""
        args = ["work-pool", "create", name, "--type", pool_type, "--overwrite"]
        if base_job_template is not None:
            args += ["--base-job-template", str(base_job_template)]
        self.cli(*args)

    @contextlib.contextmanager
    def worker(self, pool: str, limit: Optional[int] = None, name: Optional[str] = None) -> Iterator[subprocess.Popen]:
        """A `prefect worker start --pool POOL` process for the duration of the block."""
        name = name or f"{pool}-test-worker"
        log = open(self.home / f"worker-{name}.log", "ab")
        args = [PREFECT_BIN, "worker", "start", "--pool", pool, "--type", "process", "--name", name]
        if limit is not None:
            args += ["--limit", str(limit)]
        proc = subprocess.Popen(args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._workers.append(proc)
        try:
            yield proc
        finally:
            _stop(proc)
            log.close()

    def worker_log(self, pool: str, name: Optional[str] = None) -> str:
        """What a worker started by `worker()` printed (for assertion messages)."""
        path = self.home / f"worker-{name or pool + '-test-worker'}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- client ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def settings(self) -> Iterator[None]:
        """Point in-process Prefect code (flows, clients) at this server for the block."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    def client(self):
        """A synchronous Prefect client for this server (use as a context manager)."""
        from prefect.client.orchestration import SyncPrefectClient

        return SyncPrefectClient(self.api_url)

    def run_deployment(self, name: str, parameters: dict[str, Any], **kwargs: Any):
        """Create a flow run of deployment `flow/deployment` without waiting for it."""
        from prefect.deployments import run_deployment

        with self.settings():
            return run_deployment(name, parameters=parameters, timeout=0, **kwargs)

    def wait_for_flow_run(self, run_id: UUID | str, timeout: float = 180, poll_s: float = 1.0):
        """Poll until the flow run is in a final state (or paused); return the FlowRun. Fails on timeout."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                run = client.read_flow_run(UUID(str(run_id)))
                if run.state is not None and (run.state.is_final() or run.state.is_paused()):
                    return run
                if time.monotonic() > deadline:
                    state = run.state.type if run.state else None
                    raise AssertionError(f"flow run {run_id} still {state} after {timeout:.0f} s")
                time.sleep(poll_s)

    def wait_for(self, predicate, timeout: float = 120, poll_s: float = 1.0, what: str = "condition"):
        """Poll `predicate(client)` until it returns something truthy; return that. Fails on timeout."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                value = predicate(client)
                if value:
                    return value
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
                time.sleep(poll_s)

    def flow_runs(self, **filters: Any) -> list:
        """All flow runs, optionally filtered (`deployment_id=…`, `parent_flow_run_id=…`)."""
        from prefect.client.schemas.filters import FlowRunFilter

        flow_run_filter = None
        if "deployment_id" in filters:
            flow_run_filter = FlowRunFilter(deployment_id={"any_": [filters["deployment_id"]]})
        if "parent_flow_run_id" in filters:
            flow_run_filter = FlowRunFilter(parent_flow_run_id={"any_": [filters["parent_flow_run_id"]]})
        runs: list = []
        with self.client() as client:  # page through: the API answers at most 200 a call
            while page := client.read_flow_runs(flow_run_filter=flow_run_filter, offset=len(runs), limit=200):
                runs += page
                if len(page) < 200:
                    break
        return runs

    def task_runs(self, flow_run_id: UUID | str) -> list:
        """The task runs of one flow run."""
        from prefect.client.schemas.filters import TaskRunFilter

        with self.client() as client:
            return client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id={"any_": [UUID(str(flow_run_id))]}))

    def events(self, prefix: str, limit: int = 50) -> list[dict[str, Any]]:
        """Events whose name starts with `prefix` (e.g. "prefect.concurrency-limit."), oldest first."""
        body = {"filter": {"event": {"prefix": [prefix]}, "order": "ASC"}, "limit": limit}
        response = httpx.post(f"{self.api_url}/events/filter", json=body, timeout=30)
        response.raise_for_status()
        return response.json()["events"]


def deployment_pools(cwd: Path = REPO_ROOT) -> set[str]:
    """The work pools the deployments of prefect.yaml name."""
    import yaml

    spec = yaml.safe_load((cwd / "prefect.yaml").read_text())
    return {d["work_pool"]["name"] for d in spec["deployments"] if d.get("work_pool")}


def deploy_everything(server: PrefectServer) -> PrefectServer:
    """Create every work pool prefect.yaml names (process type) and `prefect deploy --all`."""
    for pool in sorted(deployment_pools()):
        server.create_pool(pool)
    server.deploy_all()
    return server


def running_intervals(server: PrefectServer, run_ids: list[UUID]) -> dict[UUID, list[tuple[datetime, datetime]]]:
    """From each flow run's state history: the spans it spent Running (start, time of the next state)."""
    spans: dict[UUID, list[tuple[datetime, datetime]]] = {}
    with server.client() as client:
        for run_id in run_ids:
            history = sorted(client.read_flow_run_states(run_id), key=lambda s: s.timestamp)
            spans[run_id] = [
                (state.timestamp, history[i + 1].timestamp if i + 1 < len(history) else datetime.now(timezone.utc))
                for i, state in enumerate(history) if state.is_running()
            ]
    return spans


def max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    """The largest number of spans open at the same instant (a span ending when another starts does not overlap it)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


def copy_slowly(src: Path, dst: Path, seconds: float, chunks: int = 8) -> float:
    """Copy ``src`` to ``dst`` in ``chunks`` writes spread over ``seconds`` (a slow upload); returns the
    wall-clock time (time.time()) just after the last write."""
    data = src.read_bytes()
    step = -(-len(data) // chunks)
    with open(dst, "wb") as handle:
        for i in range(0, len(data), step):
            if i:
                time.sleep(seconds / (chunks - 1))
            handle.write(data[i:i + step])
            handle.flush()
            os.fsync(handle.fileno())
    return time.time()


def _wait_healthy(api_url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited ({proc.returncode}):\n{log_path.read_text(errors='replace')[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {START_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')[-4000:]}")


@contextlib.contextmanager
def running_server(base: Path, extra_env: Optional[dict[str, str]] = None) -> Iterator[PrefectServer]:
    """Start `prefect server start` on a free port with its home under `base`; stop it afterwards."""
    home, work = base / "prefect-home", base / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_CLI_PROMPT": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "POLYDUB_CHECKOUT": str(REPO_ROOT),
        "POLYDUB_WORK_DIR": str(work),
        "HF_HUB_OFFLINE": "1",
        "PYANNOTE_METRICS_ENABLED": "false",
        **(extra_env or {}),
    }
    server = PrefectServer(api_url=api_url, home=home, work_dir=work, env=env, log_path=home / "server.log", _cwd=base)
    try:
        server.start_server()
        yield server
    finally:
        for worker in server._workers:
            _stop(worker)
        server.stop_server()


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    """A real Prefect server for the test module (about 15 s to start)."""
    with running_server(tmp_path_factory.mktemp("prefect")) as server:
        yield server


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer) -> PrefectServer:
    """The module's server with every pool of prefect.yaml and `prefect deploy --all` done."""
    return deploy_everything(prefect_server)
