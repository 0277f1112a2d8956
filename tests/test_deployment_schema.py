"""The deployments of prefect.yaml and the parameter schemas the Prefect UI renders as forms.

The schema is computed exactly as `prefect deploy` computes it for each entrypoint
(`parameter_schema` of the flow function), so the forms are checked without a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from polydub.config import GPU_LANGUAGE_DEPLOYMENT, LANGUAGES

REPO = Path(__file__).resolve().parents[1]
DEPLOYMENTS = {d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]}


def _schema(name: str) -> dict:
    entrypoint = DEPLOYMENTS[name]["entrypoint"]
    return parameter_schema(load_flow_from_entrypoint(str(REPO / entrypoint))).model_dump()


def _params_form(schema: dict) -> dict:
    ref = schema["properties"]["params"]["$ref"].rsplit("/", 1)[-1]
    return schema["definitions"][ref]


def test_the_documented_deployments_exist_on_their_pools():
    pools = {name: d["work_pool"]["name"] for name, d in DEPLOYMENTS.items()}
    assert pools["localize"] == "polydub-cpu"
    assert pools["analyze-source"] == "polydub-cpu"
    assert pools["localize-language"] == "polydub-cpu"
    assert pools[GPU_LANGUAGE_DEPLOYMENT.split("/")[1]] == "polydub-gpu"
    assert DEPLOYMENTS["localize-language-gpu"]["entrypoint"] == DEPLOYMENTS["localize-language"]["entrypoint"]


def test_localize_form_has_titles_descriptions_enums_and_defaults():
    schema = _schema("localize")
    form = _params_form(schema)
    props = form["properties"]
    assert form["required"] == ["video"]
    for field in ("video", "targets", "source_language", "out_dir", "profile", "language_deployment", "review"):
        assert props[field].get("title") or "$ref" in props[field], field
        assert props[field].get("description"), field
    assert props["video"]["title"] == "Source video"
    assert props["targets"]["title"] == "Target languages"
    assert props["targets"]["items"]["enum"] == list(LANGUAGES) and props["targets"]["default"] == ["es"]
    assert props["source_language"]["enum"] == ["auto", *LANGUAGES] and props["source_language"]["default"] == "en"
    assert props["review"] == {**props["review"], "type": "boolean", "default": False, "title": "Review translations"}
    assert props["language_deployment"]["default"] is None
    profile = schema["definitions"][props["profile"]["$ref"].rsplit("/", 1)[-1]]
    assert profile["enum"] == ["lite", "studio"] and props["profile"]["default"] == "lite"
    assert props["min_speed"]["minimum"] == 0.5 and props["max_speed"]["maximum"] == 2.0


def test_language_form_offers_review_and_the_concurrency_limit():
    props = _schema("localize-language")["properties"]
    assert {"source", "language", "out_dir", "review", "concurrency_limit"} <= set(props)
    assert props["review"]["default"] is False
    assert props["concurrency_limit"]["default"] is None


def test_source_form_lists_its_inputs():
    props = _schema("analyze-source")["properties"]
    assert {"video", "work_root", "source_language", "backends", "max_duration_s"} <= set(props)


@pytest.mark.parametrize("name", ["localize", "localize-language", "analyze-source"])
def test_every_schema_is_valid_json_schema(name):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(_schema(name))
