"""One work folder per source video, keyed by its content hash, with a stage cache.

Every stage writes into its own folder ``<stage>-<key>``; the stage's ``result.json``
is written last (temp file + rename), so a folder without it is an unfinished stage
and is recomputed from scratch. The key hashes the stage name, its parameters, the
backend and model version, and the keys of the stages it reads (which in turn hash
their inputs, down to the source video's content hash). A ledger records, for each
stage call, whether it was computed or reused, its wall time and the process's
peak memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)

LEDGER = "ledger.jsonl"


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


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    # not created here, so the writer creates it with the user's usual permissions
    tmp_path = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.part{final.suffix}"
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


class WorkDir:
    """The work folder of one source video."""

    def __init__(self, root: Path | str, video_sha256: str):
        self.video_sha256 = video_sha256
        self.path = Path(root).expanduser().resolve() / video_sha256[:16]
        self.path.mkdir(parents=True, exist_ok=True)

    def stage_dir(self, stage: str, key: str) -> Path:
        return self.path / f"{stage}-{key}"

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
        ledger entry of this call.
        """
        folder = self.stage_dir(stage, key)
        result_file = folder / "result.json"
        started = time.perf_counter()
        if result_file.exists():
            result = result_type.model_validate_json(result_file.read_text(encoding="utf-8"))
            return result, self._log(StageRun(stage, key, "reused", time.perf_counter() - started, peak_rss_mb(), language))
        if folder.exists():  # an unfinished attempt: start it again from nothing
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        result = compute(folder)
        write_text_atomic(result_file, result.model_dump_json(indent=2))
        return result, self._log(StageRun(stage, key, "computed", time.perf_counter() - started, peak_rss_mb(), language))

    def _log(self, run: StageRun) -> StageRun:
        run = replace(run, finished_at=time.time())
        with open(self.path / LEDGER, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(run.__dict__) + "\n")
        return run

    def ledger(self) -> list[StageRun]:
        """Every stage call recorded for this video, oldest first."""
        ledger = self.path / LEDGER
        if not ledger.exists():
            return []
        runs = []
        for raw in ledger.read_text(encoding="utf-8").splitlines():
            runs.append(StageRun(**json.loads(raw)))
        return runs
