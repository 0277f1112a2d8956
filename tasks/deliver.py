"""Delivery task: mux the dubbed soundtrack into the video, write subtitles, hand files out."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Deliverable, Dub, MixResult, SourceAudio
from models.ingest import probe
from models.lipsync.records import LipSyncResult
from models.mux import mux_video
from models.provenance import Disclosure, StageModel, disclosure_tags, sign_media, signing_fingerprint
from models.subtitles import write_subtitles
from polydub import __version__
from polydub.config import Backends, c2pa_signing
from polydub.errors import OutputWriteError, write_error_message
from polydub.names import output_stem
from polydub.workdir import WorkDir, copy_atomic
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


def disclosure(backends: Backends, source_language: str, dub: Dub, picture: LipSyncResult) -> Disclosure:
    """What this output's speech and picture were generated with (its tags and C2PA manifest say so)."""

    def stage(name: str, backend: str) -> StageModel:
        return StageModel(backend=backend, model=backends.model(name))

    syncer, _, version = picture.backend.partition(":")  # "lite:warp-1": the lip-sync backend that ran, and its version
    return Disclosure(
        source_language=source_language, language=dub.language, version=__version__,
        transcribe=stage("transcribe", backends.transcribe), translate=stage("translate", backends.translate),
        synthesize=stage("synthesize", backends.synthesize), voice_cloned=backends.clones_voices,
        lipsync=StageModel(backend=syncer, model=backends.model("lipsync") or version or None) if picture.video else None,
        faces_redrawn=sum(1 for face in picture.faces if face.frames_changed), lines_voiced_by_lipsync=len(picture.voiced_lines),
    )


def output_paths(out_dir: Path, video: Path, language: str, media_suffix: str = ".mp4") -> tuple[Path, Path, Path]:
    """The outputs contract: DIR/<stem>.<lang>.mp4 (.m4a for an audio-only source), .srt and .vtt.

    The stem is the source's, shortened with a hash when the names would pass 255 bytes (`polydub.names`).
    """
    stem = output_stem(video)
    return out_dir / f"{stem}.{language}{media_suffix}", out_dir / f"{stem}.{language}.srt", out_dir / f"{stem}.{language}.vtt"


def copy_output(src: Path | str, dst: Path) -> Path:
    """Copy one output to its final name atomically; a full or read-only disk is one OutputWriteError naming ``dst``."""
    try:
        return copy_atomic(src, dst)
    except OSError as exc:  # nothing is left under the final name (copy_atomic writes a temp file, then renames)
        raise OutputWriteError(write_error_message(exc, dst)) from exc


@task(name="deliver", cache_policy=NONE, **STAGE_RETRIES)
def deliver(
    work: WorkDir, audio: SourceAudio, dub: Dub, mixed: MixResult, picture: LipSyncResult, out_dir: str, keep_original_audio: bool,
    backends: Backends | None = None, source_language: str = "en",
) -> Deliverable:
    """Mux (the lip-synced or source picture copied, audio tagged with its language) and write SRT/VTT beside it.

    The video carries AI-disclosure tags; with a C2PA signing identity configured it is also signed
    (in the stage folder, before it is copied out under its final name).
    """
    source = Path(audio.media.path)
    language = dub.language
    ai = disclosure(backends or Backends(), source_language, dub, picture)
    signing = c2pa_signing()

    suffix = ".m4a" if audio.media.audio_only else ".mp4"

    def compute(folder: Path) -> Deliverable:
        final = folder / f"dub.{language}{suffix}"
        video = mux_video(
            None if audio.media.audio_only else Path(picture.video or audio.picture_path),
            Path(mixed.audio),
            folder / f"unsigned{suffix}" if signing else final,
            language,
            original_audio=Path(audio.mix_48k) if keep_original_audio else None,
            metadata={**disclosure_tags(ai), "encoder_tool": f"polydub {__version__}"},
            duration=audio.media.duration,
        )
        if signing:
            video = sign_media(video, final, ai, source, signing, title=output_paths(Path(out_dir), source, language, suffix)[0].name)
            (folder / f"unsigned{suffix}").unlink()
        srt, vtt = write_subtitles(dub.lines, folder / "dub.srt", folder / "dub.vtt")
        return Deliverable(language=language, video=str(video), srt=str(srt), vtt=str(vtt), duration=probe(video).duration)

    staged = run_cached(
        work, "deliver", Deliverable, compute, inputs=[audio, dub, mixed, picture, ai],
        params={"keep_original": keep_original_audio, **({"c2pa": signing_fingerprint(signing)} if signing else {})}, backend="ffmpeg", language=language
    )
    targets = output_paths(Path(out_dir), source, language, suffix)
    for src, dst in zip((staged.video, staged.srt, staged.vtt), targets):
        copy_output(src, dst)
    return staged.model_copy(update={"video": str(targets[0]), "srt": str(targets[1]), "vtt": str(targets[2])})
