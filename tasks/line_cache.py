"""Line-level speech cache: a line is spoken again only when its text, voice, speed or backend change.

A synthesis stage recomputes when any line of the translation changes (its key hashes all
of them); wrapping the synthesizer in `CachedSynthesizer` makes that recomputation cost only
the changed lines. The cache lives in the work folder (``speech-lines/<key>.wav`` plus a
``.json`` with the duration), shared by every stage and run of the video.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from models.data import SpeakerProfile, Voice
from models.synthesize import Synthesizer
from polydub.workdir import WorkDir, copy_atomic, stage_key, write_text_atomic

LINES_FILE = "lines.json"  # per stage folder: which line files were computed and which reused


class CachedSynthesizer:
    """A Synthesizer that reuses speech from the work folder's line cache; records what it did."""

    def __init__(self, inner: Synthesizer, work: WorkDir):
        self.inner = inner
        self.name = inner.name
        self.version = inner.version
        self.folder = work.path / "speech-lines"
        self.computed: list[str] = []
        self.reused: list[str] = []
        self._lock = threading.Lock()

    def assign_voices(self, speakers: list[SpeakerProfile], language: str) -> list[Voice]:
        return self.inner.assign_voices(speakers, language)

    def line_key(self, text: str, voice: Voice, language: str, speed: float) -> str:
        """Cache key of one spoken line."""
        return stage_key("speech-line", text=text, voice=voice.model_dump(mode="json"), language=language, speed=round(speed, 6), backend=self.version)

    def synthesize(self, text: str, voice: Voice, language: str, out: Path, speed: float = 1.0) -> float:
        """Copy the cached speech of this line into ``out``, or synthesize and cache it; return its duration."""
        key = self.line_key(text, voice, language, speed)
        wav, meta = self.folder / f"{key}.wav", self.folder / f"{key}.json"
        if wav.exists() and meta.exists():
            copy_atomic(wav, out)
            with self._lock:
                self.reused.append(Path(out).name)
            return float(json.loads(meta.read_text(encoding="utf-8"))["duration"])
        duration = self.inner.synthesize(text, voice, language, out, speed=speed)
        copy_atomic(out, wav)
        write_text_atomic(meta, json.dumps({"duration": duration, "text": text, "speed": speed}))
        with self._lock:
            self.computed.append(Path(out).name)
        return duration

    def write_record(self, stage_folder: Path) -> None:
        """Save which line files this stage computed and which it reused (``lines.json``)."""
        record = {"computed": sorted(self.computed), "reused": sorted(self.reused)}
        write_text_atomic(Path(stage_folder) / LINES_FILE, json.dumps(record, indent=2))


def read_record(stage_folder: Path) -> dict[str, list[str]]:
    """The ``lines.json`` record of a synthesis or timing stage folder."""
    return json.loads((Path(stage_folder) / LINES_FILE).read_text(encoding="utf-8"))
