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
    status: str  # "started", "computed", "reused" or "failed"
    seconds: float = 0.0


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
