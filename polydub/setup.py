"""`polydub setup`: create what production runs on Prefect need: work pools and the GPU concurrency limit."""

from __future__ import annotations

import json
from pathlib import Path

from polydub.config import GPU_CONCURRENCY_LIMIT


def ensure_gpu_limit(slots: int, name: str = GPU_CONCURRENCY_LIMIT) -> str:
    """Create the global concurrency limit `name` with `slots` slots, or set its limit if it exists.

    Returns "created" or "updated". Uses the Prefect API of the current settings (PREFECT_API_URL).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    if slots < 1:
        raise ValueError("the GPU concurrency limit needs at least one slot")
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))
            return "created"
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=slots, active=True))
        return "updated"


DEPLOYMENTS_DIR = Path(__file__).resolve().parents[1] / "deployments"
# base job template of each pool type (deployments/); the GPU ones request GPUs
POOL_TEMPLATES = {"process": "process.json", "docker": "docker-gpu.json", "kubernetes": "kubernetes-gpu.json"}
CPU_POOL, GPU_POOL = "polydub-cpu", "polydub-gpu"


def ensure_work_pool(name: str, pool_type: str) -> str:
    """Create work pool `name` of `pool_type` with polydub's base job template unless it exists.

    Returns "created" or "exists" (an existing pool is left as it is).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    if pool_type not in POOL_TEMPLATES:
        raise ValueError(f"unknown pool type '{pool_type}' (choose from {', '.join(POOL_TEMPLATES)})")
    template = json.loads((DEPLOYMENTS_DIR / POOL_TEMPLATES[pool_type]).read_text(encoding="utf-8"))
    with get_client(sync_client=True) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type=pool_type, base_job_template=template))
        except ObjectAlreadyExists:
            return "exists"
    return "created"
