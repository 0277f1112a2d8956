"""The base class of every typed data object passed between stages."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class Record(BaseModel):
    """Base class of every data object: pydantic JSON (``model_dump_json``) plus ``load``."""

    @classmethod
    def load(cls, path: Path | str):
        """Read an object from a JSON file written with ``model_dump_json``."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
