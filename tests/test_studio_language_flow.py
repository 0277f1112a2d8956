"""The per-language flow with the studio backends, each a tiny random model built here and loaded through its real loader.

Source side: the lite analysis of the first 8 s of the sample (a narrator line and one
on-screen line), plus the studio's Demucs separation and XTTS reference clips. Language
side: NLLB translation, XTTS cloning, the mix over the background stem and LTX-2 lip sync
with an IC-LoRA. Tiny random models say nothing sensible; what is checked is that every
studio stage runs through the real code and delivers a well-formed output.
"""

from __future__ import annotations

import subprocess

import ffmpeg
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("TTS")

from flows.language import localize_language  # noqa: E402
from flows.source import analyze_source  # noqa: E402
from polydub.config import Backends, Profile  # noqa: E402

CLIP_SECONDS = 8.0


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    from models.testing.tiny_demucs import build_tiny_demucs
    from models.testing.tiny_ltx import build_tiny_lora, build_tiny_ltx
    from models.testing.tiny_nllb import build_tiny_nllb
    from models.testing.tiny_xtts import build_tiny_xtts

    root = tmp_path_factory.mktemp("tiny")
    ltx = build_tiny_ltx(root / "ltx")
    return {
        "separate": str(build_tiny_demucs(root / "demucs")),
        "translate": str(build_tiny_nllb(root / "nllb")),
        "synthesize": str(build_tiny_xtts(root / "xtts")),
        "lipsync": str(ltx),
        "lipsync.lora": str(build_tiny_lora(root / "lora", ltx)),
        "lipsync.resolution": "64",
        "lipsync.max_frames": "17",
        "lipsync.steps": "2",
        "lipsync.device": "cpu",
        "translate.max_new_tokens": "12",
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory, sample, tiny_models):
    base = tmp_path_factory.mktemp("studio")
    clip = base / "clip.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(sample.video), "-t", str(CLIP_SECONDS), "-c:v", "libx264",
                    "-crf", "12", "-c:a", "aac", str(clip)], check=True)  # fmt: skip
    studio = Backends.for_profile(Profile.studio, transcribe_model=None, diarize="vad-cluster", faces="dlib", models=tiny_models)
    source_side = studio.model_copy(update={"translate": "apertium", "synthesize": "xtts", "lipsync": "lite"})
    source = analyze_source(str(clip), str(base / "work"), "en", source_side)
    result = localize_language(source, "es", str(base / "out"), "en", studio)
    return {"source": source, "result": result, "clip": clip}


def test_studio_source_side_separates_and_chooses_references(run):
    source = run["source"]
    assert source.stems is not None and source.stems.model
    assert {c.speaker for c in source.references.clips} == set(source.diarization.speakers)
    assert all(c.audio for c in source.references.clips)


def test_studio_language_flow_delivers_a_lip_synced_video(run):
    result = run["result"]
    assert result.lip_sync == "on"
    assert all(v.name.startswith("xtts:") for v in result.dub.voices)
    out = ffmpeg.probe(result.deliverable.video)
    src = ffmpeg.probe(str(run["clip"]))
    assert abs(float(out["format"]["duration"]) - float(src["format"]["duration"])) <= 0.04
    lips = result.quality.lip_sync
    assert lips.status == "on" and lips.psnr_outside_masks_db >= 40.0
    assert sum(f.frames_changed for f in lips.faces) > 0


def test_studio_stages_ran_with_the_studio_backends(run):
    work = run["source"].work
    computed = {(r.stage, r.language) for r in work.ledger() if r.status == "computed"}
    for stage in ("separate", "references", "faces"):
        assert (stage, None) in computed
    for stage in ("translate", "synthesize", "fit_timing", "mix", "lipsync", "deliver", "quality"):
        assert (stage, "es") in computed


def test_native_mode_voices_the_on_screen_lines_and_remixes(run, tiny_models, tmp_path):
    studio = Backends.for_profile(Profile.studio, transcribe_model=None, diarize="vad-cluster", faces="dlib",
                                  models={**tiny_models, "lipsync.mode": "native"})
    frozen = run["result"]
    native = localize_language(run["source"], "es", str(tmp_path / "out"), "en", studio)
    assert native.lip_sync == "on"
    on_screen = {f.speaker for f in native.quality.lip_sync.faces if f.frames_changed}
    for before, after in zip(frozen.dub.lines, native.dub.lines, strict=True):
        if before.speaker in on_screen:  # the LTX model's own voicing, written by the lip-sync stage
            assert after.audio.endswith(f"voiced-line-{after.index}.wav") and after.speed == 1.0
            assert after.start <= before.start and after.end >= before.end  # it spans the re-drawn frames
        else:  # the off-screen narrator keeps the XTTS line
            assert after == before
    assert on_screen and native.dub.lines != frozen.dub.lines
    mixes = [r for r in run["source"].work.ledger() if r.stage == "mix" and r.language == "es" and r.status == "computed"]
    assert len(mixes) >= 2  # the dub was mixed again with the voiced lines
    assert float(ffmpeg.probe(native.deliverable.video)["format"]["duration"]) > 0
