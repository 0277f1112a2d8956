"""Gather what the review report shows for one language: from report.json, the face analysis and the media.

Everything the page needs is collected here into plain view records (text, numbers and
data URIs), so the template only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from models.faces.records import MOUTH, FaceAnalysis, TrackGeometry
from models.lipsync.score import load_series
from polydub.review_report import media, plots
from polydub.review_report.thresholds import Check, ReviewThresholds, headline_checks

STRIP_FRAMES = 6  # before/after mouth crops per speaking face
THUMB_HEIGHT = 112
STRIP_HEIGHT = 72


@dataclass
class LineView:
    index: int
    speaker: str
    start: float
    end: float
    placed_start: float
    placed_end: float
    source_text: str
    target_text: str
    speed: float
    over_bound: bool
    original_audio: str
    dubbed_audio: str


@dataclass
class SpeakerView:
    speaker: str
    voice: Optional[dict[str, Any]]
    similarity: dict[str, float]
    face: Optional[str]
    confidence: float
    scores: dict[str, float]
    thumbnail: Optional[str]
    lines: list[int]

    @property
    def on_screen(self) -> bool:
        return self.face is not None


@dataclass
class StripFrame:
    frame: int
    time: float
    before: str
    after: str


@dataclass
class LipFaceView:
    identity: str
    speaker: Optional[str]
    score: dict[str, Any]
    plot: Optional[str]
    strip: list[StripFrame] = field(default_factory=list)


@dataclass
class ReviewData:
    """Everything one language's review page shows."""

    video: str
    language: str
    profile: str
    version: str
    checks: list[Check]
    timeline: str
    lines: list[LineView]
    speakers: list[SpeakerView]
    silent_faces: list[tuple[str, Optional[str]]]  # (identity, thumbnail) of faces that never speak
    lip_status: str
    lip_faces: list[LipFaceView]
    psnr_outside_masks_db: Optional[float]


def _geometry(faces: FaceAnalysis) -> dict[str, list[TrackGeometry]]:
    return {i: [t.load_geometry() for t in faces.tracks_of(i)] for i in faces.identities}


def _thumbnail_frame(geos: list[TrackGeometry]) -> tuple[int, np.ndarray]:
    """(frame, box) in the middle of the identity's longest track."""
    longest = max(geos, key=lambda g: len(g.frames))
    middle = len(longest.frames) // 2
    return int(longest.frames[middle]), longest.boxes[middle]


def _strip_frames(series: dict[str, np.ndarray], geos: list[TrackGeometry], count: int) -> list[tuple[int, np.ndarray]]:
    """Up to ``count`` (frame, mouth box) pairs spread over the face's line frames where its track exists."""
    at = {int(f): g.landmarks[k] for g in geos for k, f in enumerate(g.frames)}
    candidates = [int(f) for f in np.flatnonzero(np.asarray(series["lines"], bool)) if int(f) in at]
    if not candidates:
        return []
    picks = sorted({candidates[round(q)] for q in np.linspace(0, len(candidates) - 1, min(count, len(candidates)))})
    out = []
    for frame in picks:
        mouth = at[frame][MOUTH]
        (left, top), (right, bottom) = mouth.min(axis=0), mouth.max(axis=0)
        out.append((frame, np.array([left, top, right, bottom])))
    return out


