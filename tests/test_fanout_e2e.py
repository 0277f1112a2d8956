"""Fan-out across work pools against a real Prefect server, workers and deployments.

A second process work pool stands in for the GPU pool (`polydub setup --gpu-pool-type process`);
`localize` runs on polydub-cpu and sends each language to `localize-language-gpu` on polydub-gpu.
The global concurrency limit `polydub-gpu` has one slot, so the languages compute one at a time.
German fails for real: this machine's Apertium has no en→de pair (the parent does not check pairs
in fan-out mode, since GPU machines run their own backends), and Spanish must still complete.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from polydub.config import GPU_CONCURRENCY_LIMIT, GPU_LANGUAGE_DEPLOYMENT, LANGUAGE_STAGES
from tests.prefect_server import prefect_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def _window(server, flow_run_id) -> tuple:
    """First start and last end of a flow run's task runs (the time it held the GPU slot)."""
    runs = [t for t in server.task_runs(flow_run_id) if t.start_time and t.end_time]
    assert runs, f"no finished task runs in {flow_run_id}"
    return min(t.start_time for t in runs), max(t.end_time for t in runs)


@pytest.fixture(scope="module")
def fanout(prefect_server, two_line_clip, polydub_bin, tmp_path_factory):
    server = prefect_server
    setup = subprocess.run(
        [polydub_bin, "setup", "--gpu-slots", "1", "--gpu-pool-type", "process"], env=server.env, capture_output=True, text=True, timeout=120
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr
    server.deploy("localize", "localize-language-gpu")
    out = tmp_path_factory.mktemp("fanout-out")
    params = {"video": str(two_line_clip), "targets": ["es", "de"], "out_dir": str(out), "language_deployment": GPU_LANGUAGE_DEPLOYMENT}
    with server.worker("polydub-cpu"), server.worker("polydub-gpu"):
        run = server.run_deployment("localize/localize", {"params": params})
        parent = server.wait_for_flow_run(run.id, timeout=420)
    children = server.flow_runs(parent_flow_run_id=parent.id)
    return {"server": server, "parent": parent, "children": {c.parameters["language"]: c for c in children if "language" in c.parameters}, "out": out, "setup": setup.stdout}


def test_setup_created_pools_and_limit(fanout):
    with fanout["server"].client() as client:
        assert {p.name: p.type for p in client.read_work_pools()}.items() >= {"polydub-cpu": "process", "polydub-gpu": "process"}.items()
        assert client.read_global_concurrency_limit_by_name(GPU_CONCURRENCY_LIMIT).limit == 1


def test_each_language_is_a_child_flow_run_on_the_gpu_pool(fanout):
    children = fanout["children"]
    assert set(children) == {"es", "de"}, fanout["server"].worker_log("polydub-gpu")[-3000:]
    for child in children.values():
        assert child.work_pool_name == "polydub-gpu"
        assert child.parameters["concurrency_limit"] == GPU_CONCURRENCY_LIMIT
    with fanout["server"].client() as client:
        gpu_deployment = client.read_deployment_by_name(GPU_LANGUAGE_DEPLOYMENT)
    assert {c.deployment_id for c in children.values()} == {gpu_deployment.id}


def test_one_failing_language_leaves_the_other_completed(fanout):
    children, parent = fanout["children"], fanout["parent"]
    assert children["es"].state.is_completed(), children["es"].state
    assert children["de"].state.is_failed(), children["de"].state
    assert "en→de" in children["de"].state.message
    # the parent reports which language failed and why
    assert parent.state.is_failed()
    assert "1 of 2 languages failed" in parent.state.message and "de:" in parent.state.message
    report = json.loads((fanout["out"] / "report.json").read_text())
    assert report["languages"]["es"]["status"] == "completed"
    assert report["languages"]["de"]["status"] != "completed" and "en→de" in report["languages"]["de"]["error"]
    assert Path(report["languages"]["es"]["outputs"]["video"]).stat().st_size > 0
    es_stages = {(s["stage"], s["language"]) for s in report["stages"] if s["language"] == "es"}
    assert es_stages == {(stage, "es") for stage in LANGUAGE_STAGES}


def test_the_concurrency_limit_serialises_the_languages(fanout):
    server, children = fanout["server"], fanout["children"]
    (es_start, es_end), (de_start, de_end) = _window(server, children["es"].id), _window(server, children["de"].id)
    # the computing windows (all task runs) do not overlap ...
    assert es_end <= de_start or de_end <= es_start, ((es_start, es_end), (de_start, de_end))
    # ... and both took the one slot of the limit in turn: acquired, released, acquired, released
    events = server.events("prefect.concurrency-limit.")
    phases = [
        e["event"].rsplit(".", 1)[-1]
        for e in events
        if e["resource"].get("prefect.resource.name") == GPU_CONCURRENCY_LIMIT and e["event"].endswith(("acquired", "released"))
    ]
    assert phases == ["acquired", "released"] * 2, events


def test_language_runs_leave_progress_and_link_artifacts(fanout):
    from prefect.client.schemas.filters import ArtifactFilter

    server, children, parent = fanout["server"], fanout["children"], fanout["parent"]
    with server.client() as client:
        es = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": [children["es"].id]}))
        de = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": [children["de"].id]}))
        summary = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id={"any_": [parent.id]}))
    assert [a.data for a in es if a.type == "progress"] == [100.0]
    links = {a.key: a for a in es if a.key and a.key.startswith("polydub-es-")}  # link artifacts are markdown links
    assert sorted(links) == ["polydub-es-srt", "polydub-es-video", "polydub-es-vtt"]
    video = Path(json.loads((fanout["out"] / "report.json").read_text())["languages"]["es"]["outputs"]["video"])
    assert f"]({video.resolve().as_uri()})" in links["polydub-es-video"].data
    # the failed language stopped at translation: its progress stayed at 0
    assert [a.data for a in de if a.type == "progress"] == [0.0]
    assert any(a.key == "polydub-summary" and a.type == "table" for a in summary)
