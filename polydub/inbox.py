"""Starting `localize` runs for dropped videos: scheduled inbox scans, and the watcher's follow-up.

Scans: the state lives in the work area, ``<work root>/inboxes/<hash of the inbox path>/scan-state.json``
(written atomically). It maps each job's drop key (path, size, content hash, targets: the
same key as the watcher's events) to the flow run started for it, and remembers each
file's size, mtime and content hash so an unchanged file is not hashed again.

Follow-up (`RunConfirmer`): the server's trigger turns each `polydub.source.dropped` event into a
run, but a trigger action that fails (the API busy or restarting) is not retried by Prefect, and
the trigger will not fire again for that drop key. The watcher therefore reads what became of each
event it sent (`prefect.automation.action.executed` / `.failed`, related to the event) and, for a
failed one, starts the run itself under the failed action's idempotency key: if the action did
create the run after all, the server hands that run back instead of a second one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from models.languages import parse_targets
from polydub.config import LANGUAGES, Profile, default_work_root
from polydub.delivery import destination_or_none
from polydub.watch import DropEvent, DropOptions, Snapshot, build_drop_event, iter_videos
from polydub.workdir import file_sha256, write_text_atomic

STATE_FILE = "scan-state.json"
ACTION_EXECUTED = "prefect.automation.action.executed"
ACTION_FAILED = "prefect.automation.action.failed"
LOCALIZE_DEPLOYMENT = "localize/localize"

log = logging.getLogger("polydub.inbox")


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


# --- the watcher's follow-up: every announced drop gets its run ---------------------------------
@dataclass(frozen=True)
class TriggerOutcome:
    """What the server's trigger did with one drop event."""

    executed: bool
    flow_run_id: Optional[str] = None  # the run it created (executed)
    retry_key: Optional[str] = None  # the idempotency key the failed action used (failed)
    reason: str = ""


def action_idempotency_key(event: dict[str, Any]) -> str:
    """The idempotency key Prefect's RunDeployment action created (or tried to create) its run with,
    from its ``prefect.automation.action.*`` event (as TriggeredAction.idempotency_key builds it)."""
    automation = event["resource"]["prefect.resource.id"].removeprefix("prefect.automation.")
    payload = event.get("payload", {})
    return f"automation {automation}, action {payload.get('action_index', 0)}, invocation {payload.get('invocation')}"


def outcome_of(event: dict[str, Any]) -> Optional[tuple[str, TriggerOutcome]]:
    """(id of the triggering event, outcome) from a ``prefect.automation.action.*`` event as JSON."""
    related = {r.get("prefect.resource.role"): r["prefect.resource.id"] for r in event.get("related", [])}
    trigger = related.get("triggering-event", "")
    if not trigger.startswith("prefect.event."):
        return None
    trigger_id = trigger.removeprefix("prefect.event.")
    if event["event"] == ACTION_EXECUTED:
        return trigger_id, TriggerOutcome(True, flow_run_id=related.get("flow-run", "").removeprefix("prefect.flow-run.") or None)
    reason = str(event.get("payload", {}).get("reason", ""))
    return trigger_id, TriggerOutcome(False, retry_key=action_idempotency_key(event), reason=reason)


def read_outcomes(event_ids: list[UUID], chunk: int = 20) -> dict[str, TriggerOutcome]:
    """The trigger outcomes the Prefect API has recorded for these drop events (an executed one wins)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    outcomes: dict[str, TriggerOutcome] = {}
    with get_client(sync_client=True) as client:
        for start in range(0, len(event_ids), chunk):
            pairs = [(f"prefect.event.{i}", "triggering-event") for i in event_ids[start:start + chunk]]
            query = EventFilter(event=EventNameFilter(name=[ACTION_EXECUTED, ACTION_FAILED]), related=EventRelatedFilter(resources_in_roles=pairs))
            page = client.read_events(filter=query, limit=50)
            while True:
                for event in page.events:
                    found = outcome_of(event.model_dump(mode="json"))
                    if found and not (found[0] in outcomes and outcomes[found[0]].executed):
                        outcomes[found[0]] = found[1]
                if not page.next_page:
                    break
                page = client.read_events_page(page.next_page)
    return outcomes


def start_run(deployment: str, parameters: dict[str, Any], key: str) -> str:
    """Create a `deployment` run with this idempotency key (the server returns the existing run for a known key)."""
    from prefect.deployments import run_deployment

    return str(run_deployment(deployment, parameters=parameters, timeout=0, idempotency_key=key, as_subflow=False).id)


@dataclass
class RunConfirmer:
    """Follows announced drops until each has its `localize` run (see the module docstring)."""

    deployment: str = LOCALIZE_DEPLOYMENT
    outcomes: Callable[[list[UUID]], dict[str, TriggerOutcome]] = read_outcomes
    start: Callable[[str, dict[str, Any], str], str] = start_run
    check_every_s: float = 10.0
    warn_after_s: float = 300.0  # a drop without any trigger outcome this long is logged (once)
    clock: Callable[[], float] = time.monotonic
    pending: dict[str, DropEvent] = field(default_factory=dict)  # event id -> drop
    _checked: float = -math.inf
    _added: dict[str, float] = field(default_factory=dict)

    def add(self, drop: DropEvent) -> None:
        """Follow this drop until its run is known."""
        self.pending[str(drop.id)] = drop
        self._added[str(drop.id)] = self.clock()

    def check(self, force: bool = False) -> list[tuple[DropEvent, str]]:
        """Ask the API about the pending drops (at most every ``check_every_s`` unless ``force``);
        returns (drop, flow run id) for each one settled now. Errors are logged and retried later."""
        now = self.clock()
        if not self.pending or (not force and now - self._checked < self.check_every_s):
            return []
        self._checked = now
        try:
            outcomes = self.outcomes([drop.id for drop in self.pending.values()])
        except Exception as exc:  # the API is down or busy: ask again next time
            log.warning("could not read the trigger outcomes of %d drop(s): %s", len(self.pending), exc)
            return []
        settled = []
        for event_id, outcome in outcomes.items():
            drop = self.pending.get(event_id)
            if drop is None:
                continue
            run_id = outcome.flow_run_id
            if not outcome.executed:
                try:
                    run_id = self.start(self.deployment, localize_parameters(drop.payload), outcome.retry_key or idempotency_key(drop))
                except Exception as exc:
                    log.warning("the trigger failed for %s and starting its run failed too (%s); will retry", drop.payload["path"], exc)
                    continue
                log.warning("the trigger could not start a run for %s (%s); started run %s itself", drop.payload["path"], outcome.reason, run_id)
            else:
                log.info("run %s started for %s", run_id, drop.payload["path"])
            del self.pending[event_id]
            self._added.pop(event_id, None)
            settled.append((drop, run_id or ""))
        for event_id, drop in self.pending.items():
            if now - self._added.get(event_id, now) > self.warn_after_s:
                log.warning("no trigger outcome for %s (event %s) after %.0f s: is the localize trigger deployed and enabled?",
                            drop.payload["path"], event_id, now - self._added[event_id])
                self._added[event_id] = math.inf  # said once
        return settled


__all__ = [
    "RunConfirmer", "ScanParams", "ScanState", "TriggerOutcome", "action_idempotency_key", "idempotency_key", "localize_parameters",
    "new_drops", "outcome_of", "read_outcomes", "start_run",
]
