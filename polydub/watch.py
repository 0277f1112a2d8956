"""File drop: watch a folder and emit a `polydub.source.dropped` Prefect event per new video.

A file is announced once its size and modification time have stayed the same for
``settle`` seconds (a copy still in progress is not picked up). Hidden, temporary and
partial files and non-video extensions are ignored, and nothing that resolves outside
the watched folder is announced (a symlink pointing out of it is refused with a warning).
Each event's id is a uuid5 of the file's path, size, content hash and targets, so the
same file announced twice (by a restarted watcher, a second watcher, a re-copy) carries
the same id and the Prefect server drops the repeat; the deployment trigger in
prefect.yaml also fires at most once per drop key within its window.

The pure parts (name filter, containment, debounce state, keys, the event) are plain
functions and classes; `InboxWatcher` ties them to watchdog and an emitter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

from polydub.workdir import file_sha256

if TYPE_CHECKING:
    from polydub.inbox import RunConfirmer

log = logging.getLogger("polydub.watch")

EVENT_NAME = "polydub.source.dropped"
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".mxf", ".ts", ".wmv", ".flv"})
PARTIAL_SUFFIXES = frozenset({".part", ".partial", ".tmp", ".temp", ".crdownload", ".download", ".swp", ".filepart"})
# a fixed namespace, so the same drop gives the same event id on every machine and run
DROP_NAMESPACE = uuid.UUID("5b0c4f5e-2d0e-5a43-9c1c-6f6c79647562")


# --- which files count --------------------------------------------------------------------
def is_video_name(relative: Path | str) -> bool:
    """True for a visible, finished video file name (also checks every folder on the way)."""
    parts = Path(relative).parts
    if not parts or any(p.startswith(".") for p in parts):
        return False
    name = parts[-1]
    if name.endswith("~") or name.startswith("~$"):
        return False
    suffixes = [s.lower() for s in Path(name).suffixes]
    if any(s in PARTIAL_SUFFIXES for s in suffixes):
        return False
    return Path(name).suffix.lower() in VIDEO_EXTENSIONS


def resolve_inside(root: Path, path: Path) -> Optional[Path]:
    """The real path of ``path`` if it lies inside ``root`` (after following symlinks), else None."""
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    return real if real.is_relative_to(root.resolve()) else None


def candidate(root: Path, path: Path) -> Optional[Path]:
    """The real path of a video under ``root`` worth watching; None (with a warning for escapes) otherwise."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        log.warning("ignoring %s: not inside %s", path, root)
        return None
    if not is_video_name(relative):
        return None
    real = resolve_inside(root, path)
    if real is None:
        if path.is_symlink():
            log.warning("ignoring %s: it points outside %s", path, root)
        return None
    return real if real.is_file() else None


def iter_videos(root: Path, start: Optional[Path] = None) -> Iterator[Path]:
    """Every candidate video below ``start`` (default ``root``) as real paths; hidden folders are not entered."""
    for folder, dirs, files in os.walk(start or root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            real = candidate(root, Path(folder) / name)
            if real is not None:
                yield real


# --- debounce -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """What must stop changing before a file counts as complete."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Optional["Snapshot"]:
        try:
            st = path.stat()
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns)


class Debouncer:
    """Tracks files until their size and mtime have held still for ``settle_s`` seconds."""

    def __init__(self, settle_s: float):
        self.settle_s = settle_s
        self._pending: dict[Path, Optional[tuple[Snapshot, float]]] = {}
        self._lock = threading.Lock()  # marks come from watchdog's thread

    @property
    def pending(self) -> set[Path]:
        with self._lock:
            return set(self._pending)

    def mark(self, path: Path) -> None:
        """Something happened to ``path``: (re)start watching it (keeps its last snapshot)."""
        with self._lock:
            self._pending.setdefault(path, None)

    def poll(self, now: float, stat: Callable[[Path], Optional[Snapshot]] = Snapshot.of) -> list[tuple[Path, Snapshot]]:
        """The files that have settled by ``now`` (they stop being tracked); vanished files are dropped."""
        with self._lock:
            return self._poll(now, stat)

    def _poll(self, now: float, stat: Callable[[Path], Optional[Snapshot]]) -> list[tuple[Path, Snapshot]]:
        ready = []
        for path, seen in list(self._pending.items()):
            snap = stat(path)
            if snap is None:
                del self._pending[path]
            elif seen is None or seen[0] != snap:
                self._pending[path] = (snap, now)
                if self.settle_s <= 0:
                    ready.append((path, snap))
                    del self._pending[path]
            elif now - seen[1] >= self.settle_s:
                ready.append((path, snap))
                del self._pending[path]
        return ready


