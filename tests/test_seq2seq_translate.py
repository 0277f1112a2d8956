"""transformers seq2seq translation: tiny random NLLB / Marian models built here, loaded via from_pretrained."""

from __future__ import annotations

import json
import string

import pytest

pytest.importorskip("transformers")
sentencepiece = pytest.importorskip("sentencepiece")

from models.translate import Translator, load_translator  # noqa: E402
from models.translate.codes import family_languages, madlad_prefix, marian_model_id, nllb_code, nllb_table  # noqa: E402
from models.translate.length import Candidate, count_syllables, estimate_speech_seconds, pick_by_budget  # noqa: E402
from models.translate.seq2seq import Seq2SeqTranslator, check  # noqa: E402
from polydub.errors import BackendUnavailableError, UnsupportedLanguageError  # noqa: E402

SENTENCES = [
    "The house is red.",
    "I like the black cat.",
    "We are going to the beach tomorrow.",
    "Good morning everyone, let us begin the weekly meeting.",
    "El gato negro duerme en la casa.",
    "Mañana vamos a la playa con los niños.",
]


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory):
    """A random 1-layer NLLB (M2M100 architecture) with a character-level NllbTokenizer."""
    from models.testing.tiny_nllb import build_tiny_nllb

    return build_tiny_nllb(tmp_path_factory.mktemp("nllb"))


def _spm(folder, sentences, vocab_size=40):
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 4), model_prefix=str(folder / "spm"), vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, minloglevel=2, pad_id=-1, bos_id=-1, eos_id=1, unk_id=0,
    )
    return folder / "spm.model"


