"""A tiny random LTX-2 pipeline folder and IC-LoRA for tests and the GPU smoke bench.

Shapes follow diffusers' own LTX-2 fast tests, except the audio VAE, which uses
``ch_mult=(1, 2, 4)`` so that a real waveform encodes to latents of the length the
pipeline expects (4x time and mel compression), and the Gemma3 text encoder, which is
built from a config (its hidden size equals the connectors' heads x head size).
"""

from __future__ import annotations

from pathlib import Path

LORA_FILE = "tiny_ic_lora.safetensors"
TEXT_HIDDEN = 32  # = connector heads (4) x head dim (8)
VOCAB_WORDS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + [" ", "."]


def _tokenizer():
    """A character-level Gemma tokenizer with a tiny vocabulary."""
    from transformers import GemmaTokenizer

    vocab = {word: index for index, word in enumerate(VOCAB_WORDS)}
    tokenizer = GemmaTokenizer(vocab=vocab, merges=[])
    tokenizer.model_max_length = 64
    return tokenizer


def _text_encoder():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    text = Gemma3TextConfig(
        vocab_size=len(VOCAB_WORDS), hidden_size=TEXT_HIDDEN, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
        sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2,
    )
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=16, patch_size=8)
    config = Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4,
                          image_token_index=len(VOCAB_WORDS) - 1)
    return Gemma3ForConditionalGeneration(config).eval()


def build_tiny_ltx(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random ``LTX2DFRPipeline`` into ``folder`` (loadable with ``from_pretrained``)."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2DFRPipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(seed)
    text_encoder = _text_encoder()
    layers = text_encoder.config.text_config.num_hidden_layers
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=TEXT_HIDDEN, rope_double_precision=False, rope_type="split", vae_scale_factors=(2, 2, 2),
    )
    connectors = LTX2TextConnectors(
        caption_channels=TEXT_HIDDEN, text_proj_in_factor=layers + 1, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split",
    )
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )
    vocoder = LTX2Vocoder(
        in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    )
    pipe = LTX2DFRPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=text_encoder,
        tokenizer=_tokenizer(), connectors=connectors, transformer=transformer, vocoder=vocoder,
    )
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


def build_tiny_lora(folder: Path, model: Path, rank: int = 4, seed: int = 1) -> Path:
    """Save a random peft LoRA for the tiny transformer in ``model`` as ``folder/LORA_FILE``."""
    import torch
    from diffusers import LTX2DFRPipeline, LTX2VideoTransformer3DModel
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    transformer = LTX2VideoTransformer3DModel.from_pretrained(Path(model) / "transformer")
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                        init_lora_weights=False)
    transformer.add_adapter(config)
    with torch.no_grad():  # large enough that the adapter visibly changes the output
        for name, param in transformer.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    folder = Path(folder)
    LTX2DFRPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(transformer),
                                      weight_name=LORA_FILE)
    return folder / LORA_FILE


def smoke(workdir: Path, device: str) -> dict[str, float | str]:
    """GPU smoke stage: tiny LTX lip sync (frozen audio, then native) on ``device``; checks the frozen latents.

    Returns figures to print. Used by ``bench/gpu_smoke.py``.
    """
    import numpy as np

    from models.lipsync import LipSyncClip
    from models.lipsync.ltx import LtxLipSync
    from models.lipsync.ltx_media import padded_frame_count

    model = build_tiny_ltx(Path(workdir) / "ltx")
    lora = build_tiny_lora(Path(workdir) / "ltx_lora", model)
    backend = LtxLipSync.from_pretrained(str(model), lora=str(lora), device=device, resolution=64, max_frames=17, steps=4)
    frames, fps, rate = 17, 25.0, 16000
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (96, 96, 3), dtype=np.uint8) for _ in range(frames)]
    t = np.arange(int(frames / fps * rate)) / rate
    audio = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    clip = LipSyncClip(identity="face_0", first_frame=0, crops=crops, landmarks=np.zeros((frames, 68, 2)),
                       reference=crops[0], reference_landmarks=np.zeros((68, 2)), audio=audio, sample_rate=rate,
                       fps=fps, text="hello there")
    out = backend.generate(clip)
    given = backend.encode_audio(audio, rate, backend._canvas(padded_frame_count(frames, backend.temporal)), fps).cpu()
    frozen_error = float((out.audio_latents - given).abs().max())
    if frozen_error > 1e-2:
        raise AssertionError(f"frozen audio latents changed on {device}: max error {frozen_error}")
    native = LtxLipSync(backend.pipe, mode="native", resolution=64, max_frames=17, steps=2, guidance=1.0)
    crops_native, voice = native.sync_native(clip)
    if len(crops_native) != frames or len(voice) != len(audio):
        raise AssertionError("native mode returned the wrong number of frames or samples")
    figures: dict[str, float | str] = {"dtype": str(backend.pipe.transformer.dtype), "frozen_latent_max_error": frozen_error}
    if device == "cuda":  # the memory options: model CPU offload and VAE tiling
        import time

        del backend, native
        offloaded = LtxLipSync.from_pretrained(str(model), lora=str(lora), device=device, cpu_offload=True,
                                               vae_tiling=True, resolution=64, max_frames=17, steps=4)
        started = time.perf_counter()
        if len(offloaded.sync(clip)) != frames:
            raise AssertionError("offloaded run returned the wrong number of frames")
        figures["offload_seconds"] = time.perf_counter() - started
    return figures
