"""The work folder: atomic writes, stage cache keyed by content, ledger, crash recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from models.data import Line, Lines
from polydub import workdir as workdir_module
from polydub.workdir import (
    LEDGER,
    WorkDir,
    atomic_path,
    copy_atomic,
    file_sha256,
    is_stale_partial,
    partial_path,
    stage_key,
    sweep_partials,
    write_text_atomic,
)

REPO = Path(__file__).resolve().parents[1]


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


# --- crashes and concurrent runs: stage lock, stale temp files, torn ledger lines ---------------------------

# a child process that computes stage "slow"/"k" in ROOT, counting its computations in COUNT
_STAGE_CHILD = """
import sys, time
from pathlib import Path
from models.data import Line, Lines
from polydub.workdir import WorkDir
root, count, hold = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
def compute(folder):
    with open(count, "a") as handle:
        handle.write("x")
    (folder / "partial.bin").write_bytes(b"half")
    (folder.parent / "started").touch()
    time.sleep(hold)
    return Lines(lines=[Line(index=0, speaker="A", start=0.0, end=1.0, text="from child")])
result, run = WorkDir(root, "c" * 64).run_stage("slow", "k", Lines, compute)
print(run.status, result.lines[0].text)
"""


def _child(args: list[str], code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_threads_compute_a_stage_once_and_the_others_wait_and_reuse(tmp_path):
    work = WorkDir(tmp_path, "d" * 64)
    calls: list[int] = []

    def compute(folder: Path) -> Lines:
        calls.append(threading.get_ident())
        time.sleep(0.3)
        return _lines("shared")

    results: list[tuple[Lines, object]] = []
    threads = [threading.Thread(target=lambda: results.append(work.run_stage("lines", "k", Lines, compute))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(calls) == 1 and len(results) == 4
    assert {r.lines[0].text for r, _ in results} == {"shared"}
    statuses = sorted(run.status for _, run in results)
    assert statuses == ["computed", "reused", "reused", "reused"]
    ledger = work.ledger()
    assert sorted(r.status for r in ledger) == statuses
    assert max(r.waited_s for r in ledger if r.status == "reused") > 0.1  # they waited for the computing thread


def test_processes_compute_a_stage_once(tmp_path):
    count = tmp_path / "count"
    children = [_child([str(tmp_path / "work"), str(count), "1.0"], _STAGE_CHILD) for _ in range(2)]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert count.read_text() == "x"  # computed by one process only
    assert sorted(out.split()[0] for out, _ in outputs) == ["computed", "reused"]
    work = WorkDir(tmp_path / "work", "c" * 64)
    assert sorted(r.status for r in work.ledger()) == ["computed", "reused"]


def test_a_killed_lock_holder_does_not_block_and_its_attempt_is_redone(tmp_path):
    root, count = tmp_path / "work", tmp_path / "count"
    child = _child([str(root), str(count), "60"], _STAGE_CHILD)
    work = WorkDir(root, "c" * 64)
    _wait_for(work.path / "started", child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert (work.stage_dir("slow", "k") / "partial.bin").exists()
    assert not (work.stage_dir("slow", "k") / "result.json").exists()

    started = time.monotonic()
    result, run = work.run_stage("slow", "k", Lines, lambda folder: _lines("redone"))
    assert time.monotonic() - started < 10  # the OS released the dead holder's lock
    assert (run.status, result.lines[0].text) == ("computed", "redone")
    assert not (work.stage_dir("slow", "k") / "partial.bin").exists()
    assert [r.status for r in work.ledger()] == ["computed"]


# a child process killed while it writes OUT through atomic_path
_WRITER_CHILD = """
import sys, time
from pathlib import Path
from polydub.workdir import atomic_path
out = Path(sys.argv[1])
with atomic_path(out) as tmp:
    with open(tmp, "wb") as handle:
        handle.write(b"\\0" * 65536)
        handle.flush()
        (out.parent / "writing").touch()
        time.sleep(60)
        handle.write(b"never")