@pytest.fixture(scope="module")
def tiny_marian_template(tmp_path_factory):
    """``<root>/opus-mt-{src}-{tgt}`` with a random Marian en→es model and a trained sentencepiece tokenizer."""
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    root = tmp_path_factory.mktemp("marian")
    folder = root / "opus-mt-en-es"
    folder.mkdir()
    spm = _spm(root, SENTENCES)
    processor = sentencepiece.SentencePieceProcessor(model_file=str(spm))
    pieces = ["</s>", "<unk>", "<pad>"] + [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    vocab = {}
    for piece in pieces:
        vocab.setdefault(piece, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(spm.read_bytes())
    tokenizer = MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"))
    torch.manual_seed(1)
    config = MarianConfig(
        vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"], decoder_start_token_id=vocab["<pad>"],
    )
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(root / "opus-mt-{src}-{tgt}")


def test_iso_codes_map_to_each_familys_codes():
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert nllb_code("es", FAIRSEQ_LANGUAGE_CODES) == "spa_Latn"
    assert nllb_code("ar", FAIRSEQ_LANGUAGE_CODES) == "arb_Arab"  # macrolanguage folded to the standard variety
    assert nllb_code("fa", FAIRSEQ_LANGUAGE_CODES) == "pes_Arab"
    assert nllb_code("zh", FAIRSEQ_LANGUAGE_CODES) == "zho_Hans"  # the usual script wins
    assert nllb_code("zh-Hant", FAIRSEQ_LANGUAGE_CODES) == "zho_Hant"
    assert nllb_code("SPA", FAIRSEQ_LANGUAGE_CODES) == "spa_Latn"  # user codes are normalized first
    with pytest.raises(UnsupportedLanguageError):
        nllb_code("tlh", FAIRSEQ_LANGUAGE_CODES)
    assert madlad_prefix("es") == "<2es>"
    assert family_languages("madlad", ["<2es>", "<2de>", "hello"]) == {"es": "<2es>", "de": "<2de>"}
    assert family_languages("m2m100", ["__es__", "__fr__", "x"]) == {"es": "__es__", "fr": "__fr__"}
    assert family_languages("marian", [">>spa<<", ">>por<<"]) == {"es": ">>spa<<", "pt": ">>por<<"}
    assert marian_model_id("en", "ES") == "Helsinki-NLP/opus-mt-en-es"
    table = nllb_table(FAIRSEQ_LANGUAGE_CODES)
    assert len({k for k in table if "-" not in k}) > 150


def test_speech_estimate_grows_with_syllables_and_knows_language_rates():
    assert count_syllables("banana") == 3
    assert count_syllables("canción") == 2
    assert count_syllables("我喜欢猫") == 4
    short = estimate_speech_seconds("Hola.", "es")
    long = estimate_speech_seconds("Mañana vamos a la playa con los niños, si hace buen tiempo.", "es")
    assert 0 < short < long
    # Spanish is spoken with more syllables per second than English
    assert estimate_speech_seconds("banana banana", "es") < estimate_speech_seconds("banana banana", "en")
    assert estimate_speech_seconds("a, b", "en") > estimate_speech_seconds("a b", "en")  # a comma adds a pause
    assert estimate_speech_seconds("  ", "en") == 0.0


def test_pick_by_budget_takes_the_closest_candidate_within_the_score_margin():
    cands = [Candidate("Hola.", -0.2), Candidate("Hola a todos.", -0.4), Candidate("Hola a todos los amigos de la casa.", -0.5)]
    lengths = [estimate_speech_seconds(c.text, "es") for c in cands]
    assert lengths == sorted(lengths)
    assert pick_by_budget(cands, None, "es") == 0  # no budget: the best score
    assert pick_by_budget(cands, lengths[1] + 0.01, "es") == 1
    assert pick_by_budget(cands, 60.0, "es") == 2
    assert pick_by_budget(cands, 0.01, "es") == 0
    assert pick_by_budget(cands, 60.0, "es", score_margin=0.25) == 1  # the long one scores too low to compete
    assert pick_by_budget([Candidate("", 0.0), Candidate("Sí.", -0.1)], 0.01, "es") == 1  # never an empty line


def test_nllb_loads_from_a_folder_and_translates_in_batches(tiny_nllb):
    translator = load_translator("seq2seq", family="nllb", model=str(tiny_nllb), batch_size=4, num_candidates=3, max_new_tokens=12)
    assert isinstance(translator, Translator) and isinstance(translator, Seq2SeqTranslator)
    assert translator.device == "cpu" and str(translator.dtype) == "torch.float32"
    assert translator.version.startswith(f"seq2seq-nllb/{tiny_nllb.name}@")
    assert {"es", "fr", "de", "zh", "ar"} <= set(translator.supported_targets("en"))
    translator.check_pair("en", "es")
    with pytest.raises(UnsupportedLanguageError):
        translator.check_pair("en", "en")
    with pytest.raises(UnsupportedLanguageError):
        translator.check_pair("en", "tlh")
    texts = SENTENCES[:5] + ["", "   "]
    out = translator.translate(texts, "en", "es")
    assert len(out) == len(texts) and out[5:] == ["", ""]
    # batching does not change a line's result: one at a time gives the same text
    single = [translator.translate([t], "en", "es")[0] for t in SENTENCES[:5]]
    assert single == out[:5]
    # the target code is forced as the first generated token: another target, other output
    assert translator.translate(SENTENCES[:5], "en", "fr") != out[:5]


def test_nllb_nbest_choice_follows_the_duration_budget(tiny_nllb):
    translator = Seq2SeqTranslator("nllb", model=str(tiny_nllb), num_candidates=4, max_new_tokens=12, score_margin=None)
    texts = SENTENCES[:3]
    nbest = translator.candidates(texts, "en", "es")
    assert all(len(c) == 4 for c in nbest)
    assert all(c[0].score >= c[-1].score for c in nbest)  # best first
    shortest = [min(c, key=lambda x: estimate_speech_seconds(x.text, "es")).text for c in nbest]
    longest = [max(c, key=lambda x: estimate_speech_seconds(x.text, "es")).text for c in nbest]
    assert translator.translate(texts, "en", "es", budgets=[0.01] * 3) == shortest
    assert translator.translate(texts, "en", "es", budgets=[600.0] * 3) == longest
    assert shortest != longest  # the n-best lists do differ in length, so the budget decided
    with pytest.raises(ValueError):
        translator.translate(texts, "en", "es", budgets=[1.0])


def test_marian_loads_the_pair_model_from_a_template(tiny_marian_template):
    translator = Seq2SeqTranslator("marian", model=tiny_marian_template, num_candidates=2, max_new_tokens=10)
    translator.check_pair("en", "es")
    assert translator.supported_targets("en") == ["es"]
    out = translator.translate(SENTENCES[:3] + [""], "en", "es", budgets=[1.0, 2.0, 3.0, None])
    assert len(out) == 4 and out[3] == ""
    assert translator.candidates(SENTENCES[:1], "en", "es")[0][0].text == translator.translate(SENTENCES[:1], "en", "es")[0]
    with pytest.raises(UnsupportedLanguageError, match="no Marian model for en→de"):
        translator.check_pair("en", "de")


def test_missing_weights_and_unknown_family_fail_with_a_clear_message(tmp_path):
    with pytest.raises(BackendUnavailableError, match="huggingface-cli download"):
        Seq2SeqTranslator("nllb", model=str(tmp_path / "absent"))
    with pytest.raises(BackendUnavailableError, match="unknown seq2seq family"):
        Seq2SeqTranslator("gpt")


def test_check_reports_package_weights_and_licence(tiny_nllb):
    checks = check()
    items = {c.item: c for c in checks}
    assert items["package transformers"].ok
    weights = items["weights facebook/nllb-200-distilled-600M"]
    assert not weights.ok and "huggingface-cli download facebook/nllb-200-distilled-600M" in weights.fix
    licence = next(c for c in checks if c.item.startswith("licence"))
    assert "CC-BY-NC" in licence.item and not licence.ok
    assert all(c.stage == "translate" for c in checks)
    local = {c.item: c for c in check(model=str(tiny_nllb))}
    assert local[f"weights {tiny_nllb}"].ok


def test_madlad_prefixes_the_target_token(tmp_path):
    """A tiny T5 with a MADLAD-style vocabulary: ``<2xx>`` pieces name the targets."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(f"<2{c}>", 0.0) for c in ("es", "fr", "de", "en")]
    pieces += [("▁", -1.0)] + [(c, -2.0) for c in string.ascii_letters + ".,"] + [("▁" + c, -2.5) for c in string.ascii_letters]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0)
    assert "<2es>" in tokenizer.tokenize("<2es> Hello")
    torch.manual_seed(2)
    config = T5Config(vocab_size=len(tokenizer), d_model=16, d_ff=32, d_kv=8, num_layers=1, num_decoder_layers=1, num_heads=2,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    translator = Seq2SeqTranslator("madlad", model=str(tmp_path), num_candidates=2, max_new_tokens=8)
    assert translator.supported_targets("en") == ["de", "es", "fr"]
    spanish, german = translator.candidates(SENTENCES[:2], "en", "es"), translator.candidates(SENTENCES[:2], "en", "de")
    assert len(spanish) == 2 and all(len(c) == 2 for c in spanish)
    assert spanish != german  # the <2xx> prefix reaches the model and changes its output
    with pytest.raises(UnsupportedLanguageError):
        translator.check_pair("en", "ja")


def test_m2m100_forces_the_target_language_token(tiny_marian_template, tmp_path):
    """A tiny M2M100 with an M2M100Tokenizer (``__es__`` tokens) on the sentencepiece model trained above."""
    import torch
    from pathlib import Path

    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    marian = Path(tiny_marian_template.format(src="en", tgt="es"))
    tokenizer = M2M100Tokenizer(vocab_file=str(marian / "vocab.json"), spm_file=str(marian / "source.spm"))
    assert tokenizer.get_lang_id("es") != tokenizer.get_lang_id("fr")
    torch.manual_seed(3)
    config = M2M100Config(
        vocab_size=max(tokenizer.lang_token_to_id.values()) + 1 + tokenizer.num_madeup_words, d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    M2M100ForConditionalGeneration(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    translator = Seq2SeqTranslator("m2m100", model=str(tmp_path), num_candidates=2, max_new_tokens=8)
    assert {"es", "fr", "de", "zh"} <= set(translator.supported_targets("en"))
    nbest = translator.candidates(SENTENCES[:2], "en", "es")
    assert all(len(c) == 2 for c in nbest)
    assert nbest != translator.candidates(SENTENCES[:2], "en", "fr")  # the forced first token differs
