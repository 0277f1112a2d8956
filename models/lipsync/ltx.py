"""Studio lip-sync backend: LTX-2.3 (22B) with the LipDub / DubIt IC-LoRA, through diffusers + peft.

Mode ``"frozen-audio"`` (default): the dubbed line is encoded with the LTX audio VAE and
held fixed (``freeze_audio=True``) while the video is denoised with the source face crops
as the IC-LoRA in-context reference (``LTX2DFRPipeline``); the prompt carries the line's
text. Mode ``"native"``: the model voices the line itself from the prompt and the
reference (``LTX2InContextPipeline`` + ``LTX2ReferenceCondition``); ``sync_native`` returns
its audio too so the caller can replace the TTS line.

Crops are resized to the model's square resolution, padded to ``8k+1`` frames (the
VAE's temporal grid), generated, and resized back; the shared compositor chunks lines to
``frame_limit`` frames and blends only the mouth region back into the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from models.lipsync import LipSyncClip
from models.lipsync.ltx_media import crops_to_video, encode_audio, encode_video, fit_length, padded_frame_count, resample, video_to_crops
from models.licences import licence_checks
from models.preflight import Check, gpu_check, hf_cache_check, package_check
from polydub.errors import BackendUnavailableError, InputError

STAGE = "lipsync"
DEFAULT_MODEL = "diffusers/LTX-2.3-Diffusers"
DEFAULT_LORA = "Lightricks/LTX-2.3-22b-IC-LoRA-LipDub"
DEFAULT_LORA_FILE = "ltx-2.3-22b-ic-lora-lipdub-0.9.safetensors"
DUBIT_LORA = "Lightricks/LTX-2.3-22b-IC-LoRA-DubIt"
MODES = ("frozen-audio", "native")
VRAM_GB = 48  # 22B transformer in bf16 ≈ 44 GB of weights, plus activations at 512² × 121 frames
DEFAULT_MAX_FRAMES = 121  # the pipelines' default clip length; the model's own limit is far longer
ADAPTER = "ic_lora"
VERSION = "ltx2-1"


def _prompt(clip: LipSyncClip) -> str:
    said = clip.text.strip()
    if not said:
        return "A close-up of a person talking."
    return f'A close-up of a person talking. They say: "{said}"'


def _lora_metadata(source: str, weight_name: Optional[str]) -> dict[str, str]:
    """The safetensors metadata of a local or already-cached LoRA file ({} if not found).

    IC-LoRAs trained on downscaled references store ``reference_downscale_factor`` there.
    """
    path: Optional[Path] = Path(source) / weight_name if weight_name and Path(source).is_dir() else None
    if path is None and weight_name:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(source, weight_name)
        path = Path(hit) if isinstance(hit, str) else None
    if path is None or not path.is_file():
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


@dataclass
class LtxOutput:
    """What one generation produced: crops, the audio latents the video followed, and (native) its audio."""

    crops: list[np.ndarray]
    audio_latents: Any  # torch.Tensor (1, C, L, M), raw (not normalised)
    audio: Optional[np.ndarray] = None  # mono float32 at the clip's rate (native mode only)


class LtxLipSync:
    """LTX-2 IC-LoRA lip sync of face crops (see the module docstring for the two modes)."""

    name = "ltx"

    def __init__(self, pipe: Any, *, mode: str = "frozen-audio", resolution: int = 512, steps: Optional[int] = None,
                 guidance: float = 3.0, seed: int = 0, max_frames: int = DEFAULT_MAX_FRAMES,
                 overlap: int = 8, label: str = "", reference_downscale_factor: int = 1):
        if mode not in MODES:
            raise InputError(f"unknown LTX lip-sync mode '{mode}' (available: {', '.join(MODES)})")
        self.pipe, self.mode, self.steps, self.guidance, self.seed = pipe, mode, steps, float(guidance), int(seed)
        self.temporal = int(pipe.vae_temporal_compression_ratio)
        grid = max(32, int(pipe.vae_spatial_compression_ratio) * int(pipe.transformer_spatial_patch_size))
        if resolution % grid:
            raise InputError(f"LTX resolution {resolution} is not a multiple of {grid}")
        self.resolution = int(resolution)
        self.reference_downscale_factor = int(reference_downscale_factor)
        if self.reference_downscale_factor < 1 or (resolution // self.reference_downscale_factor) % int(pipe.vae_spatial_compression_ratio):
            raise InputError(f"reference downscale factor {reference_downscale_factor} does not fit resolution {resolution}")
        self.frame_limit = self.max_supported_frames(max_frames)
        self.overlap = min(int(overlap), self.frame_limit - 1)
        self.version = f"{VERSION}-{mode}-{label}-r{self.resolution}-s{steps or 'distilled'}-g{guidance:g}-seed{seed}"
        self._in_context: Any = None

    def max_supported_frames(self, wanted: int, fps: float = 25.0) -> int:
        """Largest ``8k+1`` frame count ≤ ``wanted`` and within the transformer's positional range at ``fps``."""
        seconds = float(getattr(self.pipe.transformer.config, "pos_embed_max_pos", 20))
        limit = min(int(wanted), int(seconds * fps))
        steps = max(1, (limit - 1) // self.temporal)
        return steps * self.temporal + 1

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, model: str = DEFAULT_MODEL, lora: Optional[str] = DEFAULT_LORA, *,
                        lora_weight_name: Optional[str] = None, lora_scale: float = 1.0, device: Optional[str] = None,
                        dtype: Any = None, cpu_offload: bool = False, vae_tiling: bool = False,
                        **options: Any) -> "LtxLipSync":
        """Load the LTX-2 pipeline (hub id or local folder) and the IC-LoRA (hub id, folder or .safetensors file).

        ``device`` defaults to CUDA when available; ``dtype`` to bf16 on CUDA and float32 on
        CPU. ``cpu_offload`` keeps only the running component on the GPU; ``vae_tiling``
        decodes the video in tiles. ``options`` go to the constructor (mode, resolution,
        steps, guidance, seed, max_frames, overlap, reference_downscale_factor — read from
        the LoRA file's metadata when it has one).
        """
        try:
            import torch
            from diffusers import LTX2DFRPipeline
            import peft  # noqa: F401  (load_lora_weights needs the peft backend)
        except ImportError as exc:
            raise BackendUnavailableError(f"LTX lip sync needs diffusers and peft ({exc}): pip install 'diffusers>=0.42' peft torchaudio") from exc
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or (torch.bfloat16 if str(device).startswith("cuda") else torch.float32)
        try:
            pipe = LTX2DFRPipeline.from_pretrained(model, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(
                f"cannot load the LTX-2 model '{model}': {exc}. Download it first: huggingface-cli download {model}") from exc
        label = Path(str(model)).name
        if lora is not None:
            source, weight_name = str(lora), lora_weight_name
            if Path(source).is_file():
                source, weight_name = str(Path(source).parent), Path(source).name
            elif source == DEFAULT_LORA and weight_name is None:
                weight_name = DEFAULT_LORA_FILE
            try:
                pipe.load_lora_weights(source, adapter_name=ADAPTER, weight_name=weight_name)
            except (OSError, ValueError) as exc:
                raise BackendUnavailableError(
                    f"cannot load the IC-LoRA '{lora}': {exc}. Accept its terms at https://huggingface.co/{lora} "
                    f"(gated), set HF_TOKEN, then: huggingface-cli download {lora}") from exc
            pipe.set_adapters([ADAPTER], [float(lora_scale)])
            label += f"+{Path(str(weight_name or lora)).stem}@{lora_scale:g}"
            factor = _lora_metadata(source, weight_name).get("reference_downscale_factor")
            if factor and "reference_downscale_factor" not in options:
                options["reference_downscale_factor"] = int(float(factor))
        if vae_tiling:
            pipe.vae.enable_tiling()
        if cpu_offload and str(device).startswith("cuda"):
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return cls(pipe, label=label, **options)

    # ------------------------------------------------------------------ generation
    @property
    def device(self) -> Any:
        return self.pipe._execution_device

    def audio_latent_length(self, frames: int, fps: float) -> int:
        """Audio latent steps covering ``frames`` video frames at ``fps`` (as the pipeline computes it)."""
        pipe = self.pipe
        per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
        return max(1, round(frames / fps * per_second))

    def encode_audio(self, samples: np.ndarray, sample_rate: int, frames: int, fps: float) -> Any:
        """Raw audio latents of ``samples`` covering ``frames`` video frames (padded with silence)."""
        return encode_audio(self.pipe.audio_vae, samples, sample_rate, self.audio_latent_length(frames, fps), self.device)

    def _canvas(self, frames: int) -> int:
        from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas

        return resolve_canvas(frames, self.temporal)[0]

    def _generator(self) -> Any:
        import torch

        device = self.device
        return torch.Generator(device=device if str(device).startswith("cuda") else "cpu").manual_seed(self.seed)

    def _sigmas(self) -> list[float]:
        from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

        if self.steps is None:
            return list(DISTILLED_SIGMA_VALUES)
        return [float(s) for s in np.linspace(1.0, 0.0, int(self.steps) + 1)[:-1]]

    def generate(self, clip: LipSyncClip) -> LtxOutput:
        """Run the model on one clip in this backend's mode."""
        if not clip.crops:
            return LtxOutput(crops=[], audio_latents=None)
        frames = padded_frame_count(len(clip.crops), self.temporal)
        video = crops_to_video(clip.crops, self.resolution, frames)
        if self.mode == "native":
            return self._generate_native(clip, video, frames)
        return self._generate_frozen(clip, video, frames)

    def _generate_frozen(self, clip: LipSyncClip, video: np.ndarray, frames: int) -> LtxOutput:
        import torch
        from diffusers.pipelines.ltx2.utils import trim_canvas

        pipe = self.pipe
        audio = fit_length(clip.audio, int(round(len(clip.crops) * clip.sample_rate / clip.fps)))
        audio_latents = self.encode_audio(audio, clip.sample_rate, self._canvas(frames), clip.fps)
        if self.reference_downscale_factor > 1:  # the IC-LoRA was trained on references at a lower resolution
            video = crops_to_video(clip.crops, self.resolution // self.reference_downscale_factor, frames)
        pixels = torch.from_numpy(video).permute(3, 0, 1, 2).unsqueeze(0) * 2.0 - 1.0  # (1, 3, F, H, W)
        reference = encode_video(pipe.vae, pixels, self.device)
        with torch.no_grad():
            out = pipe(
                prompt=_prompt(clip), height=self.resolution, width=self.resolution, num_frames=frames,
                frame_rate=float(clip.fps), audio_latents=audio_latents, freeze_audio=True,
                reference_latents=reference, reference_downscale_factor=self.reference_downscale_factor,
                generate_slots=False, sigmas=self._sigmas(), generator=self._generator(), output_type="latent",
                return_dict=True,
            )
            latents = trim_canvas(out.frames, frames, self.temporal)
            timestep = None
            if pipe.vae.config.timestep_conditioning:
                timestep = torch.zeros(latents.shape[0], device=self.device, dtype=pipe.vae.dtype)
            decoded = pipe.vae.decode(latents.to(device=self.device, dtype=pipe.vae.dtype), timestep, return_dict=False)[0]
            result = pipe.video_processor.postprocess_video(decoded.float(), output_type="np")[0]
        crops = video_to_crops(result, len(clip.crops), clip.crops[0].shape)
        return LtxOutput(crops=crops, audio_latents=out.audio.float().cpu())

    def in_context_pipeline(self) -> Any:
        """``LTX2InContextPipeline`` sharing this backend's loaded components (and LoRA)."""
        if self._in_context is None:
            from diffusers import LTX2InContextPipeline

            names = ("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "transformer", "vocoder")
            self._in_context = LTX2InContextPipeline(**{name: getattr(self.pipe, name) for name in names})
            self._in_context.set_progress_bar_config(disable=True)
        return self._in_context

    def _generate_native(self, clip: LipSyncClip, video: np.ndarray, frames: int) -> LtxOutput:
        import torch
        from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

        pipe = self.in_context_pipeline()
        reference = LTX2ReferenceCondition(frames=torch.from_numpy(video).permute(0, 3, 1, 2), strength=1.0)
        with torch.no_grad():
            out = pipe(
                prompt=_prompt(clip), reference_conditions=[reference],
                reference_downscale_factor=self.reference_downscale_factor, height=self.resolution,
                width=self.resolution, num_frames=frames, frame_rate=float(clip.fps),
                num_inference_steps=int(self.steps or 30), guidance_scale=self.guidance,
                audio_guidance_scale=self.guidance, stg_scale=0.0, audio_stg_scale=0.0, modality_scale=1.0,
                audio_modality_scale=1.0, generator=self._generator(), output_type="np", return_dict=True,
            )
        crops = video_to_crops(out.frames[0], len(clip.crops), clip.crops[0].shape)
        wave = out.audio[0].float().cpu().numpy()
        wave = wave.mean(axis=0) if wave.ndim == 2 else wave
        rate = int(pipe.vocoder.config.output_sampling_rate)
        samples = int(round(len(clip.crops) * clip.sample_rate / clip.fps))
        audio = fit_length(resample(wave, rate, clip.sample_rate), samples)
        return LtxOutput(crops=crops, audio_latents=None, audio=audio)

    @property
    def voices_lines(self) -> bool:
        """Native mode voices each line itself: the compositor calls ``sync_native`` and keeps the audio."""
        return self.mode == "native"

    def sync(self, clip: LipSyncClip) -> list[np.ndarray]:
        """New crops, one per input crop, same shape and dtype (LipSyncBackend)."""
        return self.generate(clip).crops

    def sync_native(self, clip: LipSyncClip) -> tuple[list[np.ndarray], np.ndarray]:
        """Native mode: new crops and the model's own voicing of the line (mono, ``clip.sample_rate``)."""
        if self.mode != "native":
            raise ValueError("sync_native needs an LTX backend loaded with mode='native'")
        out = self.generate(clip)
        return out.crops, (out.audio if out.audio is not None else np.zeros(0, np.float32))


def check(model: Optional[str] = None, lora: Optional[str] = DEFAULT_LORA) -> list[Check]:
    """What ``polydub doctor`` reports for LTX lip sync: packages, weights, GPU, licence."""
    checks = [
        package_check(STAGE, "diffusers", "diffusers>=0.42"),
        package_check(STAGE, "peft", "peft"),
        package_check(STAGE, "torchaudio", "torchaudio"),
        package_check(STAGE, "accelerate", "accelerate"),
        hf_cache_check(STAGE, model or DEFAULT_MODEL, filename=None if model and Path(model).is_dir() else "model_index.json"),
    ]
    if lora is not None:
        filename = DEFAULT_LORA_FILE if lora == DEFAULT_LORA else None
        checks.append(hf_cache_check(STAGE, lora, token_env="HF_TOKEN", filename=filename))
    gpu = gpu_check(STAGE, VRAM_GB)
    note = f"; LTX-2.3 22B in bf16 needs ~{VRAM_GB} GB (less with cpu_offload=True, slower)"
    checks.append(Check(gpu.stage, gpu.item, gpu.ok, gpu.detail + note, gpu.fix))
    checks.extend(licence_checks(STAGE, "ltx", {"model": model, "lora": lora or "none"}))
    return checks
