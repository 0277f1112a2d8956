"""Apertium translation: real translations through the installed Debian pairs."""

from __future__ import annotations

import shutil

import pytest

from models.translate import Translator, load_translator
from models.translate.apertium import ApertiumTranslator
from polydub.errors import BackendUnavailableError, UnsupportedLanguageError

pytestmark = pytest.mark.skipif(shutil.which("apertium") is None, reason="apertium is not installed")

SENTENCES = ["The house is red.", "I like the black cat.", "We are going to the beach tomorrow."]
# words a correct translation must contain (house / cat / beach)
EXPECTED = {
    "es": ["casa", "gato", "playa"],
    "ca": ["casa", "gat", "platja"],
    "eo": ["domo", "kat", "plaĝo"],
}


@pytest.fixture(scope="module")
def translator() -> Translator:
    return load_translator("apertium")


def test_factory_gives_an_apertium_translator_with_a_versioned_identity(translator):
    assert isinstance(translator, Translator)
    assert translator.name == "apertium"
    assert "eng-spa=" in translator.version  # the installed pair's package version is part of it
    assert translator.version.startswith("apertium-")


def test_supported_targets_list_the_installed_pairs_as_iso_639_1(translator):
    targets = translator.supported_targets("en")
    assert {"es", "ca", "eo"} <= set(targets)
    assert targets == sorted(targets)
    assert all(len(code) == 2 for code in targets)
    assert translator.supported_targets("eng") == targets  # three-letter input is normalised


@pytest.mark.parametrize("target", ["es", "ca", "eo"])
def test_translates_sentences_into_the_target_language(translator, target):
    out = translator.translate(SENTENCES, "en", target)
    assert len(out) == len(SENTENCES)
    for source, translated, word in zip(SENTENCES, out, EXPECTED[target]):
        assert translated and translated != source
        assert word in translated.lower(), (target, translated)
        assert "*" not in translated and "#" not in translated  # -u: no unknown-word marks


def test_empty_and_odd_lines_stay_aligned(translator):
    texts = ["The house is red.", "", "   ", "42", "Price: $5 [note] a/b {x} ^caret$", "...", "The black\ncat.", "We are going to the beach."]
    out = translator.translate(texts, "en", "es")
    assert len(out) == len(texts)
    assert out[1] == "" and out[2] == ""
    assert "casa" in out[0].lower()
    assert out[3] == "42"
    assert "$5" in out[4] and "[" in out[4]
    assert "\n" not in out[6] and "gato" in out[6].lower()  # an inner newline does not split the line
    assert "playa" in out[7].lower()


def test_many_lines_go_through_one_apertium_call(translator, monkeypatch):
    calls = []
    real_run = translator._run

    def counting_run(mode, text):
        calls.append(mode)
        return real_run(mode, text)

    monkeypatch.setattr(translator, "_run", counting_run)
    texts = [f"The house number {n} is red." for n in range(25)]
    out = translator.translate(texts, "en", "es")
    assert calls == ["eng-spa"]
    assert [str(n) in line for n, line in zip(range(25), out)] == [True] * 25


def test_a_batch_that_comes_back_misaligned_is_redone_line_by_line(translator, monkeypatch):
    real_run = translator._run
    batches = []

    def lossy_run(mode, text):
        pieces = real_run(mode, text)
        if "\n\n" in text:  # the batched call: pretend two paragraphs merged
            batches.append(text)
            return pieces[:-1]
        return pieces

    monkeypatch.setattr(translator, "_run", lossy_run)
    out = translator.translate(SENTENCES, "en", "es")
    assert len(batches) == 1
    assert [word in line.lower() for word, line in zip(EXPECTED["es"], out)] == [True, True, True]


@pytest.mark.parametrize("target", ["de", "en"])
def test_unsupported_pair_is_refused_with_the_supported_list(translator, target):
    if target in translator.supported_targets("en"):
        pytest.skip(f"en→{target} is installed here")
    with pytest.raises(UnsupportedLanguageError) as info:
        translator.check_pair("en", target)
    message = str(info.value)
    assert f"en→{target}" in message
    assert "supported targets from en: " + ", ".join(translator.supported_targets("en")) in message
    with pytest.raises(UnsupportedLanguageError):
        translator.translate(["Hello."], "en", target)


def test_missing_binary_says_what_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(BackendUnavailableError, match="apt-get install apertium apertium-eng-spa"):
        ApertiumTranslator()


def test_unknown_backend_is_refused():
    with pytest.raises(BackendUnavailableError, match="unknown translation backend"):
        load_translator("babelfish")
