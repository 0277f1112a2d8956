"""One work folder per source video, keyed by its content hash, with a stage cache.

Every stage writes into its own folder ``<stage>-<key>``; the stage's ``result.json``
is written last (temp file + rename), so a folder without it is an unfinished stage
and is recomputed from scratch. The key hashes the stage name, its parameters, the
backend and model version, and the keys of the stages it reads (which in turn hash
their inputs, down to the source video's content hash). A ledger records, for each
stage call, whether it was computed or reused, its wall time and the process's
peak memory.

Several processes may share one work folder (two runs of the same video, languages on a
work pool): each stage is computed under an inter-process file lock (``.locks/<stage>-<key>.lock``),
so a second caller waits, then reuses the first one's result. A process killed mid-write
leaves only a hidden temp file (``.NAME.<host>-<pid>-<nonce>.part.EXT``), never a half-written
file under its final name; the next process that writes into that folder removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from filelock import FileLock
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

LEDGER = "ledger.jsonl"
LOCKS = ".locks"  # inter-process locks of the work folder's stages and ledger
STALE_AFTER_S = 24 * 3600.0  # a temp file of another host (or of a reused pid) this old is abandoned

NAME_MAX = 255  # bytes in one file name on common filesystems

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
_PARTIAL = re.compile(r"^\.(?P<final>.*)\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{6}\.part(\.[^.]*)?$")
_swept: set[Path] = set()  # folders this process has already cleaned of stale temp files
_swept_lock = threading.Lock()


def file_sha256(path: Path | str, chunk: int = 1 << 20) -> str:
    """Content hash of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def stage_key(stage: str, **parts: Any) -> str:
    """Stable hash of a stage's identity: name, parameters, backend, upstream keys."""
    blob = json.dumps({"stage": stage, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def partial_path(final: Path | str) -> Path:
    """A hidden temp name beside ``final`` that says which host and process is writing it.

    ``.NAME.<host>-<pid>-<nonce>.part.EXT``; NAME is shortened if the whole would be too long.
    """
    final = Path(final)
    tail = f".{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:6]}.part{final.suffix}"
    name = final.name
    while len(f".{name}{tail}".encode()) > NAME_MAX:
        name = name[:-1]
    return final.parent / f".{name}{tail}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_stale_partial(path: Path | str, now: float | None = None) -> bool:
    """Whether ``path`` is a temp file of `atomic_path` whose writer is gone.

    On this host: its process no longer exists. From another host (a shared folder) or a
    still-used pid: only when it has not changed for `STALE_AFTER_S`.
    """
    path = Path(path)
    match = _PARTIAL.match(path.name)
    if match is None:
        return False
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if match["host"] == _HOST and int(match["pid"]) != os.getpid() and not _pid_alive(int(match["pid"])):
        return True
    return age > STALE_AFTER_S


def sweep_partials(folder: Path | str) -> list[Path]:
    """Remove the stale temp files left in ``folder`` (not below it) by killed writers; return them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and ".part" in entry.name and entry.is_file(follow_symlinks=False):
            if is_stale_partial(entry.path):
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
    return removed


def _sweep_once(folder: Path) -> None:
    """Sweep ``folder`` the first time this process writes into it."""
    with _swept_lock:
        if folder in _swept:
            return
        _swept.add(folder)
    sweep_partials(folder)


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success.

    A crash leaves at most the hidden temp file, which the next process writing into the
    same folder removes (`sweep_partials`); ``final`` is complete or absent.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(final.parent.resolve())
    # not created here, so the writer creates it with the user's usual permissions
    tmp_path = partial_path(final)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def copy_atomic(src: Path | str, dst: Path | str) -> Path:
    """Copy a file so that ``dst`` appears complete or not at all."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def peak_rss_mb() -> float:
    """Peak resident memory of this process and its waited-for children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


@dataclass(frozen=True)
class StageRun:
    """What the ledger says about one stage call."""

    stage: str
    key: str
    status: str  # "computed" or "reused"
    seconds: float
    peak_rss_mb: float
    language: str | None = None
    finished_at: float = 0.0
    waited_s: float = 0.0  # time spent waiting for another process computing the same stage
    job: str | None = None  # the localize run this call was part of (runs of one video may overlap)


class WorkDir:
    """The work folder of one source video; ``job`` labels this run's ledger entries."""

    def __init__(self, root: Path | str, video_sha256: str, job: str | None = None):
        self.video_sha256 = video_sha256
        self.job = job
        self.path = Path(root).expanduser().resolve() / video_sha256[:16]
        self.path.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str, key: str) -> Path:
        return self.path / f"{stage}-{key}"

    def stage_lock(self, stage: str, key: str) -> FileLock:
        """The inter-process lock of one stage (released by the OS if its holder is killed)."""
        locks = self.path / LOCKS
        locks.mkdir(exist_ok=True)
        return FileLock(locks / f"{stage}-{key}.lock")

    def run_stage(
        self,
        stage: str,
        key: str,
        result_type: type[T],
        compute: Callable[[Path], T],
        language: str | None = None,
    ) -> tuple[T, StageRun]:
        """Return the stage's cached result, or compute it into a fresh stage folder.

        ``compute`` receives the stage folder to write its files into and returns the
        result object, which is saved as ``result.json`` last. The second value is the
        ledger entry of this call. Another process computing the same stage is waited
        for, and its result reused.
        """
        folder = self.stage_dir(stage, key)
        started = time.perf_counter()
        result = self._finished(folder, result_type)
        if result is not None:
            return result, self._log(StageRun(stage, key, "reused", time.perf_counter() - started, peak_rss_mb(), language))
        with self.stage_lock(stage, key):
            waited = time.perf_counter() - started
            result = self._finished(folder, result_type)  # finished by another process while we waited
            if result is not None:
                run = StageRun(stage, key, "reused", time.perf_counter() - started, peak_rss_mb(), language, waited_s=waited)
                return result, self._log(run)
            if folder.exists():  # an unfinished attempt (a crash): start it again from nothing
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            result = compute(folder)
            write_text_atomic(folder / "result.json", result.model_dump_json(indent=2))
        return result, self._log(StageRun(stage, key, "computed", time.perf_counter() - started, peak_rss_mb(), language, waited_s=waited))

    @staticmethod
    def _finished(folder: Path, result_type: type[T]) -> T | None:
        """The stage's saved result; None if it has none, or one this code cannot read (it is redone)."""
        result_file = folder / "result.json"
        try:
            return result_type.model_validate_json(result_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValidationError:  # written by another version of the record, or not valid JSON
            return None

    def _log(self, run: StageRun) -> StageRun:
        run = replace(run, finished_at=time.time(), job=self.job)
        (self.path / LOCKS).mkdir(exist_ok=True)
        with FileLock(self.path / LOCKS / "ledger.lock"), open(self.path / LEDGER, "a+b") as handle:
            torn = handle.tell() > 0 and os.pread(handle.fileno(), 1, handle.tell() - 1) != b"\n"
            handle.write((("\n" if torn else "") + json.dumps(run.__dict__) + "\n").encode())
        return run

    def ledger(self, job: str | None = None) -> list[StageRun]:
        """Every stage call recorded for this video (only ``job``'s, if given), oldest first."""
        ledger = self.path / LEDGER
        if not ledger.exists():
            return []
        runs = []
        for raw in ledger.read_text(encoding="utf-8").splitlines():
            try:
                runs.append(StageRun(**json.loads(raw)))
            except (ValueError, TypeError):  # a line torn by a killed writer
                continue
        return [r for r in runs if r.job == job] if job is not None else runs
