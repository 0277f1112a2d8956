"""Checks run before any work: the source is usable, the backends and language pairs exist."""

from __future__ import annotations

import os
from pathlib import Path

from models import ingest
from models.data import MediaInfo
from polydub.config import LocalizeParams, Profile
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


def preflight(params: LocalizeParams) -> MediaInfo:
    """Fail fast, naming the problem, before any stage runs. Returns the probed source."""
    from tasks import backends

    chosen = params.backends
    if params.profile is Profile.studio:  # the same checks as `polydub doctor --profile studio`
        from polydub.doctor import blocking_summary, is_blocking, run_checks

        checks = run_checks(params.profile, params.source_language, chosen.models)
        if params.language_deployment:  # languages run (and are checked) on the GPU pool's machines
            checks = [c for c in checks if c.stage in SOURCE_SIDE_STAGES]
        if any(is_blocking(c) for c in checks):
            raise BackendUnavailableError(
                f"the studio profile cannot run on this machine: {blocking_summary(checks)} (see `polydub doctor --profile studio`)"
            )
    if not params.language_deployment:  # languages on a work pool check their pair on their own machine
        translator = backends.translator(chosen.translate, chosen.options("translate"))
        for target in params.targets:
            translator.check_pair(params.source_language, target)
    media = ingest.validate(ingest.probe(params.video), params.max_duration_s)
    check_output_dir(Path(params.out_dir))
    return media
