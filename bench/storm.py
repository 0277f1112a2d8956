"""Benchmark: a storm of videos dropped at once into a watched folder, every one run to the end.

Real processes on 127.0.0.1, as in tests/test_storm_e2e.py: `prefect server start` (SQLite),
`prefect deploy --all` (the `localize` deployment's concurrency limit comes from prefect.yaml),
`polydub watch INBOX`, two process workers on polydub-cpu (`--limit 2` each: four process slots,
more than the deployment's limit). N copies of one
3.8 s clip of the sample are dropped at once (a few of them copied slowly, in chunks); each copy
is a separate job with its own outputs, and after the first the content-keyed stage cache makes
the pipeline stages reuse, so what is measured is mostly the per-run cost of Prefect and a
process per run. Prints the figures; exits 1 if any file was lost, run twice, not Completed,
without outputs, or if more runs than the limit were Running at once. Usage:

    .venv/bin/python bench/storm.py [--files 100] [--slow 3] [--timeout 3600] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def children_cpu_s(pid: int) -> float:
    """CPU seconds of the waited-for children of ``pid`` (the worker's flow-run processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def storm(base: Path, files: int, slow: int, timeout: float) -> dict:
    from polydub.sample import build_sample
    from polydub.workdir import file_sha256
    from tests.prefect_server import _stop, deploy_everything, max_overlap, running_intervals, running_server
    from tests.test_storm_e2e import SERVER_ENV, WORKER_LIMIT, WORKERS, cut_clip, drop_copies, localize_limit, runs_for, watch_inbox

    sample = build_sample(base / "sample")
    clip = cut_clip(sample, 3.6, 3.8, base / "storm.mp4")
    inbox, out = base / "inbox", base / "out"
    inbox.mkdir()
    names = [f"upload {i:03d}.mp4" for i in range(files)]
    figures: dict = {"files": files, "slow copies": slow, "limit": localize_limit()}
    with running_server(base / "server", extra_env=SERVER_ENV) as server:
        deploy_everything(server)
        watch_log = base / "watch.log"
        watcher = watch_inbox(server, inbox, out, watch_log)
        try:
            with contextlib.ExitStack() as stack:
                workers = [stack.enter_context(server.worker("polydub-cpu", limit=WORKER_LIMIT, name=f"storm-{i}")) for i in range(WORKERS)]
                cpu0, started = sum(children_cpu_s(w.pid) for w in workers), time.monotonic()
                drop_copies(clip, inbox, names, names[:slow])
                server.wait_for(lambda c: len(runs_for(server, inbox)) >= files, timeout=timeout, poll_s=2, what="a run per file")
                figures["drop → all runs created (s)"] = round(time.monotonic() - started, 1)
                finals = [server.wait_for_flow_run(r.id, timeout=timeout, poll_s=2) for r in runs_for(server, inbox)]
                figures["drop → all runs final (s)"] = round(time.monotonic() - started, 1)
                figures["flow-run processes CPU (s)"] = round(sum(children_cpu_s(w.pid) for w in workers) - cpu0, 1)
                time.sleep(5)  # room for a late duplicate
                finals = [server.wait_for_flow_run(r.id, timeout=60) for r in runs_for(server, inbox)]
        finally:
            _stop(watcher)
        spans = running_intervals(server, [r.id for r in finals])
        with server.client() as client:
            waited = sum(any(s.name == "AwaitingConcurrencySlot" for s in client.read_flow_run_states(r.id)) for r in finals)
        ledger = [json.loads(x) for x in (server.work_dir / file_sha256(clip)[:16] / "ledger.jsonl").read_text().splitlines()]
    videos = Counter(r.parameters["params"]["video"] for r in finals)
    run_s = [r.total_run_time.total_seconds() for r in finals]
    outputs_ok = sum(
        all((out / Path(n).stem / f).is_file() for f in (f"{Path(n).stem}.es.mp4", f"{Path(n).stem}.es.srt", "report.json", "manifest.json"))
        for n in names
    )
    figures |= {
        "runs": len(finals),
        "files with exactly one run": sum(1 for n in names if videos[str((inbox / n).resolve())] == 1),
        "Completed": sum(r.state.is_completed() for r in finals),
        "with all outputs": outputs_ok,
        "max Running at once": max_overlap([s for v in spans.values() for s in v]),
        "runs that waited for a slot": waited,
        "runs started by the watcher (trigger failed)": watch_log.read_text().count(" itself"),
        "run time median / max (s)": f"{statistics.median(run_s):.1f} / {max(run_s):.1f}",
        "stages computed / reused": f"{sum(e['status'] == 'computed' for e in ledger)} / {sum(e['status'] == 'reused' for e in ledger)}",
    }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--slow", type=int, default=3, help="how many of them are copied slowly (in chunks over 3 s)")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--keep", type=Path, help="keep everything in this folder (default: a temporary one)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="polydub-storm-"))
    base.mkdir(parents=True, exist_ok=True)
    figures = storm(base.resolve(), args.files, args.slow, args.timeout)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    n = figures["files"]
    ok = (figures["runs"] == figures["files with exactly one run"] == figures["Completed"] == figures["with all outputs"] == n
          and figures["max Running at once"] <= figures["limit"])
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
