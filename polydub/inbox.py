"""Scheduled inbox scans: which videos in a folder are new, and a small state file of those started.

The state lives in the work area, ``<work root>/inboxes/<hash of the inbox path>/scan-state.json``
(written atomically). It maps each job's drop key (path, size, content hash, targets: the
same key as the watcher's events) to the flow run started for it, and remembers each
file's size, mtime and content hash so an unchanged file is not hashed again.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field, field_validator

from models.languages import parse_targets
from polydub.config import LANGUAGES, Profile, default_work_root
from polydub.delivery import destination_or_none
from polydub.watch import DropEvent, DropOptions, Snapshot, build_drop_event, iter_videos
from polydub.workdir import file_sha256, write_text_atomic

STATE_FILE = "scan-state.json"


class ScanParams(BaseModel):
    """Parameters of the `scan-inbox` flow (rendered as a form by the Prefect UI)."""

    inbox: str = Field(..., min_length=1, title="Inbox folder", description="Folder whose videos are localized, each once (as the worker sees it)")
    targets: list[str] = Field(
        ["es"], title="Target languages", description="ISO 639-1 codes, e.g. es, ca, eo",
        json_schema_extra={"items": {"type": "string", "enum": list(LANGUAGES)}, "minItems": 1, "uniqueItems": True},
    )
    source_language: str = Field(
        "en", title="Source language", description="ISO 639-1 code of the speech in the videos", json_schema_extra={"enum": list(LANGUAGES)}
    )
    profile: Profile = Field(Profile.lite, title="Profile", description="lite: CPU, nothing downloaded; studio: GPU models")
    out_root: Optional[str] = Field(None, title="Output root", description="Each video's outputs go to OUT/<its name>/; default: <inbox>-dubbed beside the inbox")
    deliver_to: Optional[str] = Field(None, title="Deliver to", description="Also deliver each job to this folder or fsspec URL, a sub-folder per video")
    settle_s: float = Field(60.0, ge=0, title="Settle time (s)", description="Skip files modified less than this long ago (still being copied)")
    deployment: str = Field("localize/localize", title="Localize deployment", description="The deployment each new video is run with")
    work_dir: Optional[str] = Field(None, title="Work folder", description="Where the scan state lives; default $POLYDUB_WORK_DIR or ~/.cache/polydub/work")

    @field_validator("targets", mode="before")
    @classmethod
    def _split_targets(cls, value):
        return parse_targets(value)

    @field_validator("deliver_to")
    @classmethod
    def _known_destination(cls, value: Optional[str]) -> Optional[str]:
        return destination_or_none(value)

    def options(self) -> DropOptions:
        inbox = Path(self.inbox).absolute()
        out = Path(self.out_root) if self.out_root else inbox.parent / f"{inbox.name}-dubbed"
        return DropOptions(tuple(self.targets), out.absolute(), self.source_language, self.deliver_to, self.profile.value)


class ScanState(BaseModel):
    """What earlier scans of one inbox found and started."""

    inbox: str
    files: dict[str, dict[str, Any]] = {}  # real path -> size, mtime_ns, sha256
    jobs: dict[str, dict[str, Any]] = {}  # drop key -> path, sha256, flow_run_id, started

    @staticmethod
    def location(inbox: Path, work_root: Optional[Path] = None) -> Path:
        digest = hashlib.sha256(str(inbox.resolve()).encode()).hexdigest()[:16]
        return (work_root or default_work_root()) / "inboxes" / digest / STATE_FILE

    @classmethod
    def load(cls, inbox: Path, work_root: Optional[Path] = None) -> "ScanState":
        path = cls.location(inbox, work_root)
        if path.exists():
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        return cls(inbox=str(inbox.resolve()))

    def save(self, work_root: Optional[Path] = None) -> Path:
        return write_text_atomic(self.location(Path(self.inbox), work_root), self.model_dump_json(indent=2))

    def content_hash(self, real: Path, snap: Snapshot) -> str:
        """The file's sha256, reused from the state while its size and mtime are unchanged."""
        known = self.files.get(str(real))
        if known and known["size"] == snap.size and known["mtime_ns"] == snap.mtime_ns:
            return known["sha256"]
        sha = file_sha256(real)
        self.files[str(real)] = {"size": snap.size, "mtime_ns": snap.mtime_ns, "sha256": sha}
        return sha

    def record(self, drop: DropEvent, flow_run_id: str) -> None:
        self.jobs[drop.key] = {
            "path": drop.payload["path"],
            "sha256": drop.payload["sha256"],
            "flow_run_id": flow_run_id,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def localize_parameters(payload: dict[str, Any]) -> dict[str, Any]:
    """The `localize` deployment's parameters for a drop (what the trigger in prefect.yaml templates)."""
    keys = ("targets", "source_language", "profile", "out_dir", "deliver_to")
    return {"params": {"video": payload["path"], **{k: payload[k] for k in keys}}}


def new_drops(root: Path, options: DropOptions, state: ScanState, settle_s: float, now: Optional[float] = None) -> list[DropEvent]:
    """The settled videos in ``root`` whose drop key no earlier scan started, oldest path first."""
    now = time.time() if now is None else now
    drops = []
    for real in iter_videos(root):
        snap = Snapshot.of(real)
        if snap is None or now - snap.mtime_ns / 1e9 < settle_s:
            continue  # gone, or still being written
        drop = build_drop_event(root, real, snap, state.content_hash(real, snap), options)
        if drop.key not in state.jobs:
            drops.append(drop)
    return drops


def idempotency_key(drop: DropEvent) -> str:
    """The flow-run idempotency key of a drop: one `localize` run per file content and targets."""
    return f"polydub-drop-{drop.key}"


__all__ = ["ScanParams", "ScanState", "idempotency_key", "localize_parameters", "new_drops"]
