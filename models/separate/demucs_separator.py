"""Demucs (Hybrid Transformer Demucs, ``htdemucs``) dialogue/background separation.

The ``vocals`` source is the dialogue stem; the background stem is the input minus the
dialogue, i.e. the other sources (drums, bass, other) plus whatever the model left
unassigned, so the two stems always sum back to the input exactly.

Memory is bounded: the 48 kHz input is read from disk in blocks of ``block_s`` seconds
that overlap by ``overlap_s``; each block is resampled to the model's rate (44.1 kHz),
separated by ``demucs.apply.apply_model`` (which itself runs the model on segments of a
few seconds with overlap-add), resampled back, cross-faded linearly with the previous
block in the overlap, and appended to the output WAVs. Only one block is ever in memory.
``shifts=0`` (no random time-shift averaging) keeps the result deterministic for caching.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
import soundfile as sf

from models.separate import Stems
from polydub.errors import BackendUnavailableError, InputError
from polydub.workdir import atomic_path

SAMPLE_RATE = 48000
DEFAULT_MODEL = "htdemucs"
HF_REPO = "adefossez/HTDemucs"  # where demucs.hf finds the default model's weights
DIALOGUE_SOURCE = "vocals"


def _import_torch():
    try:
        import torch
        import torchaudio  # noqa: F401
        from demucs.apply import apply_model  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"the Demucs separator needs {exc.name}: pip install demucs torch torchaudio") from exc
    return torch


def load_demucs(model: str = DEFAULT_MODEL, repo: Path | str | None = None):
    """A demucs model (bag of models) by name: from the local ``repo`` folder, else the Hugging Face hub.

    A local repo holds ``<name>.yaml`` (``models: [sig, ...]``) and one ``<sig>.th`` per
    model, as ``demucs.pretrained.get_model(name, repo)`` expects. ``model`` may also be such
    a folder holding one ``.yaml``: that model is loaded.
    """
    _import_torch()
    from demucs.pretrained import get_model

    if repo is None and Path(model).is_dir():
        bags = sorted(Path(model).glob("*.yaml"))
        if len(bags) != 1:
            raise BackendUnavailableError(f"{model} must hold exactly one Demucs <name>.yaml (found {len(bags)})")
        repo, model = Path(model), bags[0].stem

    try:
        if repo is not None:
            if not Path(repo).is_dir():
                raise FileNotFoundError(f"no such folder: {repo}")
            loaded = get_model(model, repo=Path(repo))
        else:
            from demucs.hf import get_hf_model

            loaded = get_hf_model(model)
    except SystemExit as exc:  # demucs calls sys.exit through ``fatal`` for some errors
        raise BackendUnavailableError(f"cannot load Demucs model '{model}' from {repo}: {exc}") from exc
    except Exception as exc:
        where = f"the folder {repo}" if repo is not None else f"the Hugging Face hub ({HF_REPO})"
        raise BackendUnavailableError(
            f"cannot load Demucs model '{model}' from {where}: {exc}. "
            f"Download it once with `python -c \"from demucs.pretrained import get_model; get_model('{model}')\"` "
            f"(or huggingface-cli download {HF_REPO}) or pass repo=<folder>."
        ) from exc
    loaded.eval()
    if DIALOGUE_SOURCE not in loaded.sources:
        raise BackendUnavailableError(f"Demucs model '{model}' has no '{DIALOGUE_SOURCE}' source (it has {loaded.sources})")
    return loaded


class DemucsSeparator:
    """Separator backed by a Demucs model."""

    name = "demucs"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        repo: Path | str | None = None,
        device: str | None = None,
        block_s: float = 60.0,
        overlap_s: float = 1.0,
        segment_s: float | None = None,
    ):
        torch = _import_torch()
        if not 0 < overlap_s < block_s:
            raise ValueError("need 0 < overlap_s < block_s")
        self.model_name = model
        self.model = load_demucs(model, repo)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.block_s, self.overlap_s, self.segment_s = block_s, overlap_s, segment_s
        files = sorted(p.name for p in Path(repo).glob("*.th")) if repo is not None else []
        tag = hashlib.sha256("|".join(files).encode()).hexdigest()[:12] if files else "hub"
        self.version = f"demucs{package_version('demucs')}/{model}@{tag}/block{block_s:g}-{overlap_s:g}"

    def dialogue(self, block: np.ndarray) -> np.ndarray:
        """The dialogue (vocals) of one (n, 2) 48 kHz block, as (n, 2) float32 at 48 kHz."""
        torch = _import_torch()
        import torchaudio.functional as AF
        from demucs.apply import apply_model

        rate = int(self.model.samplerate)
        mix = torch.from_numpy(np.ascontiguousarray(block.T))
        if rate != SAMPLE_RATE:
            mix = AF.resample(mix, SAMPLE_RATE, rate)
        scale = float(mix.std()) or 1.0  # demucs expects roughly unit-variance input
        with torch.inference_mode():
            out = apply_model(self.model, (mix / scale)[None], shifts=0, split=True, overlap=0.25, device=self.device, segment=self.segment_s)
        vocals = out[0, self.model.sources.index(DIALOGUE_SOURCE)].float().cpu() * scale
        if rate != SAMPLE_RATE:
            vocals = AF.resample(vocals, rate, SAMPLE_RATE)
        vocals = vocals.numpy().T
        if len(vocals) < len(block):
            vocals = np.pad(vocals, ((0, len(block) - len(vocals)), (0, 0)))
        return vocals[: len(block)].astype(np.float32)

    def separate(self, audio_48k: Path | str, out_dir: Path | str) -> Stems:
        """Write ``dialogue.wav`` and ``background.wav`` (48 kHz stereo float WAV) into ``out_dir``."""
        path = Path(audio_48k)
        if not path.is_file():
            raise InputError(f"audio file not found: {path}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        dialogue_path, background_path = out_dir / "dialogue.wav", out_dir / "background.wav"
        with sf.SoundFile(path) as source:
            if source.samplerate != SAMPLE_RATE:
                raise InputError(f"{path} is {source.samplerate} Hz; the separator expects the 48 kHz extract")
            frames = source.frames
            with atomic_path(dialogue_path) as tmp_d, atomic_path(background_path) as tmp_b:
                with sf.SoundFile(tmp_d, "w", SAMPLE_RATE, 2, subtype="FLOAT", format="WAV") as out_d, sf.SoundFile(
                    tmp_b, "w", SAMPLE_RATE, 2, subtype="FLOAT", format="WAV"
                ) as out_b:
                    self._run_blocks(source, frames, out_d, out_b)
        return Stems(
            dialogue=str(dialogue_path.resolve()),
            background=str(background_path.resolve()),
            sample_rate=SAMPLE_RATE,
            duration=frames / SAMPLE_RATE,
            model=self.version,
        )

    def _run_blocks(self, source: sf.SoundFile, frames: int, out_d: sf.SoundFile, out_b: sf.SoundFile) -> None:
        """Separate block by block, cross-fading consecutive blocks over the overlap."""
        block = int(self.block_s * SAMPLE_RATE)
        overlap = int(self.overlap_s * SAMPLE_RATE)
        start, tail = 0, None
        while start < frames:
            source.seek(start)
            mix = source.read(min(block, frames - start), dtype="float32", always_2d=True)
            if mix.shape[1] != 2:
                mix = np.repeat(mix.mean(axis=1, keepdims=True), 2, axis=1)
            voice = self.dialogue(mix)
            if tail is not None:
                k = min(len(tail), len(voice))
                fade = np.linspace(0.0, 1.0, k, dtype=np.float32)[:, None]
                voice[:k] = tail[:k] * (1.0 - fade) + voice[:k] * fade
            last = start + len(mix) >= frames
            keep = len(mix) if last else len(mix) - overlap
            out_d.write(voice[:keep])
            out_b.write(mix[:keep] - voice[:keep])
            if last:
                break
            tail = voice[keep:]
            start += keep


def check(model: str | None = None) -> list:
    """Preflight for ``polydub doctor``: packages, the model's weights, licence, GPU."""
    from models.licences import licence_checks
    from models.preflight import hf_cache_check, package_check

    stage = "separate"
    name = model or DEFAULT_MODEL
    checks = [package_check(stage, "demucs", "demucs"), package_check(stage, "torchaudio", "torchaudio")]
    if Path(name).is_dir():
        checks.append(hf_cache_check(stage, name))
    else:
        try:
            from demucs.hf import DEFAULT_NAMESPACE, hf_repo_name

            repo = f"{DEFAULT_NAMESPACE}/{hf_repo_name(name)}"
        except ImportError:
            repo = HF_REPO
        checks.append(hf_cache_check(stage, repo, filename=f"{name}.yaml"))
    checks.extend(licence_checks(stage, "demucs", {"model": name}))
    return checks  # runs on the CPU too (slower), so no GPU requirement
