"""A tiny random NLLB (M2M100 architecture) with a character-level tokenizer, for the GPU smoke bench."""

from __future__ import annotations

import string
from pathlib import Path


def build_tiny_nllb(folder: Path) -> Path:
    """Save a 1-layer random NLLB model and its tokenizer into ``folder`` (``from_pretrained``-loadable)."""
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    folder = Path(folder)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    for ch in string.ascii_letters + string.digits + ".,ñá":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("▁" + ch, len(vocab))
    tokenizer = NllbTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(0)
    config = M2M100Config(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )
    M2M100ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def smoke(workdir: Path, device: str) -> dict[str, float | str]:
    """GPU smoke stage: batched n-best translation en→es with the tiny NLLB on ``device``."""
    from models.translate.seq2seq import Seq2SeqTranslator

    model = build_tiny_nllb(Path(workdir) / "nllb")
    translator = Seq2SeqTranslator(family="nllb", model=str(model), device=device, max_new_tokens=12)
    texts = ["Hello there.", "We go to the beach tomorrow.", "", "Thanks."]
    out = translator.translate(texts, "en", "es", budgets=[1.0, 2.0, None, 0.5])
    if len(out) != len(texts) or out[2] != "":
        raise AssertionError(f"unexpected translations: {out}")
    return {"lines": str(len(texts))}