"""


def test_a_killed_writer_leaves_no_final_name_and_its_temp_is_swept(tmp_path):
    out_dir = tmp_path / "out"
    child = _child([str(out_dir / "talk.es.mp4")], _WRITER_CHILD)
    _wait_for(out_dir / "writing", child)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    left = sorted(p.name for p in out_dir.iterdir() if p.name != "writing")
    assert len(left) == 1 and left[0].startswith(".talk.es.mp4.") and left[0].endswith(".part.mp4")  # no talk.es.mp4
    assert is_stale_partial(out_dir / left[0])

    mine = partial_path(out_dir / "report.json")  # this live process's own temp name: never stale
    mine.write_text("{")
    foreign = out_dir / ".report.json.abcdef-1-123456.part.json"  # another host's: stale only when old
    foreign.write_text("{")
    (out_dir / ".hidden").write_text("not ours")
    assert not is_stale_partial(mine) and not is_stale_partial(foreign)
    assert is_stale_partial(foreign, now=time.time() + workdir_module.STALE_AFTER_S + 1)

    write_text_atomic(out_dir / "report.json", "{}")  # the first write of a process into a folder sweeps it
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted([".hidden", foreign.name, mine.name, "report.json", "writing"])
    assert sweep_partials(out_dir) == []


def test_temp_names_fit_the_file_name_limit(tmp_path):
    final = tmp_path / ("ü" * 120 + ".es.report.html")  # 255 bytes of UTF-8 with its suffix
    assert len(final.name.encode()) <= 255
    tmp = partial_path(final)
    assert len(tmp.name.encode()) <= 255 and tmp.name.endswith(".part.html")
    write_text_atomic(final, "page")
    assert final.read_text() == "page"


def test_a_torn_ledger_line_is_skipped_and_the_next_entry_starts_a_new_line(tmp_path):
    work = WorkDir(tmp_path, "e" * 64)
    work.run_stage("lines", "k", Lines, lambda folder: _lines("one"))
    with open(work.path / LEDGER, "a", encoding="utf-8") as handle:
        handle.write('{"stage": "synthesize", "key": "k2", "sta')  # a writer killed mid-line
    assert [r.status for r in work.ledger()] == ["computed"]
    work.run_stage("lines", "k", Lines, lambda folder: _lines("one"))
    assert [r.status for r in work.ledger()] == ["computed", "reused"]


def test_a_result_this_code_cannot_read_is_recomputed(tmp_path):
    work = WorkDir(tmp_path, "f" * 64)
    folder = work.stage_dir("lines", "k")
    folder.mkdir(parents=True)
    (folder / "result.json").write_text('{"lines": [{"index": 0}]}')  # an older record, missing fields
    result, run = work.run_stage("lines", "k", Lines, lambda f: _lines("fresh"))
    assert (run.status, result.lines[0].text) == ("computed", "fresh")
    assert work.run_stage("lines", "k", Lines, lambda f: _lines("never"))[1].status == "reused"


def test_a_copy_under_another_name_reuses_the_stages_and_keeps_its_own_name(tmp_path):
    """The ingest result is cached by content; the source path a run sees is its own file's, and stage keys ignore it."""
    import shutil

    from tasks.ingest import ingest_source
    from tasks.stage import digest

    first = tmp_path / "a.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-f", "lavfi",
                    "-i", "sine=frequency=300:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", str(first)], check=True)  # fmt: skip
    second = shutil.copyfile(first, tmp_path / "b copy.mp4")
    work, audio_a = ingest_source.fn(str(first), str(tmp_path / "work"))
    _, audio_b = ingest_source.fn(str(second), str(tmp_path / "work"))
    assert Path(audio_a.media.path).name == "a.mp4" and Path(audio_b.media.path).name == "b copy.mp4"
    assert digest(audio_a) == digest(audio_b)  # every later stage keyed on the audio is shared by both names
    assert [r.status for r in work.ledger() if r.stage == "ingest"] == ["computed", "reused"]
