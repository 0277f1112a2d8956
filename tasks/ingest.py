"""Ingest task: hash, probe, validate, extract the source's audio and normalise its picture when needed."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models import ingest
from models.data import SourceAudio
from polydub.errors import InputError
from polydub.preflight import check_work_dir
from polydub.workdir import WorkDir, file_sha256
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="ingest", cache_policy=NONE, **STAGE_RETRIES)
def ingest_source(
    video: str, work_root: str, max_duration_s: float | None = None, job: str | None = None
) -> tuple[WorkDir, SourceAudio]:
    """Validate the source, extract a 48 kHz stereo mix and a 16 kHz mono copy, and re-encode a picture the
    frame stages cannot read as it is (variable frame rate, odd size, rotation metadata) to ``picture.mp4``.
    ``job`` labels the ledger entries of this run."""
    media = ingest.validate(ingest.probe(video), max_duration_s)
    sha = file_sha256(video)
    work = open_work_folder(work_root, sha, job)

    def compute(folder: Path) -> SourceAudio:
        mix, mono = folder / "mix_48k.wav", folder / "mono_16k.wav"
        ingest.extract_audio(video, mix, mono, expected_s=media.audio_duration)
        picture, fixes = None, []
        if media.has_video:
            plan = ingest.plan_picture(video, media)
            if plan.needed:
                picture, fixes = str(ingest.normalize_picture(video, folder / "picture.mp4", plan)), plan.fixes()
        return SourceAudio(media=media, sha256=sha, mix_48k=str(mix), mono_16k=str(mono), picture=picture, picture_fixes=fixes)

    params = {"picture": "constant-rate,even,upright"}  # the normalisation rules: a change re-runs ingest
    audio = run_cached(work, "ingest", SourceAudio, compute, inputs=[sha], params=params, backend="ffmpeg")
    # the cache holds the content; the outputs are named after this run's file (a copy under another name)
    return work, audio.model_copy(update={"media": media})


def open_work_folder(work_root: str | Path, sha: str, job: str | None = None) -> WorkDir:
    """The source's work folder, created if needed; InputError naming the folder when it cannot be written."""
    check_work_dir(Path(work_root).expanduser())
    try:
        return WorkDir(work_root, sha, job)
    except OSError as exc:
        raise InputError(f"cannot write to the work folder {Path(work_root).expanduser()}: {exc.strerror or exc}") from exc
