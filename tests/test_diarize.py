"""Lite diarization (silero-vad + resemblyzer + clustering) on espeak-ng conversations."""

from __future__ import annotations

import pytest

from models.data import Diarization
from models.diarize import Diarizer, load_diarizer
from models.diarize.vad_cluster import VadClusterDiarizer, cluster_embeddings
from models.metrics import diarization_error_rate
from polydub.errors import BackendUnavailableError, InputError
from tests import speech_material as material

MAX_DER = 0.15


@pytest.fixture(scope="module")
def diarizer() -> VadClusterDiarizer:
    return load_diarizer("vad-cluster")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("diarize")


def assert_well_formed(diarization: Diarization) -> None:
    """Turns sorted, non-overlapping, positive, labels numbered by first appearance."""
    turns = diarization.turns
    assert all(t.end > t.start for t in turns)
    assert all(a.end <= b.start for a, b in zip(turns, turns[1:]))
    order = list(dict.fromkeys(t.speaker for t in turns))
    assert order == [f"SPEAKER_{i:02d}" for i in range(len(order))]


def test_factory_gives_a_diarizer_with_an_identity(diarizer):
    assert isinstance(diarizer, Diarizer)
    assert diarizer.name == "vad-cluster"
    assert "silero-vad" in diarizer.version and "resemblyzer" in diarizer.version
    assert load_diarizer(threshold=0.3).version != diarizer.version  # parameters are part of the cache key


def test_unknown_backend_and_missing_file_fail_clearly(diarizer, tmp_path):
    with pytest.raises(BackendUnavailableError, match="no-such-backend"):
        load_diarizer("no-such-backend")
    with pytest.raises(InputError, match="not found"):
        diarizer.diarize(tmp_path / "missing.wav")


def test_two_speaker_interview_finds_two_speakers(diarizer, work):
    audio, truth, _ = material.two_speaker_conversation(work / "two", tone_level=0.03)
    found = diarizer.diarize(audio)
    assert_well_formed(found)
    assert len(found.speakers) == len(truth.speakers) == 2
    assert diarization_error_rate(truth, found) <= MAX_DER
    assert found.turns[0].speaker == "SPEAKER_00"


def test_speaker_change_without_a_pause_is_found(diarizer, work):
    audio, truth, _ = material.conversation(work / "nopause", material.TWO_SPEAKER_SCRIPT, pauses_s=(0.0,))
    found = diarizer.diarize(audio)
    assert_well_formed(found)
    assert len(found.speakers) == len(truth.speakers) == 2
    assert diarization_error_rate(truth, found) <= MAX_DER
    # every true change point has a found change point within 0.5 s
    true_changes = [b.start for a, b in zip(truth.turns, truth.turns[1:]) if a.speaker != b.speaker]
    found_changes = [b.start for a, b in zip(found.turns, found.turns[1:]) if a.speaker != b.speaker]
    assert all(min(abs(t - f) for f in found_changes) < 0.5 for t in true_changes)


def test_one_speaker_gives_one_speaker(diarizer, work):
    audio, truth, _ = material.one_speaker_monologue(work / "one")
    found = diarizer.diarize(audio)
    assert found.speakers == ["SPEAKER_00"]
    assert diarization_error_rate(truth, found) <= MAX_DER


def test_three_voices_give_three_speakers(diarizer, work):
    audio, truth, _ = material.three_speaker_conversation(work / "three")
    found = diarizer.diarize(audio)
    assert_well_formed(found)
    assert len(found.speakers) == 3
    assert diarization_error_rate(truth, found) <= MAX_DER


@pytest.mark.parametrize("noise_level", [0.0, 0.003])
def test_silence_gives_no_turns(diarizer, tmp_path, noise_level):
    audio = material.silence(tmp_path, noise_level=noise_level)
    assert diarizer.diarize(audio).turns == []


def test_clustering_estimates_the_number_of_groups():
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 256))
    points = np.concatenate([c + 0.05 * rng.normal(size=(6, 256)) for c in centres])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = cluster_embeddings(points, threshold=0.4)
    assert len(set(labels)) == 3
    assert all(len(set(labels[i * 6 : (i + 1) * 6])) == 1 for i in range(3))
    assert list(cluster_embeddings(points[:1], threshold=0.4)) == [0]
    # above max_points a subset is clustered and the rest join the nearest centroid
    subset_labels = cluster_embeddings(points, threshold=0.4, max_points=7)
    assert sorted(set(subset_labels)) == [0, 1, 2]
    assert all(len(set(subset_labels[i * 6 : (i + 1) * 6])) == 1 for i in range(3))


def test_sample_interview_meets_the_targets(diarizer, work):
    audio, truth, _ = material.sample_interview(work / "sample")
    found = diarizer.diarize(audio)
    assert_well_formed(found)
    assert len(found.speakers) == len(truth.speakers) == 3  # two on screen, one narrator
    assert diarization_error_rate(truth, found) <= MAX_DER
