"""The work folder: atomic writes, stage cache keyed by content, ledger, crash recovery."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models.data import Line, Lines
from polydub.workdir import WorkDir, atomic_path, copy_atomic, file_sha256, stage_key, write_text_atomic


def _lines(text: str) -> Lines:
    return Lines(lines=[Line(index=0, speaker="A", start=0.0, end=1.0, text=text)])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_file_with_normal_permissions(tmp_path):
    target = write_text_atomic(tmp_path / "a.txt", "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    copy = copy_atomic(target, tmp_path / "sub" / "b.txt")
    assert copy.read_text() == "new"


def test_stage_key_depends_on_every_part():
    base = stage_key("translate", inputs=["abc"], params={"x": 1}, backend="apertium 3.8")
    assert base == stage_key("translate", inputs=["abc"], params={"x": 1}, backend="apertium 3.8")
    assert base != stage_key("translate", inputs=["abd"], params={"x": 1}, backend="apertium 3.8")
    assert base != stage_key("translate", inputs=["abc"], params={"x": 2}, backend="apertium 3.8")
    assert base != stage_key("translate", inputs=["abc"], params={"x": 1}, backend="apertium 3.9")
    assert base != stage_key("synthesize", inputs=["abc"], params={"x": 1}, backend="apertium 3.8")


def test_finished_stage_is_reused_and_logged(tmp_path):
    work = WorkDir(tmp_path, "f" * 64)
    calls = []

    def compute(folder: Path) -> Lines:
        calls.append(folder)
        (folder / "extra.txt").write_text("artefact")
        return _lines("hello")

    first, run1 = work.run_stage("lines", "k1", Lines, compute)
    second, run2 = work.run_stage("lines", "k1", Lines, compute)
    assert first == second and len(calls) == 1
    assert (run1.status, run2.status) == ("computed", "reused")
    assert [r.status for r in work.ledger()] == ["computed", "reused"]
    assert work.path == tmp_path.resolve() / ("f" * 16)


def test_unfinished_stage_is_recomputed_from_scratch(tmp_path):
    work = WorkDir(tmp_path, "a" * 64)

    def crash(folder: Path) -> Lines:
        (folder / "partial.wav").write_bytes(b"half")
        raise KeyboardInterrupt  # e.g. the process is stopped mid-stage

    with pytest.raises(KeyboardInterrupt):
        work.run_stage("synthesize", "k", Lines, crash)
    assert not (work.stage_dir("synthesize", "k") / "result.json").exists()

    result, run = work.run_stage("synthesize", "k", Lines, lambda folder: _lines("again"))
    assert run.status == "computed" and result.lines[0].text == "again"
    assert not (work.stage_dir("synthesize", "k") / "partial.wav").exists()


def test_file_sha256_is_content_hash(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    assert file_sha256(a) == file_sha256(b)
    b.write_bytes(b"other")
    assert file_sha256(a) != file_sha256(b)
