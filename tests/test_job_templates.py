"""The work-pool base job templates in deployments/: valid, shaped like Prefect's defaults, GPU-ready.

Prefect's own default templates (the collections metadata it ships, and the process worker's)
are the reference: every default variable and job-configuration key must still be there, and
every `{{ placeholder }}` must name a declared variable.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prefect.utilities.templating import apply_values, find_placeholders

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deployments"


def _default(kind: str) -> dict:
    if kind == "process":
        from prefect.workers.process import ProcessWorker

        return ProcessWorker.get_default_base_job_template()
    import prefect

    shipped = Path(prefect.__file__).parent / "server" / "api" / "collections_data" / "views" / "aggregate-worker-metadata.json"
    metadata = json.loads(shipped.read_text())
    return next(w[kind] for w in metadata.values() if kind in w)["default_base_job_configuration"]


def _load(name: str) -> dict:
    return json.loads((DEPLOY / name).read_text())


def _defaults(template: dict) -> dict:
    return {k: v["default"] for k, v in template["variables"]["properties"].items() if "default" in v}


@pytest.mark.parametrize("name,kind", [("process.json", "process"), ("docker-gpu.json", "docker"), ("kubernetes-gpu.json", "kubernetes")])
def test_template_keeps_the_default_structure(name, kind):
    template, default = _load(name), _default(kind)
    assert set(template) == {"job_configuration", "variables"}
    assert set(default["variables"]["properties"]) <= set(template["variables"]["properties"])
    assert set(default["job_configuration"]) <= set(template["job_configuration"])
    declared = set(template["variables"]["properties"])
    used = {p.name for p in find_placeholders(template["job_configuration"])}
    assert used <= declared, used - declared


def test_docker_template_requests_gpus():
    template = _load("docker-gpu.json")
    assert template["job_configuration"]["container_create_kwargs"] == "{{ container_create_kwargs }}"
    job = apply_values(template["job_configuration"], _defaults(template))
    requests = job["container_create_kwargs"]["device_requests"]
    assert requests == [{"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]}]
    assert job["image"] == "polydub-worker:latest"
    assert job["env"]["POLYDUB_CHECKOUT"] == "/opt/polydub"


def test_kubernetes_template_limits_gpus_and_targets_gpu_nodes():
    template = _load("kubernetes-gpu.json")
    job = apply_values(template["job_configuration"], {**_defaults(template), "gpu_count": 2})
    pod = job["job_manifest"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "polydub-work"
    assert pod["containers"][0]["volumeMounts"][0]["mountPath"] == "/srv/polydub"


def test_readme_shows_the_pool_commands_with_these_templates():
    text = (DEPLOY / "README.md").read_text()
    for name, kind in (("process.json", "process"), ("docker-gpu.json", "docker"), ("kubernetes-gpu.json", "kubernetes")):
        assert re.search(rf"prefect work-pool create \S+ --type {kind} --base-job-template deployments/{re.escape(name)}", text), name
