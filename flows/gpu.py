"""A slot of the GPU concurrency limit, held while a language computes and released around a review."""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Iterator, Optional

from prefect.concurrency.sync import concurrency


class GpuSlot:
    """Holds one slot of the Prefect global concurrency limit `name` (nothing when `name` is None).

    Strict: a missing limit is an error (run `polydub setup`), not a silent free-for-all.
    """

    def __init__(self, name: Optional[str]):
        self.name = name
        self._held: Optional[AbstractContextManager] = None

    def __enter__(self) -> "GpuSlot":
        self._acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self._release()

    def _acquire(self) -> None:
        if self.name and self._held is None:
            held = concurrency(self.name, occupy=1, strict=True)
            held.__enter__()
            self._held = held

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)

    @contextmanager
    def released(self) -> Iterator[None]:
        """Give the slot back for the block (e.g. while a person reviews), then take one again."""
        self._release()
        try:
            yield
        finally:
            self._acquire()
