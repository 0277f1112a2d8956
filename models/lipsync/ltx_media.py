"""Conversions between polydub's media and LTX-2 latents: crops ↔ video, waveform → audio latents.

The log-mel front end follows LTX-2's own audio processor (Slaney mel, magnitude
spectrogram, ``log(clamp(mel, 1e-5))``, window = n_fft = 1024, hop from the audio VAE's
config); the result is laid out (batch, channels, time, mel) as the audio VAE expects.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

N_FFT = 1024


def padded_frame_count(frames: int, temporal_ratio: int) -> int:
    """The smallest ``k * temporal_ratio + 1`` ≥ ``frames`` (at least one latent step)."""
    steps = max(1, math.ceil((frames - 1) / temporal_ratio))
    return steps * temporal_ratio + 1


def crops_to_video(crops: list[np.ndarray], size: int, frames: int) -> np.ndarray:
    """Crops resized to ``size``², padded to ``frames`` by repeating the last: (frames, size, size, 3) in [0, 1]."""
    resized = [cv2.resize(np.ascontiguousarray(c), (size, size), interpolation=cv2.INTER_AREA) for c in crops]
    resized += [resized[-1]] * (frames - len(resized))
    return np.stack(resized).astype(np.float32) / 255.0


def video_to_crops(video: np.ndarray, count: int, shape: tuple[int, ...]) -> list[np.ndarray]:
    """The first ``count`` frames of a (F, H, W, 3) [0, 1] video as uint8 crops of ``shape``."""
    height, width = shape[:2]
    out = []
    for frame in np.asarray(video)[:count]:
        pixels = np.clip(np.round(frame * 255.0), 0, 255).astype(np.uint8)
        out.append(cv2.resize(pixels, (width, height), interpolation=cv2.INTER_CUBIC))
    return out


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` cut or zero-padded to ``length``."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        return samples[:length]
    return np.concatenate([samples, np.zeros(length - len(samples), np.float32)])


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Mono float32 ``samples`` resampled from ``source_rate`` to ``target_rate`` (torchaudio's sinc filter)."""
    samples = np.asarray(samples, dtype=np.float32)
    if source_rate == target_rate or len(samples) == 0:
        return samples.copy()
    import torchaudio.functional as F

    return F.resample(torch.from_numpy(samples), int(source_rate), int(target_rate)).numpy()


def log_mel(samples: np.ndarray, sample_rate: int, mel_bins: int, hop: int, channels: int) -> torch.Tensor:
    """Log-mel spectrogram of mono ``samples`` repeated over ``channels``: (1, channels, time, mel_bins)."""
    import torchaudio

    transform = torchaudio.transforms.MelSpectrogram(
        sample_rate=sample_rate, n_fft=N_FFT, win_length=N_FFT, hop_length=hop, f_min=0.0, f_max=sample_rate / 2.0,
        n_mels=mel_bins, window_fn=torch.hann_window, center=True, pad_mode="reflect", power=1.0,
        mel_scale="slaney", norm="slaney",
    )
    waveform = torch.from_numpy(np.asarray(samples, dtype=np.float32)).reshape(1, 1, -1).repeat(1, channels, 1)
    mel = torch.log(torch.clamp(transform(waveform), min=1e-5))  # (1, channels, mel_bins, time)
    return mel.permute(0, 1, 3, 2).contiguous()


@torch.no_grad()
def encode_audio(audio_vae: torch.nn.Module, samples: np.ndarray, sample_rate: int, latent_length: int,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Raw (not normalised) audio latents (1, C, latent_length, M) of mono ``samples`` through the LTX audio VAE.

    ``samples`` are resampled to the VAE's rate; the latents are cut or padded (with the
    latents of silence at the end) to ``latent_length`` steps.
    """
    config = audio_vae.config
    rate = int(config.sample_rate)
    wave = resample(samples, sample_rate, rate)
    needed = latent_length * int(audio_vae.temporal_compression_ratio) * int(config.mel_hop_length)
    wave = fit_length(wave, max(len(wave), needed))
    mel = log_mel(wave, rate, int(config.mel_bins), int(config.mel_hop_length), int(config.in_channels))
    latents = audio_vae.encode(mel.to(device=device, dtype=audio_vae.dtype)).latent_dist.mode()
    if latents.shape[2] < latent_length:  # cannot happen with the padding above; kept for odd VAE configs
        pad = latents[:, :, -1:].expand(-1, -1, latent_length - latents.shape[2], -1)
        latents = torch.cat([latents, pad], dim=2)
    return latents[:, :, :latent_length].float()


@torch.no_grad()
def encode_video(vae: torch.nn.Module, video: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Raw (not normalised) latents of a (1, 3, F, H, W) video in [-1, 1] through the LTX video VAE (posterior mode)."""
    return vae.encode(video.to(device=device, dtype=vae.dtype)).latent_dist.mode().float()
