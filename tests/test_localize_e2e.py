"""End to end on the lite profile: the sample interview dubbed through the real CLI.

Three runs share one work folder: `--to es`, then `--to es,ca` (adds a language),
then `--to es,ca` again (identical). Every assertion reads real outputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import ffmpeg
import numpy as np
import pysubs2
import pytest

from models.audio import read_audio
from models.data import Dub, MixResult
from models.vad import speech_fraction, speech_regions
from models.voice_embedding import cosine, embed
from polydub.config import LANGUAGE_STAGES, SOURCE_STAGES
from polydub.workdir import WorkDir, file_sha256

pytestmark = pytest.mark.e2e
LANG_TAGS = {"es": "spa", "ca": "cat"}


@pytest.fixture(scope="module")
def runs(lite_runs, sample):
    names = ("first", "added", "repeat")
    reports = {name: lite_runs[name]["report"] for name in names}
    progress = {name: lite_runs[name]["stderr"] for name in names}
    workdir = WorkDir(lite_runs["work"], file_sha256(sample.video))
    return {"base": lite_runs["base"], "reports": reports, "progress": progress, "work": workdir}


def _statuses(report: dict) -> dict[tuple[str, str | None], str]:
    return {(s["stage"], s["language"]): s["status"] for s in report["stages"]}


def test_first_run_computes_every_stage(runs):
    stages = _statuses(runs["reports"]["first"])
    expected = {(s, None) for s in SOURCE_STAGES} | {(s, "es") for s in LANGUAGE_STAGES}
    assert set(stages) == expected
    assert set(stages.values()) == {"computed"}


def test_progress_shows_every_stage(runs):
    shown = runs["progress"]["added"]
    for stage in SOURCE_STAGES:
        assert f"✓ {stage} reused" in shown
    for stage in LANGUAGE_STAGES:
        assert f"✓ {stage} · es reused" in shown and f"✓ {stage} · ca computed" in shown


def test_adding_a_language_reuses_the_source_side(runs):
    stages = _statuses(runs["reports"]["added"])
    for stage in SOURCE_STAGES:
        assert stages[(stage, None)] == "reused", stage
    for stage in LANGUAGE_STAGES:
        assert stages[(stage, "es")] == "reused", stage
        assert stages[(stage, "ca")] == "computed", stage


def test_identical_rerun_recomputes_nothing(runs):
    stages = _statuses(runs["reports"]["repeat"])
    assert len(stages) == len(SOURCE_STAGES) + 2 * len(LANGUAGE_STAGES)
    assert set(stages.values()) == {"reused"}


def _truth(sample) -> dict:
    return json.loads(sample.script.read_text(encoding="utf-8"))


def test_transcript_and_diarization_meet_the_bar(runs, sample):
    measures = runs["reports"]["first"]["source"]["measures"]
    assert measures["speakers_found"] == len(_truth(sample)["speakers"]) == 3
    assert measures["transcript_wer"] <= 0.15
    assert measures["diarization_error_rate"] <= 0.15


@pytest.mark.parametrize("lang", ["es", "ca"])
def test_video_keeps_duration_and_tags_its_audio(runs, sample, lang):
    report = runs["reports"]["added"]
    entry = report["languages"][lang]
    src = ffmpeg.probe(str(sample.video))
    out = ffmpeg.probe(entry["outputs"]["video"])
    fps = 25.0
    assert abs(float(out["format"]["duration"]) - float(src["format"]["duration"])) <= 1.0 / fps
    audio = [s for s in out["streams"] if s["codec_type"] == "audio"]
    video = [s for s in out["streams"] if s["codec_type"] == "video"]
    assert len(video) == 1 and video[0]["codec_name"] == "h264"
    assert [s["tags"]["language"] for s in audio] == [LANG_TAGS[lang]]
    assert entry["lip_sync"] == "on"
    assert out["format"]["tags"]["ai_generated"] == "speech,lips"  # the AI-generation disclosure on every output
    assert (video[0]["width"], video[0]["height"], video[0]["r_frame_rate"]) == (640, 360, "25/1")
    assert int(video[0]["nb_frames"]) == int(next(s for s in src["streams"] if s["codec_type"] == "video")["nb_frames"])


@pytest.mark.parametrize("lang", ["es", "ca"])
def test_subtitles_have_one_cue_per_line_in_the_target_language(runs, lang):
    import langid

    entry = runs["reports"]["added"]["languages"][lang]
    identifier = langid.langid.LanguageIdentifier.from_modelstring(langid.langid.model, norm_probs=True)
    identifier.set_languages(["en", "es", "ca", "eo", "fr", "it", "pt"])
    for kind in ("srt", "vtt"):
        subs = pysubs2.load(entry["outputs"][kind])
        assert len(subs) == len(entry["lines"])
        for cue, line in zip(subs, entry["lines"]):
            assert cue.plaintext.strip()
            assert cue.plaintext.replace("\n", " ").strip() == line["target_text"].strip()
    text = " ".join(line["target_text"] for line in entry["lines"])
    assert identifier.classify(text)[0] == lang


def test_timing_bounds_and_zero_drift(runs):
    report = runs["reports"]["added"]
    low, high = report["speed_bounds"]
    for entry in report["languages"].values():
        for line in entry["lines"]:
            assert low - 1e-6 <= line["speed_factor"] <= high + 1e-6
            assert line["placed_start"] == line["start"]  # placed at its original start: drift 0
        assert entry["measures"]["drift_s"] == 0.0


def test_every_line_is_audible_inside_its_window(runs, sample):
    report = runs["reports"]["added"]
    duration = report["source"]["media"]["duration"]
    for lang in ("es", "ca"):
        stem = MixResult.load(_stage_dir(runs, "mix", lang) / "result.json").speech_stem
        samples, _ = read_audio(stem, 16000)
        regions = speech_regions(samples)
        lines = report["languages"][lang]["lines"]
        starts = [l["start"] for l in lines][1:] + [duration]
        for line, next_start in zip(lines, starts):
            over = line["over_bound"]
            assert line["placed_end"] <= next_start + 1e-3 or over, line
            assert speech_fraction(regions, line["placed_start"], line["placed_end"]) >= 0.5, line
        assert report["languages"][lang]["measures"]["lines_audible"] == len(lines)


def _stage_dir(runs, stage: str, lang: str) -> Path:
    work: WorkDir = runs["work"]
    key = next(r.key for r in work.ledger() if r.stage == stage and r.language == lang)
    return work.stage_dir(stage, key)


def test_dubbed_voices_differ_and_each_speaker_keeps_one(runs, sample):
    entry = runs["reports"]["added"]["languages"]["es"]
    speakers = len(_truth(sample)["speakers"])
    assert len({v["speaker"] for v in entry["voices"]}) == len(entry["voices"]) == speakers
    assert len({(v["name"], v["pitch"]) for v in entry["voices"]}) == speakers
    dub = Dub.load(_stage_dir(runs, "fit_timing", "es") / "result.json")
    lines = [(line.speaker, line.audio) for line in dub.lines]
    speakers = sorted({spk for spk, _ in lines})
    emb = [(spk, embed(read_audio(path, 16000)[0])) for spk, path in lines]
    within = [cosine(a, b) for i, (sa, a) in enumerate(emb) for sb, b in emb[i + 1 :] if sa == sb]
    across = [cosine(a, b) for i, (sa, a) in enumerate(emb) for sb, b in emb[i + 1 :] if sa != sb]
    assert np.mean(across) < np.mean(within) - 0.1
    centroids = {s: np.mean([e for spk, e in emb if spk == s], axis=0) for s in speakers}
    for spk, e in emb:  # every line sounds like its own speaker's voice, not another's
        own = cosine(e, centroids[spk])
        assert all(own > cosine(e, centroids[o]) for o in speakers if o != spk)



def test_each_run_records_a_summary_table_artifact(runs):
    """The runs went through Prefect: their summary tables are stored as artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["polydub-summary"])))
    assert len(artifacts) >= 3
    assert all(a.type == "table" for a in artifacts)
    languages = [sorted(row["language"] for row in json.loads(a.data)) for a in artifacts]
    assert ["es"] in languages and ["ca", "es"] in languages


