"""Checks run before any work: the source is usable, the backends and language pairs exist."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from models import ingest
from models.data import MediaInfo
from polydub.config import Backends, LocalizeParams, Profile
from polydub.errors import BackendUnavailableError, InputError


SOURCE_SIDE_STAGES = ("ingest", "transcribe", "diarize", "separate", "faces")


def check_output_dir(out_dir: Path) -> None:
    """The output folder exists (or can be made) and is writable."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out_dir}: {exc.strerror}") from exc
    if not os.access(out_dir, os.W_OK):
        raise InputError(f"the output folder is not writable: {out_dir}")


def check_work_dir(root: Path) -> None:
    """The work folder root exists (or can be made) and a file can be written in it; else InputError naming it."""
    if root.exists() and not root.is_dir():
        raise InputError(f"the work folder {root} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root, prefix=".polydub-write-test-"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write to the work folder {root}: {exc.strerror or exc}") from exc


def check_signing_config() -> None:
    """When C2PA signing is configured ($POLYDUB_C2PA_CERT/KEY), the key and chain can sign: else SigningError now."""
    from models.provenance import check_signing
    from polydub.config import c2pa_signing

    settings = c2pa_signing()
    if settings is not None:
        check_signing(settings)


def preflight(params: LocalizeParams) -> MediaInfo:
    """Fail fast, naming the problem, before any stage runs. Returns the probed source."""
    from tasks import backends

    check_signing_config()
    chosen = params.backends
    if chosen != Backends.for_profile(Profile.lite):  # any studio backend: the same checks as `polydub doctor`
        from polydub.doctor import blocking_summary, is_blocking, run_checks

        checks = run_checks(params.profile, params.source_language, backends=chosen, targets=params.targets)
        if params.language_deployment:  # languages run (and are checked) on the GPU pool's machines
            checks = [c for c in checks if c.stage in SOURCE_SIDE_STAGES]
        if any(is_blocking(c) for c in checks):
            raise BackendUnavailableError(
                f"the {params.profile.value} profile cannot run on this machine: {blocking_summary(checks)} "
                f"(see `polydub doctor --profile {params.profile.value}`)"
            )
    # languages on a work pool check their pair on their own machine; a detected source language is checked once known
    if not params.language_deployment and not params.detects_language:
        translator = backends.translator(chosen.translate, chosen.options("translate"))
        for target in params.targets:
            translator.check_pair(params.source_language, target)
    media = ingest.validate(ingest.probe(params.video), params.max_duration_s)
    check_output_dir(Path(params.out_dir))
    check_work_dir(params.work_root)
    return media
