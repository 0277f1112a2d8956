"""The retry policy of the stage tasks: transient failures are tried again with exponential backoff.

A stage that fails with a transient error (a network or I/O hiccup, a killed or timed-out subprocess,
CUDA out of memory, a timeout) is run again after ``delay``, ``2 × delay``, ``4 × delay`` … seconds,
each jittered (±20 % by default) so that parallel languages do not retry in lockstep. Stages are cached
and idempotent (`tasks.stage.run_cached` starts an unfinished stage folder again from nothing), so a
retry never mixes two attempts. Errors the user must act on fail at once: every `PolydubError` (bad
input, unsupported language, missing backend), a full or read-only disk, a missing file or binary, a
permission problem, and any other exception (a bug does not heal by retrying).

Settings, read from the environment of the process that runs the flows when `tasks` is imported (a
worker's environment or a work pool's ``env`` job variable):

- ``POLYDUB_STAGE_RETRIES``: retries after the first attempt (default 2; 0 turns retrying off)
- ``POLYDUB_STAGE_RETRY_DELAY_S``: delay before the first retry, doubled for each next one (default 10)
- ``POLYDUB_STAGE_RETRY_JITTER``: relative jitter of each delay, 0 to 0.3 (default 0.2)
"""

from __future__ import annotations

import errno
import os
import subprocess
from typing import Any, Optional

from prefect.tasks import exponential_backoff
from pydantic import BaseModel, Field

from polydub.errors import PolydubError

# OSErrors that say the machine or the input must change first: retrying cannot help
PERMANENT_OS_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.ENAMETOOLONG, errno.EACCES, errno.EPERM})
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, MemoryError, TimeoutError, subprocess.TimeoutExpired)


class RetryPolicy(BaseModel):
    """How often and how long after a transient failure a stage task is tried again."""

    retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt")
    delay_s: float = Field(10.0, ge=0, description="Delay before the first retry; doubled for each next one")
    jitter: float = Field(0.2, ge=0, le=0.3, description="Relative jitter of each delay (keeps the delays growing up to 0.3)")

    @classmethod
    def from_env(cls, environ: Optional[dict[str, str]] = None) -> "RetryPolicy":
        """The policy set by POLYDUB_STAGE_RETRIES / _RETRY_DELAY_S / _RETRY_JITTER (defaults where unset)."""
        env = os.environ if environ is None else environ
        names = {"retries": "POLYDUB_STAGE_RETRIES", "delay_s": "POLYDUB_STAGE_RETRY_DELAY_S", "jitter": "POLYDUB_STAGE_RETRY_JITTER"}
        return cls(**{field: env[name] for field, name in names.items() if env.get(name, "").strip()})

    def delays(self) -> list[float]:
        """The mean delay before each retry: delay, 2 × delay, 4 × delay, …"""
        return exponential_backoff(self.delay_s)(self.retries)

    def task_options(self) -> dict[str, Any]:
        """Keyword arguments for ``@task`` / ``Task.with_options`` that apply this policy."""
        return {
            "retries": self.retries,
            "retry_delay_seconds": self.delays(),
            "retry_jitter_factor": self.jitter,
            "retry_condition_fn": retry_transient,
        }


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same stage again may succeed (see the module docstring)."""
    if isinstance(exc, PolydubError) or isinstance(exc, PERMANENT_OS_ERRORS):
        return False
    if isinstance(exc, OSError) and exc.errno in PERMANENT_ERRNOS:
        return False
    return isinstance(exc, TRANSIENT_ERRORS)


def _exception_of(state: Any) -> Optional[BaseException]:
    data = getattr(state, "data", None)
    if isinstance(data, BaseException):  # how Prefect hands a raised exception to the condition
        return data
    try:
        value = state.result(raise_on_failure=False)
    except Exception:
        return None
    return value if isinstance(value, BaseException) else None


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only a transient exception."""
    exc = _exception_of(state)
    return exc is not None and is_transient(exc)


POLICY = RetryPolicy.from_env()
# what each stage task's decorator adds: @task(name=..., cache_policy=NONE, **STAGE_RETRIES)
STAGE_RETRIES: dict[str, Any] = POLICY.task_options()

__all__ = ["POLICY", "STAGE_RETRIES", "RetryPolicy", "is_transient", "retry_transient"]
