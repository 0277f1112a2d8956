"""XTTS-v2 voice cloning: a tiny random Xtts built from XttsConfig, saved as a checkpoint folder, loaded like the real one."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("TTS")

from models.data import SpeakerProfile  # noqa: E402
from models.synthesize import Synthesizer, load_synthesizer  # noqa: E402
from models.synthesize.xtts import XttsSynthesizer, check  # noqa: E402
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError  # noqa: E402
from tests.speech_material import LOW_MALE, MONOLOGUE_SCRIPT, conversation  # noqa: E402

@pytest.fixture(scope="module")
def tiny_xtts(tmp_path_factory):
    """config.json + model.pth + vocab.json of a 1-layer, 32-channel XTTS (real HiFi-GAN decoder and speaker encoder)."""
    from models.testing.tiny_xtts import build_tiny_xtts

    return build_tiny_xtts(tmp_path_factory.mktemp("xtts"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    wav, _, _ = conversation(tmp_path_factory.mktemp("ref"), MONOLOGUE_SCRIPT[:1], name="ref.wav")
    return wav


@pytest.fixture(scope="module")
def synth(tiny_xtts, reference):
    return load_synthesizer("xtts", model=str(tiny_xtts), references={LOW_MALE.name: reference})


def test_loads_from_a_checkpoint_folder_and_knows_its_languages(synth, tiny_xtts):
    assert isinstance(synth, Synthesizer) and isinstance(synth, XttsSynthesizer)
    assert synth.device == "cpu"
    assert f"/xtts-{tiny_xtts.name}@" in synth.version
    assert {"en", "es", "zh", "ja", "hi"} <= set(synth.languages) and len(synth.languages) == 17
    assert synth.check_language("zh") == "zh-cn" and synth.check_language("ES") == "es"


def test_language_and_reference_gaps_fail_before_any_synthesis(synth):
    profile = SpeakerProfile(speaker=LOW_MALE.name, median_f0_hz=110.0, speech_seconds=5.0)
    with pytest.raises(UnsupportedLanguageError, match="cannot speak 'ca'"):
        synth.assign_voices([profile], "ca")
    stranger = SpeakerProfile(speaker="SPEAKER_09", median_f0_hz=200.0, speech_seconds=3.0)
    with pytest.raises(InputError, match="SPEAKER_09"):
        synth.assign_voices([profile, stranger], "es")
    voices = synth.assign_voices([profile], "es")
    assert [(v.speaker, v.name) for v in voices] == [(LOW_MALE.name, "xtts:ref.wav")]


def test_synthesis_is_seeded_and_reuses_the_speakers_latents(synth, tmp_path, monkeypatch):
    voice = synth.assign_voices([SpeakerProfile(speaker=LOW_MALE.name, median_f0_hz=110.0, speech_seconds=5.0)], "es")[0]
    calls = []
    real = synth.model.get_conditioning_latents
    monkeypatch.setattr(synth.model, "get_conditioning_latents", lambda **kw: calls.append(kw) or real(**kw))
    synth._latents.clear()
    first = synth.synthesize("hola a todos.", voice, "es", tmp_path / "a.wav")
    again = synth.synthesize("hola a todos.", voice, "es", tmp_path / "b.wav")
    other = synth.synthesize("buenos días, amigos.", voice, "es", tmp_path / "c.wav")
    assert len(calls) == 1  # one reference, one set of latents for the whole video
    a, rate = sf.read(tmp_path / "a.wav")
    b, _ = sf.read(tmp_path / "b.wav")
    assert rate == 24000 and first == pytest.approx(len(a) / 24000) and first > 0
    np.testing.assert_array_equal(a, b)  # the same line gives the same audio
    assert first == again and other > 0


def test_kv_cache_decoding_matches_uncached_decoding(synth):
    """Checks the transformers-5 ``cache`` keyword patch: greedy decoding with and without the KV cache agree."""
    latent, embedding = synth._conditioning(LOW_MALE.name)
    cached = synth.model.inference("hola", "es", latent, embedding, do_sample=False)
    uncached = synth.model.inference("hola", "es", latent, embedding, do_sample=False, use_cache=False)
    np.testing.assert_allclose(cached["gpt_latents"], uncached["gpt_latents"], atol=1e-4)


def test_missing_model_and_check_name_the_cpml_licence(tmp_path):
    with pytest.raises(BackendUnavailableError, match="COQUI_TOS_AGREED=1"):
        XttsSynthesizer(model="tts_models/multilingual/multi-dataset/xtts_v2")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackendUnavailableError, match="lacks model.pth, vocab.json"):
        XttsSynthesizer(model=str(tmp_path))
    items = {c.item: c for c in check()}
    assert items["package coqui-tts"].ok
    assert not items["weights tts_models/multilingual/multi-dataset/xtts_v2"].ok
    licence = items["licence XTTS-v2 (Coqui Public Model License)"]
    assert not licence.ok and "commercial use not allowed" in licence.detail and "coqui.ai/cpml" in licence.detail


def test_prepare_references_picks_one_clip_per_diarized_speaker(synth, tmp_path):
    from tests.speech_material import TWO_SPEAKER_SCRIPT

    wav, truth, _ = conversation(tmp_path, TWO_SPEAKER_SCRIPT[:4])
    before = dict(synth.references)
    try:
        clips = synth.prepare_references(wav, truth, tmp_path / "refs", min_s=2.0)
        assert set(clips) == set(truth.speakers)
        for speaker, clip in clips.items():
            assert synth.references[speaker] == tmp_path / "refs" / f"reference-{speaker}.wav"
            own = [t for t in truth.turns if t.speaker == speaker]
            assert any(t.start - 1e-3 <= clip.start and clip.end <= t.end + 1e-3 for t in own)
        assert LOW_MALE.name not in synth._latents  # a new reference drops the old latents
    finally:
        for speaker, path in before.items():
            synth.set_reference(speaker, path)


def test_each_video_gets_its_own_references_over_the_shared_model(synth, reference, tmp_path):
    """Two videos dubbed at once in one worker: each view keeps its own clip per speaker label."""
    import shutil

    other = shutil.copyfile(reference, tmp_path / "other-video-ref.wav")
    first = synth.with_references({"SPEAKER_07": reference})
    second = synth.with_references({"SPEAKER_07": other})
    assert first.model is synth.model and second.model is synth.model  # loaded once
    assert first.references == {"SPEAKER_07": reference} and second.references == {"SPEAKER_07": other}
    assert "SPEAKER_07" not in synth.references  # the shared instance is untouched
    first._conditioning("SPEAKER_07")
    assert "SPEAKER_07" in first._latents and "SPEAKER_07" not in second._latents
