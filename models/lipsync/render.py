"""The lip-sync stage of one language: plan the jobs, render the picture, say what changed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from models.compositor import render_lipsync
from models.data import Dub
from models.faces.records import FaceAnalysis, SpeakerFaces
from models.lipsync import LipSyncBackend
from models.lipsync.plan import plan_jobs
from models.lipsync.records import FaceSync, LipSyncResult
from models.lipsync.voicing import save_voiced_lines


def face_syncs(dub: Dub, faces: FaceAnalysis, mapping: SpeakerFaces, frames_changed: dict[str, int]) -> list[FaceSync]:
    """One entry per face identity: its speaker, the match confidence, its dubbed lines and changed frames."""
    by_identity = {entry.identity: entry for entry in mapping.speakers if entry.identity is not None}
    result = []
    for identity in faces.identities:
        entry = by_identity.get(identity)
        speaker = entry.speaker if entry else None
        result.append(
            FaceSync(
                identity=identity,
                speaker=speaker,
                confidence=entry.confidence if entry else 0.0,
                lines=[line.index for line in dub.lines if speaker is not None and line.speaker == speaker],
                frames_changed=frames_changed.get(identity, 0),
            )
        )
    return result


def lip_sync_video(
    source: Path,
    out: Path,
    faces: FaceAnalysis,
    mapping: SpeakerFaces,
    dub: Dub,
    backend: LipSyncBackend,
    progress: Callable[[int, int], None] | None = None,
) -> LipSyncResult:
    """Re-draw the mouth of every on-screen speaker over its dubbed lines; the rest of the picture is untouched.

    Writes ``out`` (H.264, the source's size and rate, no audio) only when some face changes;
    otherwise the result says why lip sync is off and the source picture is used as it is. A backend
    that voices the lines itself (LTX native) also leaves one WAV per line beside ``out``.
    """
    name = f"{backend.name}:{backend.version}"
    if not faces.tracks:
        return LipSyncResult(backend=name, status="no faces", frames_total=faces.frame_count)
    jobs = plan_jobs(dub, faces, mapping)
    if not jobs:
        return LipSyncResult(
            backend=name, status="no on-screen speaker", faces=face_syncs(dub, faces, mapping, {}), frames_total=faces.frame_count
        )
    started = time.perf_counter()
    stats = render_lipsync(
        source, out, None, faces.width, faces.height, faces.fps, jobs, backend, progress=progress, total_frames=faces.frame_count
    )
    return LipSyncResult(
        backend=name,
        status="on",
        video=str(out),
        faces=face_syncs(dub, faces, mapping, dict(stats.frames_changed)),
        frames_total=stats.frames_total,
        seconds=round(time.perf_counter() - started, 3),
        voiced_lines=save_voiced_lines(stats.voiced, faces.fps, Path(out).parent),
    )
