"""`scan-inbox`: localize each new video in a folder once (for setups without a `polydub watch` process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.deployments import run_deployment

from polydub.errors import InputError
from polydub.inbox import ScanParams, ScanState, idempotency_key, localize_parameters, new_drops


@flow(name="scan-inbox")
def scan_inbox(params: ScanParams) -> list[dict[str, Any]]:
    """List the inbox, start `localize` for each settled video not started before, record it in the scan state."""
    logger = get_run_logger()
    inbox = Path(params.inbox)
    if not inbox.is_dir():
        raise InputError(f"inbox {inbox} is not a folder")
    work_root = Path(params.work_dir) if params.work_dir else None
    state = ScanState.load(inbox, work_root)
    started: list[dict[str, Any]] = []
    for drop in new_drops(inbox, params.options(), state, params.settle_s):
        # the idempotency key makes the server hand back the same run if this file was started
        # before (a lost state file, two scans at once)
        run = run_deployment(
            params.deployment, parameters=localize_parameters(drop.payload), timeout=0,
            idempotency_key=idempotency_key(drop), as_subflow=False,
        )
        state.record(drop, str(run.id))
        state.save(work_root)  # after each start, so a crash mid-scan forgets nothing started
        logger.info("started %s for %s", run.name, drop.payload["path"])
        started.append({"video": drop.payload["path"], "flow_run": run.name, "flow_run_id": str(run.id), "out_dir": drop.payload["out_dir"]})
    state.save(work_root)  # remembers the content hashes even when nothing was new
    if started:
        create_table_artifact(key="polydub-scan", table=started, description=f"videos started from {inbox}")
    logger.info("%d new video(s) in %s", len(started), inbox)
    return started