# ---- faces and lip sync (issue 3) ----


def _true_speaker_of_found(report: dict, sample) -> dict[str, str]:
    """Map each diarized speaker label to the script speaker it overlaps most."""
    from models.metrics import read_rttm

    truth = read_rttm(sample.rttm).turns
    overlap: dict[str, dict[str, float]] = {}
    for line in report["source"]["lines"]:
        for turn in truth:
            shared = min(line["end"], turn.end) - max(line["start"], turn.start)
            if shared > 0:
                row = overlap.setdefault(line["speaker"], {})
                row[turn.speaker] = row.get(turn.speaker, 0.0) + shared
    return {found: max(row, key=row.get) for found, row in overlap.items()}


def _true_speaker_of_identity(runs, sample) -> dict[str, set[str]]:
    """For each face identity, the script speakers whose face box holds its track's centre, per shot."""
    from models.faces.records import FaceAnalysis

    truth = _truth(sample)
    work: WorkDir = runs["work"]
    key = next(r.key for r in work.ledger() if r.stage == "faces")
    faces = FaceAnalysis.load(work.stage_dir("faces", key) / "result.json")
    owners: dict[str, set[str]] = {}
    for track in faces.tracks:
        boxes = track.load_geometry().boxes
        x, y = (boxes[:, 0] + boxes[:, 2]).mean() / 2, (boxes[:, 1] + boxes[:, 3]).mean() / 2
        shot = next(s for s in truth["shots"] if s["start_frame"] <= track.start_frame < s["end_frame"])
        for speaker, (left, top, right, bottom) in shot["faces"].items():
            if left <= x < right and top <= y < bottom:
                owners.setdefault(track.identity, set()).add(speaker)
    return owners


