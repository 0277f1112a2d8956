"""Studio speech: Coqui XTTS-v2 zero-shot voice cloning, one reference clip per speaker.

Each source speaker is cloned from one reference clip of their own clean speech
(``models.synthesize.reference.choose_reference``, 6-15 s, nobody else speaking, best
SNR); its conditioning latents are computed once and reused for every line of the
video, in every language. The target language is checked against the model's own
language list before anything is synthesized. Sampling is seeded per line (seed +
CRC32 of the text), so the same line gives the same audio on a re-run. Output is the
model's 24 kHz speech with leading/trailing silence trimmed.

Compatibility: coqui-tts 0.28's GPT2 inference wrapper reads the KV cache from
``past_key_values``, which transformers 5 passes as ``cache``; ``_patch_kv_cache``
forwards it (tests check cached decoding equals uncached decoding).
The model runs in float32 (XTTS is not validated in half precision), on CUDA when present.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import json
import zlib
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np

from models.audio import trim_silence, write_wav
from models.data import Diarization, SpeakerProfile, Voice
from models.languages import normalize
from models.synthesize.reference import ReferenceClip, choose_reference
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError
from polydub.workdir import atomic_path

DEFAULT_MODEL = "tts_models/multilingual/multi-dataset/xtts_v2"
HF_REPO = "coqui/XTTS-v2"
LICENCE_URL = "https://coqui.ai/cpml"
OUTPUT_RATE = 24000
TRIM_TOP_DB = 40.0
DOWNLOAD_HINT = (
    f"accept the Coqui Public Model License (non-commercial, {LICENCE_URL}) and download once: "
    f"COQUI_TOS_AGREED=1 python -c \"from TTS.api import TTS; TTS('{DEFAULT_MODEL}')\", or pass a folder "
    "holding config.json, model.pth and vocab.json"
)


def _patch_kv_cache() -> None:
    """Let coqui-tts's GPT2InferenceModel take transformers 5's ``cache`` keyword as its KV cache."""
    from TTS.tts.layers.xtts.gpt_inference import GPT2InferenceModel

    original = GPT2InferenceModel.forward
    if getattr(original, "_polydub_cache_patch", False) or "cache" in inspect.signature(original).parameters:
        return

    @functools.wraps(original)
    def forward(self, input_ids=None, past_key_values=None, *args, cache=None, **kwargs):
        return original(self, input_ids, past_key_values if past_key_values is not None else cache, *args, **kwargs)

    forward._polydub_cache_patch = True
    GPT2InferenceModel.forward = forward


def model_folder(model: str | Path = DEFAULT_MODEL) -> Path:
    """The folder of an XTTS checkpoint: ``model`` itself, or where Coqui TTS keeps a downloaded model."""
    local = Path(model).expanduser()
    if local.is_dir():
        return local
    try:
        from trainer.io import get_user_data_dir  # where coqui-tts's ModelManager downloads to
    except ImportError as exc:
        raise BackendUnavailableError(f"XTTS needs {exc.name}: pip install coqui-tts") from exc
    folder = Path(get_user_data_dir("tts")) / str(model).replace("/", "--")
    if (folder / "model.pth").is_file():
        return folder
    if str(model) in (DEFAULT_MODEL, HF_REPO):  # the same weights, fetched from the Hugging Face hub
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(HF_REPO, local_files_only=True))
        except Exception:  # not in the cache (or no huggingface_hub): fall through to the hint
            pass
    raise BackendUnavailableError(f"XTTS model '{model}' is not downloaded ({folder}): {DOWNLOAD_HINT}")


def load_xtts(folder: Path, device: str):
    """An ``Xtts`` model loaded from a checkpoint folder (config.json, model.pth, vocab.json)."""
    try:
        from TTS.tts.configs.xtts_config import XttsConfig
        from TTS.tts.models.xtts import Xtts
    except ImportError as exc:
        raise BackendUnavailableError(f"XTTS needs {exc.name}: pip install coqui-tts") from exc
    _patch_kv_cache()
    missing = [name for name in ("config.json", "model.pth", "vocab.json") if not (folder / name).is_file()]
    if missing:
        raise BackendUnavailableError(f"XTTS folder {folder} lacks {', '.join(missing)}: {DOWNLOAD_HINT}")
    config = XttsConfig()
    config.load_json(str(folder / "config.json"))
    model = Xtts(config)
    model.load_checkpoint(config, checkpoint_dir=str(folder), eval=True)
    model.to(device)
    model.eval()  # Xtts.eval returns None, so not chained
    return model


class XttsSynthesizer:
    """Synthesizer that clones each speaker's voice with XTTS-v2 from one reference clip."""

    name = "xtts"

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL,
        device: str | None = None,
        references: dict[str, str | Path] | None = None,
        temperature: float = 0.65,
        seed: int = 0,
    ):
        import torch

        folder = model_folder(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_xtts(folder, self.device)
        self.temperature, self.seed = temperature, seed
        self.references: dict[str, Path] = {}
        self._latents: dict[str, tuple] = {}
        digest = hashlib.sha256((folder / "config.json").read_bytes())
        digest.update(str((folder / "model.pth").stat().st_size).encode())
        self.version = f"coqui-tts{package_version('coqui-tts')}/xtts-{folder.name}@{digest.hexdigest()[:12]};t{temperature:g};s{seed}"
        for speaker, wav in (references or {}).items():
            self.set_reference(speaker, wav)

    @property
    def languages(self) -> list[str]:
        """ISO 639-1 codes the loaded model speaks (its ``zh-cn`` is ``zh``)."""
        return sorted({normalize(code.split("-")[0]) for code in self.model.config.languages})

    def check_language(self, language: str) -> str:
        """The model's own code for ``language``; UnsupportedLanguageError naming the supported ones."""
        code = normalize(language)
        for own in self.model.config.languages:
            if normalize(own.split("-")[0]) == code.split("-")[0]:
                return own
        raise UnsupportedLanguageError(f"XTTS cannot speak '{code}'; it speaks {', '.join(self.languages)}")

    def set_reference(self, speaker: str, wav: str | Path) -> None:
        """Use ``wav`` as ``speaker``'s reference clip for the whole video."""
        path = Path(wav)
        if not path.is_file():
            raise InputError(f"reference clip for {speaker} not found: {path}")
        self.references[speaker] = path
        self._latents.pop(speaker, None)

    def with_references(self, references: dict[str, str | Path]):
        """A view of this synthesizer with its own reference clips, sharing the loaded model: one per video, so
        videos dubbed at the same time in one process never use each other's voices."""
        view = copy.copy(self)
        view.references, view._latents = {}, {}
        for speaker, wav in references.items():
            view.set_reference(speaker, wav)
        return view

    def prepare_references(self, audio: Path, diarization: Diarization, out_dir: Path, **limits: float) -> dict[str, ReferenceClip]:
        """Choose and write a reference clip for every diarized speaker; returns them by speaker."""
        clips = {}
        for speaker in diarization.speakers:
            clip = choose_reference(audio, diarization, speaker, out=Path(out_dir) / f"reference-{speaker}.wav", **limits)
            self.set_reference(speaker, clip.audio)
            clips[speaker] = clip
        return clips

    def assign_voices(self, speakers: list[SpeakerProfile], language: str) -> list[Voice]:
        """One cloned voice per speaker (named after its reference clip); fails early on a language or clip gap."""
        self.check_language(language)
        missing = [p.speaker for p in speakers if p.speaker not in self.references]
        if missing:
            raise InputError(f"no XTTS reference clip for {', '.join(missing)} (use prepare_references or set_reference)")
        return [
            Voice(speaker=p.speaker, name=f"xtts:{self.references[p.speaker].name}", pitch=0, f0_hz=p.median_f0_hz)
            for p in speakers
        ]

    def _conditioning(self, speaker: str) -> tuple:
        if speaker not in self._latents:
            if speaker not in self.references:
                raise InputError(f"no XTTS reference clip for {speaker}")
            self._latents[speaker] = self.model.get_conditioning_latents(audio_path=[str(self.references[speaker])])
        return self._latents[speaker]

    def synthesize(self, text: str, voice: Voice, language: str, out: Path, speed: float = 1.0) -> float:
        """Speak ``text`` in ``voice.speaker``'s cloned voice into ``out`` (24 kHz WAV); return its duration."""
        import torch

        own = self.check_language(language)
        gpt_latent, speaker_embedding = self._conditioning(voice.speaker)
        limit = self.model.tokenizer.char_limits.get(own.split("-")[0], 250)
        torch.manual_seed(self.seed + zlib.crc32(text.encode()))
        result = self.model.inference(
            text, own, gpt_latent, speaker_embedding, temperature=self.temperature, speed=speed,
            enable_text_splitting=len(text) > limit,
        )
        samples = np.asarray(result["wav"], dtype=np.float32).reshape(-1)
        samples = trim_silence(samples, top_db=TRIM_TOP_DB) if samples.size else samples
        out = Path(out)
        with atomic_path(out) as tmp:
            write_wav(tmp, samples, OUTPUT_RATE)
        return len(samples) / OUTPUT_RATE


def spoken_languages(model: str | None = None) -> list[str]:
    """ISO 639-1 codes an XTTS checkpoint speaks, read from its config.json (without loading the weights);
    the languages of Coqui's default XTTS config when the checkpoint is not downloaded."""
    try:
        config = json.loads((model_folder(model or DEFAULT_MODEL) / "config.json").read_text(encoding="utf-8"))
        codes = config.get("languages") or []
    except (BackendUnavailableError, OSError, ValueError):
        codes = []
    if not codes:
        from TTS.tts.configs.xtts_config import XttsConfig

        codes = XttsConfig().languages
    return sorted({normalize(code.split("-")[0]) for code in codes})


def languages_check(model: str | None, source: str, targets: list[str]):
    """Preflight: every target language is one the XTTS checkpoint speaks (checked before any work)."""
    from models.preflight import Check

    spoken = spoken_languages(model)
    missing = [t for t in targets if normalize(t).split("-")[0] not in spoken]
    if missing:
        return Check("synthesize", "XTTS languages", False, f"XTTS cannot speak {', '.join(missing)}",
                     fix=f"choose targets among {', '.join(spoken)}, or another synthesize backend")
    return Check("synthesize", "XTTS languages", True, f"speaks {', '.join(targets)}")


def check(model: str | None = None) -> list:
    """Preflight for ``polydub doctor``: package, weights, the CPML licence, GPU."""
    from models.licences import licence_checks
    from models.preflight import Check, gpu_check, package_check

    stage = "synthesize"
    checks = [package_check(stage, "TTS", "coqui-tts")]
    item = f"weights {model or DEFAULT_MODEL}"
    try:
        checks.append(Check(stage, item, True, f"found in {model_folder(model or DEFAULT_MODEL)}"))
    except BackendUnavailableError as exc:
        checks.append(Check(stage, item, False, str(exc), fix=DOWNLOAD_HINT))
    checks.extend(licence_checks(stage, "xtts", {"model": model}))
    checks.append(gpu_check(stage, 4))
    return checks
