"""`polydub licenses`: what each profile loads, its licence and commercial use, from the one registry."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata

import pytest
from typer.testing import CliRunner

from models import licences
from polydub import doctor
from polydub.cli import app
from polydub.config import Backends, Profile
from polydub.errors import PolydubError
from polydub.licenses import STAGES, choose_backends, listing, restricted


def _keys(rows) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row.stage, set()).update({row.component.key} if row.component else set())
    return found


@pytest.fixture(scope="module")
def lite_rows():
    return listing(Backends.for_profile(Profile.lite))


@pytest.fixture(scope="module")
def studio_rows():
    return listing(Backends.for_profile(Profile.studio))


def test_lite_lists_every_stage_and_what_it_loads(lite_rows):
    keys = _keys(lite_rows)
    assert list(keys) == [stage for stage, _ in STAGES]
    assert keys["separate"] == set()  # lite ducks the original: no separation model
    assert {"faster-whisper", "whisper-tiny.en-shipped"} <= keys["transcribe"]
    assert {"silero-vad", "resemblyzer"} <= keys["diarize"]
    assert {"dlib", "dlib-landmarks-68", "dlib-face-descriptor", "scenedetect"} <= keys["faces"]
    assert "apertium" in keys["translate"] and "espeak-ng" in keys["synthesize"] and "ffmpeg" in keys["ingest"]
    # the Apertium data of each installed pair, its licence read from the Debian copyright file
    pairs = [r.component for r in lite_rows if r.component and r.component.key.startswith("apertium-data:")]
    assert "apertium-data:apertium-eng-spa" in {c.key for c in pairs}
    assert all(c.licence.startswith("GPL") and c.commercial == licences.YES for c in pairs)


def test_studio_lists_every_stage_and_what_it_loads(studio_rows):
    keys = _keys(studio_rows)
    assert list(keys) == [stage for stage, _ in STAGES]
    assert all(keys[stage] for stage, _ in STAGES)
    assert "whisper:Systran/faster-whisper-large-v3" in keys["transcribe"]
    assert "pyannote-community-1" in keys["diarize"] and "demucs:htdemucs" in keys["separate"]
    assert "translate:facebook/nllb-200-distilled-600M" in keys["translate"] and "xtts-v2" in keys["synthesize"]
    assert "insightface-pack:buffalo_l" in keys["faces"]
    assert {"ltx-2.3", "gemma-3", "ltx-lipdub-lora"} <= keys["lipsync"]


def test_restricted_components_are_marked(lite_rows, studio_rows):
    assert [c.key for c in restricted(lite_rows)] == ["dlib-landmarks-68"]
    studio = {c.key: c for c in restricted(studio_rows)}
    for key in ("translate:facebook/nllb-200-distilled-600M", "xtts-v2", "insightface-pack:buffalo_l", "dlib-landmarks-68"):
        assert studio[key].commercial == licences.NO and studio[key].condition
    for key in ("ltx-2.3", "ltx-lipdub-lora", "gemma-3"):
        assert studio[key].commercial == licences.CONDITIONAL
    assert studio["ltx-lipdub-lora"].gated and licences.get("pyannote-community-1").gated
    assert "pyannote-community-1" not in studio  # CC-BY-4.0: gated, but commercial use is allowed


def test_overrides_change_the_listing(studio_rows):
    m2m = listing(choose_backends(Profile.studio, models={"translate": "facebook/m2m100_418M"}))
    model = next(r.component for r in m2m if r.stage == "translate" and r.component.kind == "model")
    assert (model.name, model.licence, model.commercial) == ("M2M100", "MIT", licences.YES)
    assert len(restricted(m2m)) == len(restricted(studio_rows)) - 1
    madlad = listing(choose_backends(Profile.studio, models={"translate.family": "madlad"}))
    assert "translate:google/madlad400-3b-mt" in _keys(madlad)["translate"]
    mixed = _keys(listing(choose_backends(Profile.lite, {"faces": "insightface", "translate": "seq2seq"})))
    assert "insightface-pack:buffalo_l" in mixed["faces"] and "apertium" not in mixed["translate"]
    own = listing(choose_backends(Profile.studio, models={"synthesize": "someone/other-tts"}))
    assert next(r.component for r in own if r.stage == "synthesize" and r.component.kind == "model").commercial == licences.UNKNOWN
    with pytest.raises(PolydubError, match="no stage named"):
        choose_backends(Profile.lite, {"dubbing": "x"})
    with pytest.raises(PolydubError, match="translate backend 'babel'"):
        listing(choose_backends(Profile.lite, {"translate": "babel"}))


def test_cli_json_and_table():
    runner = CliRunner()
    done = runner.invoke(app, ["licenses", "--profile", "studio", "--model", "translate=facebook/m2m100_418M", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["profile"] == "studio" and data["backends"]["models"] == {"translate": "facebook/m2m100_418M"}
    assert {e["stage"] for e in data["stages"]} == {stage for stage, _ in STAGES}
    assert "xtts-v2" in data["restricted"] and not any("nllb" in key for key in data["restricted"])
    pip = next(e["component"] for e in data["stages"] if e["component"] and e["component"]["key"] == "faster-whisper")
    assert pip["installed"]["version"] == metadata.version("faster-whisper")
    table = runner.invoke(app, ["licenses"])
    assert table.exit_code == 0 and "1 restricted for commercial use" in table.stdout and "shape_predictor_68" in table.stdout
    bad = runner.invoke(app, ["licenses", "--backend", "dubbing=x"])
    assert bad.exit_code == 2


def test_console_script_prints_json(polydub_bin):
    done = subprocess.run([polydub_bin, "licenses", "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["restricted"] == ["dlib-landmarks-68"]


def test_doctor_licence_lines_come_from_the_registry(studio_rows, lite_rows):
    lines = [c for c in doctor.run_checks(Profile.studio) if c.item.startswith("licence")]
    expected = [licences.licence_check(r.stage, r.component) for r in studio_rows
                if r.stage in doctor.STUDIO_MODULES and r.component and r.component.kind in ("model", "data")]
    by_stage = lambda checks: sorted(checks, key=lambda c: list(doctor.STUDIO_MODULES).index(c.stage))  # noqa: E731
    assert lines == by_stage(expected)
    assert {c.item for c in lines if not c.ok} >= {"licence XTTS-v2 (Coqui Public Model License)", "licence NLLB-200 (CC-BY-NC-4.0)"}
    lite = {c.item: c for c in doctor.run_checks(Profile.lite) if c.item.startswith("licence")}
    dlib68 = licences.licence_check("faces", licences.get("dlib-landmarks-68"))
    assert lite[dlib68.item] == dlib68 and not dlib68.ok
    assert all(doctor.is_blocking(c) is False for c in lite.values())


def test_registry_agrees_with_installed_package_metadata():
    checked = 0
    for component in licences.REGISTRY.values():
        found = licences.installed(component) if component.kind in ("library", "tool") else None
        if found is None or found[1] is None:
            continue
        stated = licences.licence_families(found[1])
        assert licences.licence_families(component.licence) & stated, (component.key, component.licence, found)
        checked += 1
    assert checked >= 15
    # face-recognition-models: metadata says MIT, the LICENSE file it ships is CC0 (the registry says so)
    dist = metadata.distribution("face-recognition-models")
    licence_file = next(f for f in dist.files if f.name == "LICENSE")
    assert "CC0" in licence_file.read_text() and "MIT" in dist.metadata["License"]
    assert "CC0" in licences.get("dlib-face-descriptor").licence