def gather(
    report: dict[str, Any], language: str, faces: FaceAnalysis, limits: ReviewThresholds = ReviewThresholds()
) -> ReviewData:
    """Collect one completed language's review page from ``report`` (report.json as a dict) and ``faces``."""
    entry = report["languages"][language]
    measures = entry["measures"]
    source_video = Path(report["source"]["video"])
    output_video = Path(entry["outputs"]["video"])
    fps = faces.fps or report["source"]["media"].get("fps") or 25.0
    duration = float(report["source"]["media"]["duration"])
    bounds = tuple(report.get("speed_bounds", [0.85, 1.25]))

    rows = sorted(entry["lines"], key=lambda l: l["start"])
    originals = media.audio_clips(source_video, [(l["start"], l["end"]) for l in rows])
    dubbed = media.audio_clips(output_video, [(l["placed_start"], l["placed_end"]) for l in rows])
    lines = [
        LineView(
            index=l["index"], speaker=l["speaker"], start=l["start"], end=l["end"], placed_start=l["placed_start"],
            placed_end=l["placed_end"], source_text=l["source_text"], target_text=l["target_text"], speed=l["speed_factor"],
            over_bound=l["over_bound"], original_audio=original, dubbed_audio=dub,
        )
        for l, original, dub in zip(rows, originals, dubbed)
    ]
    face_section = report["source"].get("faces") or {"speakers": [], "silent_faces": [], "shots": []}
    speaker_ids = sorted({l.speaker for l in lines} | {s["speaker"] for s in face_section["speakers"]})
    bars = [plots.TimelineBar(l.index, l.speaker, l.start, l.end, l.placed_start, l.placed_end, l.speed, l.over_bound) for l in lines]
    cuts = [s["start_frame"] / fps for s in face_section["shots"] if s["start_frame"] > 0]
    timeline = plots.timeline_plot(bars, speaker_ids, duration, bounds, cuts)

    geometry = _geometry(faces)
    lips = measures.get("lip_sync") or {"status": entry.get("lip_sync", "off"), "faces": []}
    series = load_series(lips["series"]) if lips.get("series") and Path(lips["series"]).exists() else {}
    thumbs = {i: _thumbnail_frame(g) for i, g in geometry.items() if any(len(x.frames) for x in g)}
    strips = {i: _strip_frames(series[i], geometry[i], STRIP_FRAMES) for i in series if i in geometry}
    wanted = {f for f, _ in thumbs.values()} | {f for picks in strips.values() for f, _ in picks}
    picture = Path(report["source"].get("picture") or source_video)  # the normalised picture the faces were found in
    before = media.collect_frames(picture, faces.width, faces.height, wanted)
    after = media.collect_frames(output_video, faces.width, faces.height, {f for picks in strips.values() for f, _ in picks})
    thumbnail = {i: media.jpeg_uri(media.crop(before[f], tuple(box), 0.2, 0.8), THUMB_HEIGHT) for i, (f, box) in thumbs.items() if f in before}

    mapping = {s["speaker"]: s for s in face_section["speakers"]}
    voices = {v["speaker"]: v for v in entry.get("voices", [])}
    speakers = [
        SpeakerView(
            speaker=spk, voice=voices.get(spk), similarity=measures.get("voice_similarity", {}).get(spk, {}),
            face=mapping.get(spk, {}).get("face"), confidence=mapping.get(spk, {}).get("confidence", 0.0),
            scores=mapping.get(spk, {}).get("scores", {}), thumbnail=thumbnail.get(mapping.get(spk, {}).get("face") or ""),
            lines=[l.index for l in lines if l.speaker == spk],
        )
        for spk in speaker_ids
    ]
    lip_faces = []
    for score in lips.get("faces", []):
        identity = score["identity"]
        if score.get("speaker") is None:
            continue
        plot = None
        if identity in series:
            plot = plots.lipsync_plot(series[identity], fps, f"{identity} ({score['speaker']}): sync {_fmt(score.get('sync_output'))}")
        strip = [
            StripFrame(f, f / fps, media.jpeg_uri(media.crop(before[f], tuple(box), 0.45, 4 / 3), STRIP_HEIGHT),
                       media.jpeg_uri(media.crop(after[f], tuple(box), 0.45, 4 / 3), STRIP_HEIGHT))
            for f, box in strips.get(identity, []) if f in before and f in after
        ]
        lip_faces.append(LipFaceView(identity=identity, speaker=score["speaker"], score=score, plot=plot, strip=strip))
    return ReviewData(
        video=source_video.name, language=language, profile=report.get("profile", ""), version=report.get("polydub_version", ""),
        checks=headline_checks(report, language, limits), timeline=timeline, lines=lines, speakers=speakers,
        silent_faces=[(i, thumbnail.get(i)) for i in face_section.get("silent_faces", [])],
        lip_status=lips.get("status", "off"), lip_faces=lip_faces, psnr_outside_masks_db=lips.get("psnr_outside_masks_db"),
    )


def _fmt(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.2f}"
