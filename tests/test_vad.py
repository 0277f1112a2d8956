"""Voice activity detection: regions, coverage, and safe use from concurrent languages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from models.audio import read_audio
from models.vad import speech_fraction, speech_regions
from tests import speech_material as material


def test_regions_follow_the_speech(tmp_path):
    wav, truth, _ = material.two_speaker_conversation(tmp_path)
    samples, _ = read_audio(wav, 16000)
    regions = speech_regions(samples)
    for turn in truth.turns:
        assert speech_fraction(regions, turn.start, turn.end) > 0.8
    gaps = [(a.end + 0.15, b.start - 0.15) for a, b in zip(truth.turns, truth.turns[1:]) if b.start - a.end > 0.4]
    assert gaps and all(speech_fraction(regions, a, b) < 0.2 for a, b in gaps)
    assert speech_regions(np.zeros(16000, dtype=np.float32)) == []


def test_concurrent_callers_get_the_same_answer(tmp_path):
    """Languages are measured in parallel threads; the stateful model must not be shared mid-call."""
    wav, _, _ = material.two_speaker_conversation(tmp_path)
    samples, _ = read_audio(wav, 16000)
    expected = speech_regions(samples)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: speech_regions(samples), range(8)))
    assert all(r == expected for r in results)
