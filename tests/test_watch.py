"""The file-drop watcher: name filter, containment, debounce, stable event ids (in-memory emitter)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from polydub.watch import (
    EVENT_NAME,
    Debouncer,
    DropEvent,
    DropOptions,
    InboxWatcher,
    Snapshot,
    is_video_name,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """An in-memory emitter: keeps every event it is given (can be told to refuse)."""

    def __init__(self, accept: bool = True) -> None:
        self.events: list[DropEvent] = []
        self.accept = accept

    def __call__(self, drop: DropEvent) -> bool:
        if self.accept:
            self.events.append(drop)
        return self.accept


def _watcher(inbox: Path, emitter, settle: float = 2.0, clock=None, targets=("es",)) -> InboxWatcher:
    options = DropOptions(targets=tuple(targets), out_root=inbox.parent / "out")
    return InboxWatcher(inbox, options, emitter=emitter, settle_s=settle, clock=clock or FakeClock())


@pytest.fixture
def inbox(tmp_path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "name, ok",
    [
        ("talk.mp4", True), ("Talk.MOV", True), ("a/b/ep 1.mkv", True), ("clip.webm", True),
        (".talk.mp4", False), ("talk.mp4.part", False), ("talk.part.mp4", False), ("talk.mp4.tmp", False),
        ("talk.mp4.crdownload", False), ("talk.mp4~", False), ("notes.txt", False), ("talk", False),
        (".sync/talk.mp4", False), ("a/.hidden/talk.mp4", False), ("talk.mp4.partial", False),
    ],
)
def test_is_video_name(name, ok):
    assert is_video_name(name) is ok


def test_debouncer_waits_for_size_and_mtime_to_hold_still():
    sizes = {Path("a.mp4"): Snapshot(10, 1)}
    stat = lambda p: sizes.get(p)  # noqa: E731
    debounce = Debouncer(settle_s=5)
    debounce.mark(Path("a.mp4"))
    assert debounce.poll(0, stat) == []
    sizes[Path("a.mp4")] = Snapshot(20, 2)  # still growing
    assert debounce.poll(4, stat) == []
    assert debounce.poll(8, stat) == []  # only 4 s since the last change
    sizes[Path("a.mp4")] = Snapshot(20, 3)  # same size, newer mtime: still being written
    assert debounce.poll(9.5, stat) == []
    assert debounce.poll(14.4, stat) == []
    assert debounce.poll(14.5, stat) == [(Path("a.mp4"), Snapshot(20, 3))]
    assert debounce.pending == set()
    debounce.mark(Path("gone.mp4"))
    assert debounce.poll(20, stat) == [] and debounce.pending == set()  # vanished files are dropped


def test_a_file_still_being_written_is_not_announced_early(inbox):
    clock, sent = FakeClock(), Recorder()
    watcher = _watcher(inbox, sent, settle=3, clock=clock)
    video = inbox / "talk.mp4"
    with open(video, "wb") as handle:
        for _ in range(4):
            handle.write(os.urandom(50_000))
            handle.flush()
            watcher.notice(video)
            assert watcher.tick() == []
            clock.advance(2.0)  # less than the settle time between writes
    assert watcher.tick() == []  # first look at the final size
    clock.advance(3.0)
    (drop,) = watcher.tick()
    assert drop.payload["size"] == 200_000 == video.stat().st_size
    assert drop.event == EVENT_NAME and drop.payload["path"] == str(video.resolve())
    clock.advance(10)
    assert watcher.tick() == [] and len(sent.events) == 1


def test_hidden_partial_and_non_video_files_are_ignored(inbox):
    for name in (".talk.mp4", "talk.mp4.part", "talk.mp4.tmp", "talk.mp4.crdownload", "talk.mp4~", "notes.txt"):
        (inbox / name).write_bytes(b"x" * 100)
    (inbox / ".staging").mkdir()
    (inbox / ".staging" / "talk.mp4").write_bytes(b"x" * 100)
    (inbox / "season1").mkdir()
    (inbox / "season1" / "ep1.mkv").write_bytes(b"y" * 100)
    sent = Recorder()
    options = DropOptions(targets=("es",), out_root=inbox.parent / "out", deliver_to="s3://dubs/jobs/")
    InboxWatcher(inbox, options, emitter=sent, settle_s=0).run_once(poll_s=0)
    assert [d.payload["name"] for d in sent.events] == ["ep1.mkv"]
    assert sent.events[0].payload["out_dir"] == str(inbox.parent / "out" / "season1" / "ep1")
    assert sent.events[0].payload["deliver_to"] == "s3://dubs/jobs/season1/ep1"


def test_symlink_out_of_the_folder_is_refused(inbox, tmp_path, caplog):
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"z" * 100)
    (inbox / "escape.mp4").symlink_to(outside)
    (inbox / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    inner = inbox / "real.mp4"
    inner.write_bytes(b"r" * 100)
    (inbox / "alias.mp4").symlink_to(inner)  # inside: the same file as real.mp4
    sent = Recorder()
    watcher = _watcher(inbox, sent, settle=0)
    with caplog.at_level(logging.WARNING, logger="polydub.watch"):
        watcher.run_once(poll_s=0)
        watcher.notice(inbox / "escape.mp4")  # a watchdog event for it is refused too
        watcher.tick()
    assert [d.payload["path"] for d in sent.events] == [str(inner.resolve())]
    assert "escape.mp4" in caplog.text and "outside" in caplog.text
    assert all(str(tmp_path / "secret.mp4") not in d.payload["path"] for d in sent.events)


def test_a_symlinked_folder_pointing_out_is_never_entered(inbox, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "movie.mp4").write_bytes(b"m" * 100)
    (elsewhere / "deep" / "film.mkv").write_bytes(b"f" * 100)
    (inbox / "shows").symlink_to(elsewhere, target_is_directory=True)
    (inbox / "season1").mkdir()
    (inbox / "season1" / "extras").symlink_to(elsewhere / "deep", target_is_directory=True)  # a link one level down
    sent = Recorder()
    watcher = _watcher(inbox, sent, settle=0)
    watcher.run_once(poll_s=0)
    for event in (inbox / "shows", inbox / "shows" / "movie.mp4", inbox / "season1", inbox / "season1" / "extras",
                  inbox / "season1" / "extras" / "film.mkv"):
        watcher.notice(event)  # what watchdog may report for the links and for files seen through them
    assert watcher.debounce.pending == set() and watcher.tick() == [] and sent.events == []


def test_dotdot_in_event_paths_cannot_reach_outside(inbox, tmp_path):
    (tmp_path / "secret.mp4").write_bytes(b"s" * 100)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "movie.mp4").write_bytes(b"m" * 100)
    (inbox / "sub").mkdir()
    sent = Recorder()
    watcher = _watcher(inbox, sent, settle=0)
    for event in (
        inbox / ".." / "secret.mp4",
        inbox / "sub" / ".." / ".." / "secret.mp4",
        inbox / "..",
        inbox / ".." / "elsewhere",
        Path(f"{inbox}/../elsewhere/movie.mp4"),
        Path("..") / "secret.mp4",  # relative to wherever the watcher runs
        tmp_path / "secret.mp4",  # an absolute path outside
    ):
        watcher.notice(event)
    assert watcher.debounce.pending == set() and watcher.tick() == [] and sent.events == []


@pytest.mark.parametrize("swap", ["file", "folder"])
def test_a_link_swapped_in_after_the_file_settled_is_refused(inbox, tmp_path, caplog, swap):
    """The file settles, then its path (or a folder on it) is replaced by a link out of the inbox that looks the
    same to the debouncer (same size and mtime): the check just before announcing refuses it."""
    clock, sent = FakeClock(), Recorder()
    (inbox / "season1").mkdir()
    video = inbox / "season1" / "ep1.mp4"
    video.write_bytes(b"a" * 100)
    outside = tmp_path / "private" / "ep1.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"p" * 100)
    st = video.stat()
    os.utime(outside, ns=(st.st_atime_ns, st.st_mtime_ns))
    watcher = _watcher(inbox, sent, settle=2, clock=clock)
    watcher.scan()
    assert watcher.tick() == []  # first look: size and mtime recorded
    clock.advance(2)
    if swap == "file":
        video.unlink()
        video.symlink_to(outside)
    else:
        video.unlink()
        (inbox / "season1").rmdir()
        (inbox / "season1").symlink_to(outside.parent, target_is_directory=True)
    with caplog.at_level(logging.WARNING, logger="polydub.watch"):
        assert watcher.tick() == []
    assert sent.events == [] and "outside" in caplog.text


def test_event_ids_are_stable_for_the_same_file_and_differ_for_a_changed_one(inbox):
    video = inbox / "talk.mp4"
    video.write_bytes(b"a" * 1000)

    def announce(targets=("es",)) -> DropEvent:
        sent = Recorder()
        _watcher(inbox, sent, settle=0, targets=targets).run_once(poll_s=0)  # a fresh watcher each time
        (drop,) = sent.events
        return drop

    first = announce()
    assert announce().id == first.id  # a restarted watcher re-announces with the same id
    os.utime(video, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    touched = announce()
    assert touched.id == first.id and touched.payload["mtime_ns"] != first.payload["mtime_ns"]  # touch: same content
    assert announce(targets=("es", "ca")).id != first.id
    video.write_bytes(b"b" * 1000)  # same size, other content
    changed = announce()
    assert changed.id != first.id and changed.payload["sha256"] != first.payload["sha256"]
    video.write_bytes(b"a" * 1001)
    assert announce().id not in {first.id, changed.id}
    assert first.resource["prefect.resource.id"] == changed.resource["prefect.resource.id"]  # same path, same resource
    assert first.resource["polydub.drop-key"] == first.key != changed.key


def test_the_same_content_dropped_again_is_not_announced_twice(inbox):
    clock, sent = FakeClock(), Recorder()
    watcher = _watcher(inbox, sent, settle=1, clock=clock)
    video = inbox / "talk.mp4"
    video.write_bytes(b"a" * 500)
    watcher.scan()
    watcher.tick()
    clock.advance(1)
    assert len(watcher.tick()) == 1
    video.write_bytes(b"a" * 500)  # copied over again
    watcher.notice(video)
    watcher.tick()
    clock.advance(1)
    assert watcher.tick() == []
    video.write_bytes(b"c" * 500)  # new content at the same path: a new job
    watcher.notice(video)
    watcher.tick()
    clock.advance(1)
    assert len(watcher.tick()) == 1 and len(sent.events) == 2


def test_a_refused_emission_is_retried(inbox):
    (inbox / "talk.mp4").write_bytes(b"a" * 10)
    sent = Recorder(accept=False)
    watcher = _watcher(inbox, sent, settle=0)
    watcher.scan()
    assert watcher.tick() == [] and watcher.debounce.pending  # still tracked
    sent.accept = True
    assert len(watcher.tick()) == 1 and not watcher.debounce.pending


def test_watchdog_loop_announces_a_slow_copy_once(inbox):
    """The real watchdog observer: a file written in pieces over ~1.5 s is announced once, complete."""
    sent = Recorder()
    watcher = _watcher(inbox, sent, settle=0.8, clock=time.monotonic)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), kwargs={"poll_s": 0.1}, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        partial = inbox / "talk.mp4.part"
        with open(partial, "wb") as handle:  # a downloader's temporary name, renamed when complete
            handle.write(os.urandom(10_000))
        video = inbox / "slow.mp4"
        with open(video, "wb") as handle:
            for _ in range(5):
                handle.write(os.urandom(20_000))
                handle.flush()
                time.sleep(0.3)
        partial.rename(inbox / "talk.mp4")
        deadline = time.monotonic() + 10
        while len(sent.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # nothing more arrives
    finally:
        stop.set()
        thread.join(10)
    sizes = {d.payload["name"]: d.payload["size"] for d in sent.events}
    assert sizes == {"slow.mp4": 100_000, "talk.mp4": 10_000}
    assert len(sent.events) == 2


@pytest.mark.parametrize(
    "case, message",
    [("missing", "is not a folder"), ("out-inside", "must not be inside"), ("no-api", "PREFECT_API_URL"), ("same-language", "source language")],
)
def test_watch_command_refuses_bad_setups(inbox, tmp_path, case, message, polydub_bin):
    import subprocess

    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    args = [polydub_bin, "watch", str(inbox), "--once", "--out", str(tmp_path / "out")]
    if case == "missing":
        args[2] = str(tmp_path / "nope")
    elif case == "out-inside":
        args[-1] = str(inbox / "out")
    elif case == "no-api":
        env.pop("PREFECT_API_URL")
    else:
        args += ["--to", "en"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stdout + done.stderr
