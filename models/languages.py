"""Language codes: users speak ISO 639-1 ("es"); containers want ISO 639-2 ("spa")."""

from __future__ import annotations

import langcodes

from polydub.errors import UnsupportedLanguageError


def normalize(code: str) -> str:
    """Canonical short tag for a user-given language code ("spa", "ES" -> "es")."""
    try:
        return langcodes.standardize_tag(code.strip())
    except (ValueError, LookupError) as exc:
        raise UnsupportedLanguageError(f"'{code}' is not a language code (use ISO 639-1, e.g. es, ca, eo)") from exc


def alpha3(code: str) -> str:
    """ISO 639-2 three-letter code used in container metadata ("es" -> "spa")."""
    return langcodes.Language.get(normalize(code)).to_alpha3()


def parse_targets(spec: str | list[str]) -> list[str]:
    """Parse "es,ca" (or a list) into normalized codes; refuse empty and duplicate lists."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    codes = [normalize(item) for item in items if item.strip()]
    if not codes:
        raise UnsupportedLanguageError("no target language given (e.g. --to es,ca)")
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    if duplicates:
        raise UnsupportedLanguageError(f"target language listed twice: {', '.join(duplicates)}")
    return codes
