"""Demucs separation with a tiny random HTDemucs saved as a local demucs repo and loaded through get_model."""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("demucs")

from models.separate import Separator, Stems, load_separator  # noqa: E402
from models.separate.demucs_separator import DemucsSeparator, check  # noqa: E402
from polydub.errors import BackendUnavailableError, InputError  # noqa: E402

RATE = 48000


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    """A demucs model repo: ``tiny.yaml`` naming one random HTDemucs saved as ``tinysig.th``."""
    from models.testing.tiny_demucs import build_tiny_demucs

    return build_tiny_demucs(tmp_path_factory.mktemp("demucs"))


@pytest.fixture(scope="module")
def separator(tiny_repo):
    return load_separator("demucs", model="tiny", repo=tiny_repo, block_s=1.5, overlap_s=0.25)


def source_mix(path, seconds=4.0, channels=2):
    """A 'voice' (harmonic buzz with syllable-rate envelope) over a low chord and noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    voice = 0.3 * np.sign(np.sin(2 * np.pi * 140 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    bed = 0.2 * np.sin(2 * np.pi * 110 * t) + 0.02 * np.random.default_rng(0).standard_normal(t.size)
    mix = np.stack([voice + bed, 0.8 * voice + bed], axis=1)[:, :channels].astype(np.float32)
    sf.write(path, mix, RATE)
    return sf.read(path, dtype="float32", always_2d=True)[0]  # as stored (16-bit)


def test_stems_have_the_inputs_shape_and_sum_back_to_it(separator, tmp_path):
    assert isinstance(separator, Separator) and isinstance(separator, DemucsSeparator)
    mix = source_mix(tmp_path / "mix.wav")
    stems = separator.separate(tmp_path / "mix.wav", tmp_path / "stems")
    assert isinstance(stems, Stems) and stems.model == separator.version
    dialogue, rate_d = sf.read(stems.dialogue, dtype="float32")
    background, rate_b = sf.read(stems.background, dtype="float32")
    assert rate_d == rate_b == RATE
    assert dialogue.shape == background.shape == mix.shape
    assert stems.duration == pytest.approx(len(mix) / RATE)
    np.testing.assert_allclose(dialogue + background, mix, atol=1e-5)
    # the dialogue is the model's vocals estimate: neither silence nor the whole mix
    assert np.abs(dialogue).max() > 1e-4
    assert np.abs(background).max() > 1e-4
    assert Stems.model_validate_json(stems.model_dump_json()) == stems


def test_blocks_bound_memory_and_are_cross_faded_without_gaps(separator, tmp_path, monkeypatch):
    source_mix(tmp_path / "mix.wav", seconds=4.0)
    seen = []
    real = separator.dialogue

    def recording(block):
        seen.append(len(block))
        return real(block)

    monkeypatch.setattr(separator, "dialogue", recording)
    stems = separator.separate(tmp_path / "mix.wav", tmp_path / "stems")
    block, overlap = int(1.5 * RATE), int(0.25 * RATE)
    assert max(seen) <= block and len(seen) == 3  # 4 s in 1.5 s blocks stepping 1.25 s
    assert sum(seen) - overlap * (len(seen) - 1) == 4 * RATE  # every sample once, overlaps counted once
    dialogue, _ = sf.read(stems.dialogue, dtype="float32")
    steps = np.abs(np.diff(dialogue[:, 0]))
    assert steps.max() < 20 * np.median(steps) + 1e-3  # no jump at a block boundary


def test_mono_input_gives_stereo_stems_and_wrong_rate_is_refused(separator, tmp_path):
    mix = source_mix(tmp_path / "mono.wav", seconds=1.0, channels=1)
    stems = separator.separate(tmp_path / "mono.wav", tmp_path / "stems")
    dialogue, _ = sf.read(stems.dialogue, dtype="float32")
    background, _ = sf.read(stems.background, dtype="float32")
    assert mix.shape[1] == 1 and dialogue.shape == (len(mix), 2)
    np.testing.assert_allclose((dialogue + background)[:, 0], mix[:, 0], atol=1e-5)
    sf.write(tmp_path / "44k.wav", np.zeros((44100, 2), dtype=np.float32), 44100)
    with pytest.raises(InputError, match="48 kHz"):
        separator.separate(tmp_path / "44k.wav", tmp_path / "stems")
    with pytest.raises(InputError):
        separator.separate(tmp_path / "absent.wav", tmp_path / "stems")


def test_missing_model_fails_with_download_instructions(tmp_path):
    with pytest.raises(BackendUnavailableError, match="repo=<folder>"):
        DemucsSeparator(model="tiny", repo=tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackendUnavailableError, match="cannot load Demucs model 'htdemucs'"):
        DemucsSeparator(model="htdemucs", repo=tmp_path / "empty")
    with pytest.raises(BackendUnavailableError, match="unknown separation backend"):
        load_separator("spleeter")


def test_check_reports_weights_and_licence(tiny_repo):
    items = {c.item: c for c in check()}
    assert items["package demucs"].ok
    assert not items["weights adefossez/HTDemucs"].ok  # nothing downloaded on this machine
    assert "huggingface-cli download adefossez/HTDemucs" in items["weights adefossez/HTDemucs"].fix
    assert any(c.item.startswith("licence") and c.ok for c in items.values())
    assert {c.item: c for c in check(str(tiny_repo))}[f"weights {tiny_repo}"].ok
