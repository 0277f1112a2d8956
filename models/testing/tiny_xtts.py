"""A tiny random XTTS checkpoint folder (test and benchmark support; no hub access).

1 GPT layer of 32 channels with XTTS-v2's real HiFi-GAN decoder and speaker encoder
shapes, a character-level BPE vocabulary, saved as config.json + model.pth + vocab.json:
the layout ``models.synthesize.xtts`` loads for the real model.
"""

from __future__ import annotations

import string
from pathlib import Path

LANGUAGES = ["en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl", "cs", "ar", "zh-cn", "hu", "ko", "ja", "hi"]


def build_tiny_xtts(folder: Path) -> Path:
    """Write the tiny checkpoint into ``folder`` and return it."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from TTS.tts.configs.xtts_config import XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    special = ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{code}]" for code in LANGUAGES]
    vocab = {token: i for i, token in enumerate(special)}
    for ch in string.ascii_lowercase + "áéíóúñü.,!?'-":
        vocab.setdefault(ch, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(special)
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "vocab.json"))
    config = XttsConfig()
    args = config.model_args
    args.gpt_layers, args.gpt_n_model_channels, args.gpt_n_heads = 1, 32, 2
    args.gpt_num_audio_tokens, args.gpt_start_audio_token, args.gpt_stop_audio_token = 34, 32, 33
    args.gpt_max_audio_tokens, args.gpt_max_text_tokens, args.gpt_max_prompt_tokens = 60, 100, 20
    args.gpt_use_perceiver_resampler, args.decoder_input_dim = True, 32  # as in XTTS-v2, at toy width
    config.save_json(str(folder / "config.json"))
    torch.manual_seed(0)
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    return folder
