"""Typed data objects passed between stages; every one serialises to JSON.

They follow faster-whisper's style: small, typed, immutable-ish records. Times are
seconds from the start of the source video. Audio paths are absolute.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import Field

from models.lipsync.records import LipSyncQuality
from models.record import Record




class MediaInfo(Record):
    """What ffprobe says about the source file."""

    path: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frame_count: int = 0
    video_codec: str = ""
    audio_codec: str = ""
    audio_sample_rate: int = 0
    audio_channels: int = 0
    audio_duration: float = 0.0  # the audio stream's own duration from the header (0: not stated)
    rotation: int = 0  # degrees of the display rotation stored with the picture (0, 90, 180, 270)

    @property
    def audio_only(self) -> bool:
        """A source with sound and no picture (a podcast, a voice-over): dubbed without lip sync."""
        return self.has_audio and not self.has_video


class SourceAudio(Record):
    """Audio extracted from the source: a 48 kHz stereo mix and a 16 kHz mono copy."""

    media: MediaInfo
    sha256: str
    mix_48k: str
    mono_16k: str
    picture: Optional[str] = None  # the picture re-encoded for frame work (constant rate, even size, upright); None: the source's
    picture_fixes: list[str] = []  # what that re-encoding corrected, in words

    # the content is keyed by sha256: the same video under another name reuses every stage
    CACHE_EXCLUDE: ClassVar[dict[str, Any]] = {"media": {"path"}}

    @property
    def picture_path(self) -> str:
        """The video whose frames the face, lip-sync and delivery stages read."""
        return self.picture or self.media.path


class Word(Record):
    text: str
    start: float
    end: float
    probability: float = 1.0
    speaker: Optional[str] = None


class Transcript(Record):
    language: str
    words: list[Word]
    model: str = ""

    @property
    def text(self) -> str:
        return " ".join(w.text.strip() for w in self.words).strip()


class SpeakerTurn(Record):
    speaker: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class Diarization(Record):
    turns: list[SpeakerTurn]

    @property
    def speakers(self) -> list[str]:
        return sorted({t.speaker for t in self.turns})


class Line(Record):
    """One subtitle-sized unit of speech by one speaker, in the source language."""

    index: int
    speaker: str
    start: float
    end: float
    text: str

    @property
    def duration(self) -> float:
        return self.end - self.start


class SpeakerProfile(Record):
    """What we measured about one source speaker's voice."""

    speaker: str
    median_f0_hz: float
    speech_seconds: float


class Voice(Record):
    """The synthetic voice assigned to one speaker for a whole video."""

    speaker: str
    name: str
    pitch: int
    f0_hz: float = 0.0


class TranslatedLine(Record):
    index: int
    speaker: str
    start: float
    end: float
    source_text: str
    target_text: str


class SynthesizedLine(Record):
    """A translated line spoken at natural speed."""

    index: int
    audio: str
    duration: float


class DubbedLine(Record):
    """A translated line as it sits in the dub: its audio, speed and placement."""

    index: int
    speaker: str
    source_text: str
    target_text: str
    window_start: float
    window_end: float
    audio: str
    natural_duration: float
    speed: float
    start: float
    end: float
    over_bound: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


class Dub(Record):
    """The whole dubbed track of one language."""

    language: str
    lines: list[DubbedLine]
    voices: list[Voice] = Field(default_factory=list)
    speed_bounds: tuple[float, float] = (0.85, 1.25)


class MixResult(Record):
    audio: str
    speech_stem: str
    source_lufs: float
    output_lufs: float
    true_peak_dbtp: float
    duration: float


class Deliverable(Record):
    """The files handed to the user for one language."""

    language: str
    video: str
    srt: str
    vtt: str
    duration: float = 0.0


class Lines(Record):
    lines: list[Line]


class SpeakerProfiles(Record):
    speakers: list[SpeakerProfile]


class TranslatedLines(Record):
    language: str
    lines: list[TranslatedLine]


class Synthesis(Record):
    """Natural-speed speech of every translated line, with the voices used."""

    language: str
    voices: list[Voice]
    lines: list[SynthesizedLine]


class LanguageQuality(Record):
    """The measures of one dubbed language (DESIGN.md section 6)."""

    speed_min: float
    speed_max: float
    lines_over_bound: list[int]
    max_overlap_s: float
    drift_s: float
    duration_delta_s: float
    source_lufs: float
    output_lufs: float
    true_peak_dbtp: float
    lines_audible: int
    lines_total: int
    voice_similarity: dict[str, dict[str, float]] = Field(default_factory=dict)
    back_transcription: Optional[dict[str, float]] = None
    back_transcription_note: str = ""
    lip_sync: Optional[LipSyncQuality] = None
