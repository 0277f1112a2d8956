"""The inbox scan's planning and state (the flow itself runs against a real server in test_automation_e2e)."""

from __future__ import annotations

import os
import time

import pytest
from pydantic import ValidationError

from polydub.inbox import ScanParams, ScanState, idempotency_key, localize_parameters, new_drops


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    old = time.time() - 600
    for name, data in (("a.mp4", b"a" * 300), ("b.mov", b"b" * 300), (".hidden.mp4", b"h"), ("c.mp4.part", b"c")):
        (folder / name).write_bytes(data)
        os.utime(folder / name, (old, old))
    return folder


def _params(inbox, tmp_path, **kw) -> ScanParams:
    return ScanParams(inbox=str(inbox), work_dir=str(tmp_path / "work"), settle_s=60, **kw)


def test_new_videos_are_found_once_and_recorded(inbox, tmp_path):
    params = _params(inbox, tmp_path, targets=["es", "ca"])
    work = tmp_path / "work"
    state = ScanState.load(inbox, work)
    drops = new_drops(inbox, params.options(), state, params.settle_s)
    assert [d.payload["name"] for d in drops] == ["a.mp4", "b.mov"]
    for drop in drops:
        state.record(drop, f"run-{drop.payload['name']}")
    path = state.save(work)
    assert path.parent.parent == work / "inboxes"
    again = ScanState.load(inbox, work)  # the next scan, in a new process
    assert again.jobs == state.jobs
    assert new_drops(inbox, params.options(), again, params.settle_s) == []
    (inbox / "a.mp4").write_bytes(b"A" * 300)  # new content at an old path: a new job
    os.utime(inbox / "a.mp4", (time.time() - 600,) * 2)
    (changed,) = new_drops(inbox, params.options(), again, params.settle_s)
    assert changed.payload["name"] == "a.mp4" and changed.key not in state.jobs


def test_files_still_being_written_wait_for_a_later_scan(inbox, tmp_path):
    params = _params(inbox, tmp_path)
    (inbox / "fresh.mp4").write_bytes(b"f" * 10)  # modified just now
    names = [d.payload["name"] for d in new_drops(inbox, params.options(), ScanState.load(inbox), params.settle_s)]
    assert "fresh.mp4" not in names and "a.mp4" in names


def test_unchanged_files_are_not_hashed_again(inbox, tmp_path, monkeypatch):
    params = _params(inbox, tmp_path)
    state = ScanState.load(inbox, tmp_path / "work")
    new_drops(inbox, params.options(), state, params.settle_s)
    import polydub.inbox as module

    monkeypatch.setattr(module, "file_sha256", lambda p: pytest.fail(f"hashed {p} again"))
    assert len(new_drops(inbox, params.options(), state, params.settle_s)) == 2


def test_parameters_and_idempotency_key_follow_the_drop(inbox, tmp_path):
    params = _params(inbox, tmp_path, targets=["eo"], deliver_to="s3://b/p")
    drop = new_drops(inbox, params.options(), ScanState.load(inbox, tmp_path / "work"), 60)[0]
    p = localize_parameters(drop.payload)["params"]
    assert p["video"] == str((inbox / "a.mp4").resolve()) and p["targets"] == ["eo"]
    assert p["out_dir"] == str(tmp_path / "inbox-dubbed" / "a") and p["deliver_to"] == "s3://b/p/a"
    assert idempotency_key(drop) == f"polydub-drop-{drop.key}"
    from polydub.config import LocalizeParams

    LocalizeParams(**p)  # what the localize deployment will validate


def test_bad_parameters_are_refused():
    with pytest.raises(ValidationError):
        ScanParams(inbox="")
    with pytest.raises(ValidationError, match="unknown protocol"):
        ScanParams(inbox="/srv/in", deliver_to="nosuchproto://x")
    assert ScanParams(inbox="/srv/in", targets="es,ca").targets == ["es", "ca"]
