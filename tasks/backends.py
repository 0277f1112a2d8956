"""Backends loaded once per process and shared by every run and language in it."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=None)
def transcriber(backend: str, model: str | None):
    from models.transcribe import load_transcriber

    return load_transcriber(backend, model=model)


@lru_cache(maxsize=None)
def diarizer(backend: str):
    from models.diarize import load_diarizer

    return load_diarizer(backend)


@lru_cache(maxsize=None)
def translator(backend: str):
    from models.translate import load_translator

    return load_translator(backend)


@lru_cache(maxsize=None)
def synthesizer(backend: str):
    from models.synthesize import load_synthesizer

    return load_synthesizer(backend)


@lru_cache(maxsize=None)
def face_analyzer(backend: str):
    from models.faces import load_face_analyzer

    return load_face_analyzer(backend)


@lru_cache(maxsize=None)
def lip_syncer(backend: str):
    from models.lipsync import load_lip_syncer

    return load_lip_syncer(backend)