def test_one_identity_per_person_across_the_shot_change(runs, sample):
    faces = runs["reports"]["first"]["source"]["faces"]
    assert len(faces["shots"]) == 2
    assert len(faces["identities"]) == 2
    for identity in faces["identities"]:
        shots = {t["shot"] for t in faces["tracks"] if t["identity"] == identity}
        assert shots == {0, 1}, f"{identity} is not seen in both shots"
    owners = _true_speaker_of_identity(runs, sample)
    assert sorted(len(o) for o in owners.values()) == [1, 1]  # each identity is one person in both shots
    assert {next(iter(o)) for o in owners.values()} == {"spk_a", "spk_b"}


def test_faces_are_matched_to_their_speakers_and_the_narrator_is_off_screen(runs, sample):
    report = runs["reports"]["first"]
    found_to_true = _true_speaker_of_found(report, sample)
    owners = {identity: next(iter(o)) for identity, o in _true_speaker_of_identity(runs, sample).items()}
    for entry in report["source"]["faces"]["speakers"]:
        true = found_to_true[entry["speaker"]]
        if true == "narrator":
            assert not entry["on_screen"] and entry["face"] is None
        else:
            assert entry["on_screen"] and owners[entry["face"]] == true, entry
            assert entry["confidence"] >= 0.5


def test_lips_follow_the_dub_and_nothing_else_changes(runs):
    for lang in ("es", "ca"):
        lips = runs["reports"]["added"]["languages"][lang]["measures"]["lip_sync"]
        assert lips["status"] == "on"
        assert lips["psnr_outside_masks_db"] >= 40.0
        speaking = [f for f in lips["faces"] if f["speaker"] is not None]
        assert len(speaking) == 2
        for face in speaking:
            assert face["frames_changed"] > 0
            assert face["sync_output"] >= 0.5, face
            assert face["sync_source"] is not None and face["sync_source"] < face["sync_output"]
            assert face["listening_psnr_db"] >= 40.0, face  # a listener's mouth is left as it was


def test_no_mouth_moves_during_narration(runs, sample):
    """Frames of the narrator's lines: every face's mouth area is the source's, within coding noise."""
    from models.faces.records import FaceAnalysis
    from models.video_io import read_frames

    report = runs["reports"]["added"]
    found_to_true = _true_speaker_of_found(report, sample)
    narration = [l for l in report["source"]["lines"] if found_to_true[l["speaker"]] == "narrator"]
    assert narration
    frames = {f for l in narration for f in range(int(l["start"] * 25) + 1, int(l["end"] * 25))}
    work: WorkDir = runs["work"]
    key = next(r.key for r in work.ledger() if r.stage == "faces")
    faces = FaceAnalysis.load(work.stage_dir("faces", key) / "result.json")
    mouths = {}
    for track in faces.tracks:
        g = track.load_geometry()
        for frame, points in zip(g.frames, g.landmarks):
            if int(frame) in frames:
                mouths.setdefault(int(frame), []).append(points[48:68])
    output = report["languages"]["es"]["outputs"]["video"]
    changes = []
    for (index, src), (_, out) in zip(read_frames(sample.video, 640, 360), read_frames(output, 640, 360)):
        for mouth in mouths.get(index, []):
            (left, top), (right, bottom) = mouth.min(axis=0).astype(int) - 4, mouth.max(axis=0).astype(int) + 4
            region = (slice(top, bottom), slice(left, right))
            changes.append(np.abs(src[region].astype(float) - out[region].astype(float)).mean())
    assert len(changes) > 50
    assert max(changes) < 2.0
