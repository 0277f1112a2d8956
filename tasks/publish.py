"""Publish task: manifest.json beside the outputs, and a copy of everything at the delivery destination."""

from __future__ import annotations

from typing import Any, Optional

from prefect import task
from prefect.cache_policies import NONE

from polydub.delivery import Manifest, deliver


@task(name="publish", cache_policy=NONE, retries=2, retry_delay_seconds=5)
def publish(report: dict[str, Any], out_dir: str, deliver_to: Optional[str] = None) -> Manifest:
    """Write OUT/manifest.json; with ``deliver_to`` copy outputs + manifest there (retried on failure)."""
    return deliver(report, out_dir, deliver_to)
