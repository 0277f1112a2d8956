"""Backends loaded once per process and shared by every run and language in it.

Each loader takes the backend's name and its options (``Backends.options(stage)``: pairs
of option name and value, ``model`` being a hub id or a local folder); without options a
backend uses its defaults.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


Options = tuple[tuple[str, str], ...]


def _value(text: str) -> Any:
    """An option's value: a JSON number or boolean as such (``"64"`` → 64, ``"true"`` → True), anything else as text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _keywords(options: Options, model_keyword: str = "model") -> dict[str, Any]:
    return {model_keyword if key == "model" else key: value if key == "model" else _value(value) for key, value in options}


@lru_cache(maxsize=None)
def transcriber(backend: str, model: str | None):
    from models.transcribe import load_transcriber

    return load_transcriber(backend, model=model)


@lru_cache(maxsize=None)
def diarizer(backend: str, options: Options = ()):
    from models.diarize import load_diarizer

    return load_diarizer(backend, **_keywords(options))


@lru_cache(maxsize=None)
def separator(backend: str, options: Options = ()):
    from models.separate import load_separator

    return load_separator(backend, **_keywords(options))


@lru_cache(maxsize=None)
def translator(backend: str, options: Options = ()):
    from models.translate import load_translator

    return load_translator(backend, **_keywords(options))


@lru_cache(maxsize=None)
def synthesizer(backend: str, options: Options = ()):
    from models.synthesize import load_synthesizer

    return load_synthesizer(backend, **_keywords(options))


@lru_cache(maxsize=None)
def face_analyzer(backend: str, options: Options = ()):
    from models.faces import load_face_analyzer

    return load_face_analyzer(backend, **_keywords(options, "root_or_pack"))


@lru_cache(maxsize=None)
def lip_syncer(backend: str, options: Options = ()):
    from models.lipsync import load_lip_syncer

    return load_lip_syncer(backend, **_keywords(options))
