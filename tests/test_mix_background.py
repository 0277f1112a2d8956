"""Studio mix: the dub laid over a separated background stem, not ducked, loudness-matched to the source."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import soundfile as sf

from models.mix import mix_dub, mix_over_background
from tests.test_mix import RATE, dub_of, marker_level_db, pytestmark, soundtrack, true_peak_dbtp  # noqa: F401

LINES = [(1.0, "Buenos días a todos."), (3.5, "Hoy hablamos de mapas antiguos.")]


def test_the_background_keeps_its_level_under_the_dub_and_the_mix_matches_the_source(tmp_path):
    background = soundtrack(tmp_path / "background.wav", level=0.1)
    source = soundtrack(tmp_path / "source.wav", level=0.25)  # stands for the original mix, dialogue included
    dub = dub_of(tmp_path, LINES)
    result = mix_over_background(background, dub, tmp_path / "out", source_mix_48k=source)
    mix, rate = sf.read(result.audio, dtype="float32")
    assert rate == RATE and mix.shape == (sf.info(str(background)).frames, 2)
    meter = pyloudnorm.Meter(RATE)
    source_audio, _ = sf.read(str(source), dtype="float32")
    assert result.source_lufs == round(meter.integrated_loudness(source_audio), 2)
    assert abs(meter.integrated_loudness(mix) - result.source_lufs) < 0.5
    assert true_peak_dbtp(mix) <= -1.0 + 0.05
    first = dub.lines[0]
    under = marker_level_db(mix[:, 0], first.start + 0.2, first.end - 0.2)
    clear = marker_level_db(mix[:, 0], 0.1, first.start - 0.2)
    assert abs(under - clear) < 1.0  # not ducked: the background plays on at its own level
    ducked = mix_dub(source, dub, tmp_path / "lite")  # the lite mix, for contrast, ducks by 18 dB
    lite, _ = sf.read(ducked.audio, dtype="float32")
    assert marker_level_db(lite[:, 0], 0.1, first.start - 0.2) - marker_level_db(lite[:, 0], first.start + 0.2, first.end - 0.2) > 12


def test_an_optional_light_duck_and_the_background_as_its_own_reference(tmp_path):
    background = soundtrack(tmp_path / "background.wav", level=0.2)
    dub = dub_of(tmp_path, LINES[:1])
    result = mix_over_background(background, dub, tmp_path / "out", duck_db=-6.0)
    mix, _ = sf.read(result.audio, dtype="float32")
    line = dub.lines[0]
    drop = marker_level_db(mix[:, 0], 0.1, line.start - 0.2) - marker_level_db(mix[:, 0], line.start + 0.2, line.end - 0.2)
    assert 5.0 < drop < 7.0
    bed, _ = sf.read(str(background), dtype="float32")
    assert result.source_lufs == round(pyloudnorm.Meter(RATE).integrated_loudness(bed), 2)
    speech, _ = sf.read(result.speech_stem, dtype="float32")
    onset = np.argmax(np.abs(speech) > 1e-3) / RATE
    assert abs(onset - line.start) < 0.02  # the line sits at its absolute time