# --- the event ----------------------------------------------------------------------------
@dataclass(frozen=True)
class DropOptions:
    """What a dropped file should become: the `localize` parameters the trigger passes on."""

    targets: tuple[str, ...]
    out_root: Path
    source_language: str = "en"
    deliver_to: Optional[str] = None
    profile: str = "lite"

    def out_dir(self, root: Path, real: Path) -> Path:
        """OUT/<path of the file in the inbox, without its extension>/."""
        return self.out_root / real.relative_to(root.resolve()).with_suffix("")

    def deliver_dir(self, root: Path, real: Path) -> Optional[str]:
        """DELIVER_TO/<path of the file in the inbox, without its extension> (a URL or a folder)."""
        if not self.deliver_to:
            return None
        return f"{self.deliver_to.rstrip('/')}/{real.relative_to(root.resolve()).with_suffix('').as_posix()}"


def drop_key(path: Path, size: int, sha256: str, targets: Iterable[str]) -> str:
    """Identity of one job: the same file (path, size, content) for the same targets."""
    blob = json.dumps([str(path), size, sha256, sorted(targets)])
    return hashlib.sha256(blob.encode()).hexdigest()


def event_id(key: str) -> uuid.UUID:
    """The event id of a drop key (stable across processes and machines)."""
    return uuid.uuid5(DROP_NAMESPACE, key)


def path_resource_id(path: Path, kind: str = "file") -> str:
    """``polydub.<kind>.<sha256 of the path>``: the Prefect resource id of a file or an inbox."""
    return f"polydub.{kind}.{hashlib.sha256(str(path).encode()).hexdigest()}"


@dataclass(frozen=True)
class DropEvent:
    """Everything `emit_event` needs for one dropped file."""

    id: uuid.UUID
    key: str
    resource: dict[str, str]
    related: list[dict[str, str]]
    payload: dict[str, Any]
    event: str = EVENT_NAME


def build_drop_event(root: Path, real: Path, snap: Snapshot, sha256: str, options: DropOptions) -> DropEvent:
    """The event announcing ``real`` (a file inside ``root``) with the parameters for `localize`."""
    key = drop_key(real, snap.size, sha256, options.targets)
    resource = {
        "prefect.resource.id": path_resource_id(real),
        "prefect.resource.name": real.name,
        "polydub.drop-key": key,
        "polydub.sha256": sha256,
    }
    inbox = root.resolve()
    related = [{"prefect.resource.id": path_resource_id(inbox, "inbox"), "prefect.resource.role": "inbox", "prefect.resource.name": str(inbox)}]
    payload = {
        "path": str(real),
        "name": real.name,
        "size": snap.size,
        "mtime_ns": snap.mtime_ns,
        "sha256": sha256,
        "key": key,
        "targets": list(options.targets),
        "source_language": options.source_language,
        "profile": options.profile,
        "out_dir": str(options.out_dir(root, real)),
        "deliver_to": options.deliver_dir(root, real),
        "inbox": str(inbox),
    }
    return DropEvent(id=event_id(key), key=key, resource=resource, related=related, payload=payload)


Emitter = Callable[[DropEvent], bool]


def prefect_emitter(drop: DropEvent) -> bool:
    """Send the event with `prefect.events.emit_event`; False when Prefect did not take it."""
    from prefect.events import emit_event

    sent = emit_event(drop.event, resource=drop.resource, related=drop.related, payload=drop.payload, id=drop.id)
    return sent is not None


def flush_events() -> None:
    """Wait until every emitted event has been handed to the server."""
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)


