"""Mix: dubbed espeak speech over a generated soundtrack, ducked and loudness-matched."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample

from models.audio import read_audio, write_wav
from models.data import Dub, DubbedLine, Voice
from models.mix import mix_dub
from models.synthesize import load_synthesizer
from polydub.errors import InputError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

RATE = 48000
SOURCE_SECONDS = 6.0
MARKER_HZ = 15000.0  # background marker tone: far above anything in 22.05 kHz espeak speech


def soundtrack(path: Path, level: float, seconds: float = SOURCE_SECONDS) -> Path:
    """A stereo 'music bed': a low chord plus a high marker tone, at a given amplitude."""
    t = np.arange(int(seconds * RATE)) / RATE
    bed = 0.5 * np.sin(2 * np.pi * 220 * t) + 0.3 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * MARKER_HZ * t)
    stereo = np.stack([bed, np.roll(bed, 100)], axis=1) * level
    sf.write(str(path), stereo, RATE, subtype="PCM_16")
    return path


def dub_of(tmp_path: Path, placements: list[tuple[float, str]]) -> Dub:
    synth = load_synthesizer("espeak")
    voice = Voice(speaker="A", name="es+m3", pitch=45)
    lines = []
    for i, (start, text) in enumerate(placements):
        wav = tmp_path / f"line{i}.wav"
        duration = synth.synthesize(text, voice, "es", wav)
        lines.append(
            DubbedLine(index=i, speaker="A", source_text=text, target_text=text, window_start=start, window_end=start + duration,
                       audio=str(wav), natural_duration=duration, speed=1.0, start=start, end=start + duration)
        )
    return Dub(language="es", lines=lines, voices=[voice])


def marker_level_db(samples: np.ndarray, begin: float, end: float) -> float:
    """Level of the marker tone (dB) in a stretch of mono audio, from its FFT bin."""
    chunk = samples[int(begin * RATE) : int(end * RATE)]
    window = np.hanning(len(chunk))
    spectrum = np.abs(np.fft.rfft(chunk * window)) / window.sum()  # amplitude, whatever the length
    freqs = np.fft.rfftfreq(len(chunk), 1 / RATE)
    band = (freqs > MARKER_HZ - 50) & (freqs < MARKER_HZ + 50)
    return 20 * np.log10(spectrum[band].max())


def true_peak_dbtp(stereo: np.ndarray) -> float:
    """True peak by 4x FFT oversampling (independent of the module's polyphase filter)."""
    up = resample(stereo, len(stereo) * 4, axis=0)
    return 20 * np.log10(np.abs(up).max())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mix")
    source = soundtrack(tmp / "source.wav", level=0.25)
    dub = dub_of(tmp, [(1.0, "Buenos días a todos."), (3.5, "Hoy hablamos de mapas antiguos.")])
    result = mix_dub(source, dub, tmp / "out")
    return source, dub, result


def test_outputs_keep_the_source_length_to_the_sample(mixed):
    source, _, result = mixed
    n = sf.info(str(source)).frames
    mix_info, speech_info = sf.info(result.audio), sf.info(result.speech_stem)
    assert (mix_info.frames, mix_info.samplerate, mix_info.channels) == (n, RATE, 2)
    assert (speech_info.frames, speech_info.samplerate, speech_info.channels) == (n, RATE, 1)
    assert result.duration == n / RATE
    assert Path(result.audio).name == "mix.wav" and Path(result.speech_stem).name == "speech.wav"
    assert not list(Path(result.audio).parent.glob(".*.part*"))


def test_speech_stem_holds_each_line_at_its_absolute_sample(mixed):
    _, dub, result = mixed
    stem, _ = read_audio(result.speech_stem)
    first = int(round(dub.lines[0].start * RATE))
    assert np.all(stem[:first] == 0)
    for line in dub.lines:
        begin = int(round(line.start * RATE))
        expected, _ = read_audio(line.audio, sample_rate=RATE)
        placed = stem[begin : begin + len(expected)]
        assert np.corrcoef(placed, expected)[0, 1] > 0.99


def test_loudness_matches_the_source_and_true_peak_stays_under_the_ceiling(mixed):
    source, _, result = mixed
    meter = pyloudnorm.Meter(RATE)
    src, _ = sf.read(str(source))
    out, _ = sf.read(result.audio)
    assert abs(meter.integrated_loudness(out) - meter.integrated_loudness(src)) <= 1.0
    assert result.source_lufs == pytest.approx(meter.integrated_loudness(src), abs=0.05)
    assert result.output_lufs == pytest.approx(meter.integrated_loudness(out), abs=0.1)
    assert true_peak_dbtp(out) <= -1.0
    assert result.true_peak_dbtp <= -1.0


def test_the_original_is_ducked_under_dubbed_speech(mixed):
    source, dub, result = mixed
    out, _ = read_audio(result.audio)
    src, _ = read_audio(source)
    line = dub.lines[1]
    during = marker_level_db(out, line.start + 0.2, line.end - 0.2)
    outside = marker_level_db(out, 2.6, 3.2)  # between the two lines
    before = marker_level_db(out, 0.1, 0.7)
    assert during - outside == pytest.approx(-18.0, abs=2.0)
    assert before == pytest.approx(outside, abs=1.0)  # away from speech the bed keeps its level
    # between lines the bed keeps about its original level (up to the loudness-matching gain)
    assert outside - marker_level_db(src, 2.6, 3.2) == pytest.approx(0.0, abs=3.0)
    # the ramps are smooth: no step in the bed's gain right at a line's edge
    start = dub.lines[0].start
    ramp = [marker_level_db(out, t, t + 0.01) for t in np.arange(start - 0.16, start, 0.01)]
    assert ramp[0] - ramp[-1] == pytest.approx(18.0, abs=2.5)  # fully ducked as the speech starts
    assert np.max(np.abs(np.diff(ramp))) < 6.0  # in gentle steps, not at once


def test_a_loud_source_is_limited_to_the_ceiling_and_still_matched(tmp_path):
    source = soundtrack(tmp_path / "loud.wav", level=0.7)  # about -7.5 LUFS, like mastered music
    dub = dub_of(tmp_path, [(0.5, "Una frase muy fuerte."), (4.8, "Y otra al final que se sale del archivo.")])
    result = mix_dub(source, dub, tmp_path / "out", duck_db=-12.0)
    meter = pyloudnorm.Meter(RATE)
    src, _ = sf.read(str(source))
    out, _ = sf.read(result.audio)
    assert len(out) == len(src)  # the last line runs past the end and is cut there
    assert true_peak_dbtp(out) <= -1.0
    assert abs(meter.integrated_loudness(out) - meter.integrated_loudness(src)) <= 1.0


def test_a_source_over_the_ceiling_comes_out_under_it(tmp_path):
    source = soundtrack(tmp_path / "hot.wav", level=0.99)
    assert true_peak_dbtp(sf.read(str(source))[0]) > -1.0
    result = mix_dub(source, dub_of(tmp_path, [(2.0, "Hola.")]), tmp_path / "out")
    out, _ = sf.read(result.audio)
    assert true_peak_dbtp(out) <= -1.0
    assert result.output_lufs == pytest.approx(pyloudnorm.Meter(RATE).integrated_loudness(out), abs=0.1)
    assert result.output_lufs < result.source_lufs  # it cannot be as loud under the ceiling: reported, not hidden


def test_a_short_or_missing_source_is_refused(tmp_path):
    dub = Dub(language="es", lines=[])
    with pytest.raises(InputError, match="not found"):
        mix_dub(tmp_path / "nope.wav", dub, tmp_path / "out")
    short = write_wav(tmp_path / "short.wav", np.zeros((4800, 2)), RATE)
    with pytest.raises(InputError, match="shorter than"):
        mix_dub(short, dub, tmp_path / "out")
