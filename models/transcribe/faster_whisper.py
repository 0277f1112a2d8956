"""faster-whisper backend: CTranslate2 Whisper with word timestamps and a VAD filter."""

from __future__ import annotations

import hashlib
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from faster_whisper import WhisperModel

from models.audio import read_audio
from models.data import Transcript, Word
from models.languages import normalize
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError

SAMPLE_RATE = 16000
DEFAULT_OPTIONS: dict[str, Any] = {
    "beam_size": 5,
    "vad_filter": True,  # silence gives no words instead of hallucinated ones
    "condition_on_previous_text": False,  # one misheard phrase does not derail the rest
    "no_speech_threshold": 0.6,
}


def model_identity(model: str | Path) -> str:
    """A stable name for a model: a hub name as it is, a folder by name and content.

    A folder is identified by its name and a hash of its config and weight size, so the
    same model gives the same cache key wherever it is installed.
    """
    folder = Path(model)
    if not folder.is_dir():
        return str(model)
    digest = hashlib.sha256()
    for name in ("config.json", "vocabulary.txt", "vocabulary.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    weights = folder / "model.bin"
    digest.update(str(weights.stat().st_size if weights.is_file() else 0).encode())
    return f"{folder.name}@{digest.hexdigest()[:12]}"


class FasterWhisperTranscriber:
    """Transcribes with a loaded ``faster_whisper.WhisperModel``."""

    name = "faster-whisper"

    def __init__(self, model: WhisperModel, model_id: str, compute_type: str, **options: Any):
        self.model = model
        self.model_id = model_id
        self.compute_type = compute_type
        self.options = {**DEFAULT_OPTIONS, **options}

    @classmethod
    def from_pretrained(
        cls, model: str | Path, device: str = "cpu", compute_type: str = "int8", **kw: Any
    ) -> "FasterWhisperTranscriber":
        """Load a model by hub name or CTranslate2 folder.

        Keyword arguments that ``WhisperModel`` accepts (``cpu_threads``, ``download_root``,
        ``local_files_only``, ...) go to it; the rest are transcription options
        (``beam_size``, ``vad_filter``, ...).
        """
        load_keys = {"device_index", "cpu_threads", "num_workers", "download_root", "local_files_only", "revision"}
        load_kw = {k: v for k, v in kw.items() if k in load_keys}
        options = {k: v for k, v in kw.items() if k not in load_keys}
        try:
            whisper = WhisperModel(str(model), device=device, compute_type=compute_type, **load_kw)
        except Exception as exc:  # hub errors, missing files, bad compute type: one clear line
            raise BackendUnavailableError(f"cannot load faster-whisper model '{model}' on {device}: {exc}") from exc
        return cls(whisper, model_identity(model), compute_type, **options)

    @property
    def version(self) -> str:
        return f"faster-whisper{package_version('faster-whisper')}/{self.model_id}/{self.compute_type}"

    @property
    def languages(self) -> list[str]:
        """Languages the loaded model can transcribe (["en"] for an English-only model).

        faster-whisper lists every Whisper language; a model with fewer language tokens
        (before large-v3, no ``yue``) is narrowed to the ones its vocabulary holds.
        """
        names = list(self.model.supported_languages)
        ct2 = self.model.model
        tokenizer = getattr(self.model, "hf_tokenizer", None)
        if not ct2.is_multilingual or tokenizer is None:
            return names
        first = tokenizer.token_to_id("<|startoftranscript|>") + 1
        ids = {name: tokenizer.token_to_id(f"<|{name}|>") for name in names}
        return [name for name in names if ids[name] is not None and ids[name] - first < ct2.num_languages]

    def transcribe(self, audio_16k: Path | str, language: str | None = None) -> Transcript:
        """Words with timestamps and probabilities; ``Transcript.language`` is given or detected."""
        path = Path(audio_16k)
        if not path.is_file():
            raise InputError(f"audio file not found: {path}")
        if language is not None:
            language = normalize(language)
            if language not in self.languages:
                raise UnsupportedLanguageError(
                    f"transcription model {self.model_id} cannot transcribe '{language}' (it knows: {', '.join(self.languages[:10])})"
                )
        samples, _ = read_audio(path, sample_rate=SAMPLE_RATE)
        words: list[Word] = []
        detected = language or "en"
        if samples.size:
            segments, info = self.model.transcribe(samples, language=language, word_timestamps=True, **self.options)
            words = [
                Word(text=w.word.strip(), start=round(w.start, 3), end=round(w.end, 3), probability=round(w.probability, 4))
                for segment in segments
                for w in segment.words or []
                if w.word.strip()
            ]
            detected = info.language
        return Transcript(language=normalize(detected), words=words, model=self.version)


def check(model: str | None = None) -> list:
    """Preflight for ``polydub doctor``: package, the model's weights, licence, GPU (studio: large-v3)."""
    from faster_whisper.utils import _MODELS

    from models.licences import licence_checks
    from models.preflight import gpu_check, hf_cache_check, package_check

    stage = "transcribe"
    model = model or "large-v3"
    repo = _MODELS.get(model, model)  # faster-whisper's size names -> their hub repos
    return [
        package_check(stage, "faster_whisper", "faster-whisper"),
        hf_cache_check(stage, repo, filename="model.bin"),
        *licence_checks(stage, "faster-whisper", {"model": model}),
        gpu_check(stage, 6),
    ]
