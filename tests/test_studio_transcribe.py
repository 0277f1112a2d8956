"""Studio transcription: a tiny random multilingual Whisper converted to CTranslate2 here, loaded via load_transcriber."""

from __future__ import annotations

import copy
import json

import pytest

pytest.importorskip("ctranslate2")
pytest.importorskip("transformers")

from models.data import Transcript  # noqa: E402
from models.transcribe import lite_model_path, load_transcriber  # noqa: E402
from models.transcribe.faster_whisper import check  # noqa: E402
from polydub.errors import BackendUnavailableError, UnsupportedLanguageError  # noqa: E402
from tests.speech_material import MONOLOGUE_SCRIPT, conversation  # noqa: E402

EOT, SOT, FIRST_LANGUAGE = 50257, 50258, 50259
DETECTED = "de"  # the language the tiny model is built to detect


def multilingual_tokenizer_json() -> str:
    """Whisper's multilingual token layout, from the English tokenizer shipped with the lite model.

    The English vocabulary holds ``<|endoftext|>`` at 50256; the multilingual one holds the
    empty token there (CTranslate2 recognises a multilingual model by it) and every special
    token one id higher: <|endoftext|> 50257, <|startoftranscript|> 50258, <|en|> 50259, ...
    """
    english = json.loads((lite_model_path() / "tokenizer.json").read_text())
    tok = copy.deepcopy(english)
    vocab = tok["model"]["vocab"]
    vocab[""] = vocab.pop("<|endoftext|>")
    for added in tok["added_tokens"]:
        added["id"] += 1
    tok["post_processor"] = None
    return json.dumps(tok)


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A 1-layer random multilingual Whisper whose language detector always prefers German, in CTranslate2 format."""
    import ctranslate2
    import torch
    from tokenizers import Tokenizer
    from transformers import GenerationConfig, PreTrainedTokenizerFast, WhisperConfig, WhisperForConditionalGeneration

    root = tmp_path_factory.mktemp("whisper")
    hf, ct2 = root / "hf", root / "tiny-multilingual-ct2"
    tokenizer = Tokenizer.from_str(multilingual_tokenizer_json())
    assert (tokenizer.token_to_id("<|endoftext|>"), tokenizer.token_to_id("<|en|>")) == (EOT, FIRST_LANGUAGE)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                            pad_token="<|endoftext|>").save_pretrained(hf)
    languages = {t: i for t, i in tokenizer.get_vocab().items() if FIRST_LANGUAGE <= i < FIRST_LANGUAGE + 99}
    config = WhisperConfig(
        vocab_size=51865, d_model=16, encoder_layers=1, encoder_attention_heads=2, decoder_layers=1,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=80,
        pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT, decoder_start_token_id=SOT,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    with torch.no_grad():  # the decoder's last layer norm outputs one fixed direction u at every step,
        u = torch.nn.functional.normalize(torch.randn(16), dim=0)
        model.model.decoder.layer_norm.weight.zero_()
        model.model.decoder.layer_norm.bias.copy_(u)
        embed = model.model.decoder.embed_tokens.weight  # tied with the output projection
        embed.normal_(0.0, 0.02)
        embed[EOT] = 10 * u  # so text decoding ends at once,
        embed[tokenizer.token_to_id(f"<|{DETECTED}|>")] = 5 * u  # and German wins among the languages
    model.generation_config = GenerationConfig(
        decoder_start_token_id=SOT, eos_token_id=EOT, pad_token_id=EOT, bos_token_id=EOT, begin_suppress_tokens=[220, EOT],
        suppress_tokens=[], no_timestamps_token_id=tokenizer.token_to_id("<|notimestamps|>"), lang_to_id=languages,
        alignment_heads=[[0, 0], [0, 1]], is_multilingual=True,
    )
    model.save_pretrained(hf)
    ctranslate2.converters.TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(str(ct2), force=True)
    return ct2


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    wav, _, _ = conversation(tmp_path_factory.mktemp("speech"), MONOLOGUE_SCRIPT[:1])
    return wav


def test_a_multilingual_model_of_any_size_loads_from_its_folder(tiny_whisper):
    transcriber = load_transcriber(model=str(tiny_whisper))
    assert transcriber.compute_type == "int8"  # the CPU default
    # a v2-style vocabulary: 99 language tokens, no <|yue|> (large-v3's 100th); this tokenizer spells Hebrew <|iw|>
    assert {"en", "es", "de", "zh"} <= set(transcriber.languages) and "yue" not in transcriber.languages
    assert len(transcriber.languages) == 98
    assert f"/{tiny_whisper.name}@" in transcriber.version
    assert transcriber.options["vad_filter"] is True


def test_language_none_detects_the_source_language(tiny_whisper, speech):
    transcriber = load_transcriber(model=str(tiny_whisper))
    result = transcriber.transcribe(speech)
    assert isinstance(result, Transcript)
    assert result.language == DETECTED  # detected, not the English default
    assert result.model == transcriber.version


def test_a_given_language_is_used_and_an_unknown_one_refused(tiny_whisper, speech):
    transcriber = load_transcriber(model=str(tiny_whisper))
    assert transcriber.transcribe(speech, language="es").language == "es"
    for word in transcriber.transcribe(speech, language="SPA").words:
        assert 0 <= word.start <= word.end
    with pytest.raises(UnsupportedLanguageError):
        transcriber.transcribe(speech, language="tlh")


def test_gpu_default_is_large_v3_in_float16_and_fails_clearly_without_weights():
    with pytest.raises(BackendUnavailableError, match="'large-v3' on cuda"):
        load_transcriber(device="cuda")


def test_check_names_the_large_v3_repo_licence_and_gpu(tiny_whisper):
    items = {c.item: c for c in check()}
    weights = items["weights Systran/faster-whisper-large-v3"]
    assert not weights.ok and "huggingface-cli download Systran/faster-whisper-large-v3" in weights.fix
    assert items["package faster-whisper"].ok
    assert any(i.startswith("licence Whisper large-v3") for i in items)
    assert any(i.startswith("GPU") for i in items)
    assert "weights mobiuslabsgmbh/faster-whisper-large-v3-turbo" in {c.item for c in check("turbo")}
    assert {c.item: c for c in check(str(tiny_whisper))}[f"weights {tiny_whisper}"].ok
