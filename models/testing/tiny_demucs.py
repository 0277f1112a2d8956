"""A tiny random HTDemucs model repo for the GPU smoke bench (``bench/gpu_smoke.py``).

The repo layout is the one ``demucs`` reads with ``repo=``: ``<name>.yaml`` naming one
``<sig>.th`` checkpoint (class, init arguments, state dict).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def build_tiny_demucs(folder: Path, name: str = "tiny") -> Path:
    """Save a random 4-source HTDemucs as ``folder/<name>.yaml`` + ``tinysig.th``; returns ``folder``."""
    import torch
    from demucs.htdemucs import HTDemucs

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = HTDemucs(
        sources=["drums", "bass", "other", "vocals"], audio_channels=2, channels=4, depth=2, nfft=512,
        t_layers=1, t_heads=1, t_hidden_scale=1.0, samplerate=44100, segment=Fraction(1, 1),
        dconv_comp=2, multi_freqs=[], freq_emb=0.0,
    )
    args, kwargs = model._init_args_kwargs
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict()}, folder / "tinysig.th")
    (folder / f"{name}.yaml").write_text("models: ['tinysig']\n")
    return folder


def smoke(workdir: Path, device: str) -> dict[str, float | str]:
    """GPU smoke stage: separate 6 s of 48 kHz stereo with the tiny Demucs on ``device``; stems must sum to the mix."""
    import soundfile as sf

    from models.separate.demucs_separator import DemucsSeparator

    repo = build_tiny_demucs(Path(workdir) / "repo")
    separator = DemucsSeparator(model="tiny", repo=repo, device=device, block_s=2.0, overlap_s=0.25)
    t = np.arange(6 * 48000) / 48000
    mix = np.stack([0.3 * np.sin(2 * np.pi * 140 * t), 0.2 * np.sin(2 * np.pi * 110 * t)], axis=1).astype(np.float32)
    source = Path(workdir) / "mix.wav"
    sf.write(source, mix, 48000, subtype="FLOAT")
    stems = separator.separate(source, Path(workdir) / "stems")
    total = sf.read(stems.dialogue, dtype="float32")[0] + sf.read(stems.background, dtype="float32")[0]
    error = float(np.abs(total - mix).max())
    if error > 1e-3:
        raise AssertionError(f"stems do not sum back to the mix (max error {error})")
    return {"seconds_of_audio": 6.0, "sum_error": error}
