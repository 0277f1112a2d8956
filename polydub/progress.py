"""Stage progress events: tasks announce stages, front-ends (the rich CLI) listen.

Listeners are plain callables registered for the lifetime of a run; with none
registered (a Prefect worker, a test) announcing costs nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class StageEvent:
    stage: str
    language: str | None
    status: str  # "started", "progress", "computed", "reused" or "failed"
    seconds: float = 0.0
    fraction: float | None = None  # with "progress": how much of the stage is done (0–1)


Listener = Callable[[StageEvent], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> None:
    with _lock:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def announce(event: StageEvent) -> None:
    """Send an event to every registered listener."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(event)


def stage_progress(stage: str, language: str | None = None, step: float = 0.01) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback for long stages that announces every ``step`` of the work."""
    last = [-1.0]

    def report(done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total > 0 else 0.0
        if fraction - last[0] >= step or fraction >= 1.0 > last[0]:
            last[0] = fraction
            announce(StageEvent(stage, language, "progress", fraction=fraction))

    return report
