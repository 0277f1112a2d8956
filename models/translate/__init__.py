"""Translation stage: the interface every backend follows, and the factory that picks one."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from polydub.errors import BackendUnavailableError

BACKENDS = ("apertium", "seq2seq")


@runtime_checkable
class Translator(Protocol):
    """Translates lines of text between languages given as ISO 639-1 codes."""

    name: str
    version: str  # backend and installed pair versions, for cache keys

    def supported_targets(self, source: str) -> list[str]:
        """Target languages this backend can translate ``source`` into."""
        ...

    def check_pair(self, source: str, target: str) -> None:
        """Raise UnsupportedLanguageError (naming the supported targets) unless source→target works."""
        ...

    def translate(self, texts: list[str], source: str, target: str, budgets: list[float] | None = None) -> list[str]:
        """One translation per input text, in order; empty inputs stay empty.

        ``budgets`` (seconds per text) let a backend with several candidates pick the one
        whose spoken length fits the line best; a backend with one answer ignores them.
        """
        ...


def load_translator(backend: str = "apertium", **options: Any) -> Translator:
    """The translation backend named ``backend``; fails at once if it is not installed.

    ``options`` go to the backend (seq2seq: ``family``, ``model``, ``device``, ``num_candidates``, ...).
    """
    if backend == "apertium":
        from models.translate.apertium import ApertiumTranslator

        return ApertiumTranslator(**options)
    if backend == "seq2seq":
        from models.translate.seq2seq import Seq2SeqTranslator

        return Seq2SeqTranslator(**options)
    raise BackendUnavailableError(f"unknown translation backend '{backend}' (available: {', '.join(BACKENDS)})")