# --- the watcher --------------------------------------------------------------------------
@dataclass
class InboxWatcher:
    """Announces each settled video in ``root`` once per drop key (this process's memory)."""

    root: Path
    options: DropOptions
    emitter: Emitter = prefect_emitter
    settle_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    emitted: dict[str, DropEvent] = field(default_factory=dict)
    confirmer: Optional[RunConfirmer] = None  # follows each sent drop until its run exists

    def __post_init__(self) -> None:
        self.root = Path(self.root).absolute()
        self.debounce = Debouncer(self.settle_s)

    def notice(self, path: Path) -> None:
        """A filesystem event named ``path`` (file or folder): track what it holds."""
        path = Path(path)
        if path.is_dir() and not path.is_symlink():
            inside = path == self.root or (path.is_relative_to(self.root) and not any(p.startswith(".") for p in path.relative_to(self.root).parts))
            if inside and resolve_inside(self.root, path) is not None:
                for real in iter_videos(self.root, path):
                    self.debounce.mark(real)
            return
        real = candidate(self.root, path)
        if real is not None:
            self.debounce.mark(real)

    def scan(self) -> None:
        """Track every video already in the folder."""
        for real in iter_videos(self.root):
            self.debounce.mark(real)

    def tick(self) -> list[DropEvent]:
        """Announce the files that have settled; returns the events sent now."""
        sent = []
        for real, snap in self.debounce.poll(self.clock()):
            if resolve_inside(self.root, real) is None:  # replaced by a link out of the folder meanwhile
                log.warning("ignoring %s: it resolves outside %s", real, self.root)
                continue
            drop = build_drop_event(self.root, real, snap, file_sha256(real), self.options)
            if Snapshot.of(real) != snap:  # changed while hashing: watch it again
                self.debounce.mark(real)
                continue
            if drop.key in self.emitted:
                log.info("already announced %s (same content), not again", real)
                continue
            if self.emitter(drop):
                self.emitted[drop.key] = drop
                sent.append(drop)
                if self.confirmer is not None:
                    self.confirmer.add(drop)
            else:
                log.warning("could not emit the event for %s; will retry", real)
                self.debounce.mark(real)
        return sent

    def run_once(self, poll_s: float = 0.5, timeout_s: Optional[float] = None, confirm_s: float = 120.0) -> list[DropEvent]:
        """Announce every video present now (waiting for each to settle), follow them to their runs
        for up to ``confirm_s`` seconds (with a confirmer), then return."""
        self.scan()
        sent: list[DropEvent] = []
        deadline = None if timeout_s is None else self.clock() + timeout_s
        while True:
            sent += self.tick()
            if not self.debounce.pending or (deadline is not None and self.clock() > deadline):
                break
            time.sleep(poll_s)
        if self.confirmer is not None:
            until = self.clock() + confirm_s
            while self.confirmer.pending and self.clock() < until:
                self.confirmer.check()
                time.sleep(poll_s)
            for drop in self.confirmer.pending.values():
                log.warning("no run known yet for %s (event %s): is the localize trigger deployed?", drop.payload["path"], drop.id)
        return sent

    def run(self, stop: threading.Event, poll_s: float = 0.5, on_sent: Callable[[DropEvent], None] = lambda d: None) -> None:
        """Watch until ``stop`` is set: files already there, then each one created, modified or moved in."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # created, modified, moved, closed
                if event.event_type in ("deleted", "opened", "closed_no_write"):
                    return
                target = getattr(event, "dest_path", "") or event.src_path
                watcher.notice(Path(os.fsdecode(target)))

        observer = Observer()
        observer.schedule(Handler(), str(self.root), recursive=True)
        observer.start()
        try:
            self.scan()
            while not stop.is_set():
                for drop in self.tick():
                    on_sent(drop)
                if self.confirmer is not None:
                    self.confirmer.check()
                stop.wait(poll_s)
        finally:
            observer.stop()
            observer.join(10)


def watch_folder(
    root: Path,
    options: DropOptions,
    settle_s: float = 5.0,
    once: bool = False,
    on_sent: Callable[[DropEvent], None] = lambda d: None,
    emitter: Emitter = prefect_emitter,
) -> None:
    """`polydub watch`: announce videos in ``root`` until SIGINT/SIGTERM (or, with ``once``, those present now).
    With Prefect's emitter, each announced drop is followed until its `localize` run exists (RunConfirmer)."""
    import signal

    confirmer = None
    if emitter is prefect_emitter:
        from polydub.inbox import RunConfirmer

        confirmer = RunConfirmer()
    watcher = InboxWatcher(root, options, emitter=emitter, settle_s=settle_s, confirmer=confirmer)
    try:
        if once:
            for drop in watcher.run_once():
                on_sent(drop)
            return
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            watcher.run(stop, on_sent=on_sent)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        if emitter is prefect_emitter:
            flush_events()
