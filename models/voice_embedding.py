"""Speaker embeddings with resemblyzer's VoiceEncoder (weights ship inside the package)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

EMBEDDING_SAMPLE_RATE = 16000


@lru_cache(maxsize=1)
def voice_encoder():
    """The process-wide resemblyzer encoder on the CPU (loaded once, reused by every stage)."""
    from resemblyzer import VoiceEncoder

    return VoiceEncoder(device="cpu", verbose=False)


def embed(samples_16k: np.ndarray) -> np.ndarray:
    """L2-normalised 256-d embedding of one utterance (16 kHz mono float)."""
    return voice_encoder().embed_utterance(samples_16k.astype(np.float32))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
