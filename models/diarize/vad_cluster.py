"""Lite diarization: silero-vad speech regions, resemblyzer window embeddings, clustering.

1. silero-vad finds the speech regions.
2. Speaker changes without a pause: inside a region, the embeddings of the windows
   just before and just after each point are compared; where they differ by more
   than ``change_threshold`` (a local peak, refined to 50 ms) the region is split.
3. Each segment is cut into overlapping windows (``window_s`` long, every ``hop_s``);
   resemblyzer embeds every window.
4. Agglomerative clustering (cosine distance, average linkage, ``threshold``) groups
   the windows; the number of clusters is the number of speakers found.
5. Every 10 ms frame of a segment is scored against each speaker's centroid (the
   mean similarity of the windows covering it) and takes the best; runs shorter
   than ``min_turn_s`` are absorbed by a neighbour, so one odd window makes no turn.
"""

from __future__ import annotations

from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
import torch

from models.audio import read_audio
from models.data import Diarization, SpeakerTurn
from models.vad import speech_regions
from models.voice_embedding import EMBEDDING_SAMPLE_RATE, voice_encoder
from polydub.errors import InputError

FRAME_S = 0.01  # resemblyzer's mel hop; also the resolution of the output turns
SAMPLES_PER_FRAME = int(EMBEDDING_SAMPLE_RATE * FRAME_S)
REFINE_STEP_FRAMES = 5
MAX_CLUSTER_POINTS = 3000  # windows clustered directly (about 40 minutes of speech)
_TARGET_DBFS = -30.0  # resemblyzer's training loudness (its mel is not logarithmic)

Span = tuple[int, int]  # [start, end) in frames of the whole recording



class _WindowEmbedder:
    """Embeds spans of speech regions with resemblyzer; computes each span once."""

    def __init__(self, samples: np.ndarray, regions: list[Span]):
        from resemblyzer.audio import wav_to_mel_spectrogram

        self.regions = regions
        self.mels = [
            wav_to_mel_spectrogram(_normalize_loudness(samples[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME]))
            for a, b in regions
        ]
        self.cache: dict[Span, np.ndarray] = {}

    def __call__(self, region: int, spans: list[Span]) -> np.ndarray:
        """L2-normalised embeddings of ``spans`` (all inside region ``region``)."""
        origin = self.regions[region][0]
        missing = [s for s in dict.fromkeys(spans) if s not in self.cache]
        for length in sorted({b - a for a, b in missing}):
            chosen = [s for s in missing if s[1] - s[0] == length]
            batch = np.stack([self.mels[region][a - origin : b - origin] for a, b in chosen])
            with torch.no_grad():
                vectors = voice_encoder()(torch.from_numpy(batch)).cpu().numpy()
            self.cache.update(zip(chosen, vectors))
        return np.stack([self.cache[s] for s in spans]) if spans else np.zeros((0, 256), np.float32)


class VadClusterDiarizer:
    """Diarizer for the lite profile; estimates the number of speakers itself."""

    name = "vad-cluster"

    def __init__(
        self,
        window_s: float = 1.5,
        hop_s: float = 0.75,
        threshold: float = 0.4,
        change_threshold: float = 0.35,
        min_turn_s: float = 0.6,
        vad_threshold: float = 0.5,
        min_silence_s: float = 0.4,
        speech_pad_s: float = 0.03,
        min_region_s: float = 0.25,
    ):
        if not 0 < hop_s <= window_s:
            raise ValueError("hop_s must be positive and at most window_s")
        self.window_s, self.hop_s = window_s, hop_s
        self.threshold, self.change_threshold = threshold, change_threshold
        self.min_turn_s = min_turn_s
        self.vad_threshold, self.min_silence_s = vad_threshold, min_silence_s
        self.speech_pad_s, self.min_region_s = speech_pad_s, min_region_s
        self.width = int(round(window_s / FRAME_S))
        self.hop = int(round(hop_s / FRAME_S))

    @property
    def version(self) -> str:
        params = "-".join(
            f"{value}"
            for value in (self.window_s, self.hop_s, self.threshold, self.change_threshold, self.min_turn_s,
                          self.vad_threshold, self.min_silence_s, self.speech_pad_s, self.min_region_s)
        )
        libs = "-".join(f"{p}{package_version(p)}" for p in ("silero-vad", "resemblyzer", "scikit-learn"))
        return f"vad-cluster/{libs}/{params}"

    def diarize(self, audio_16k: Path) -> Diarization:
        """Speaker turns of a recording (any rate; resampled to 16 kHz mono)."""
        path = Path(audio_16k)
        if not path.is_file():
            raise InputError(f"audio file not found: {path}")
        samples, _ = read_audio(path, sample_rate=EMBEDDING_SAMPLE_RATE)
        regions = self.speech_regions(samples)
        if not regions:
            return Diarization(turns=[])
        embedder = _WindowEmbedder(samples, regions)
        segments = [(r, span) for r in range(len(regions)) for span in self._split_at_changes(r, embedder)]
        windows = [(r, [(a + o, a + o + min(self.width, b - a)) for o in _window_offsets(b - a, self.width, self.hop)])
                   for r, (a, b) in segments]
        embeddings = [embedder(r, spans) for r, spans in windows]
        all_embeddings = np.concatenate(embeddings)
        labels = cluster_embeddings(all_embeddings, self.threshold)
        centroids = np.stack([all_embeddings[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-12
        min_run = max(1, int(round(self.min_turn_s / FRAME_S)))
        frame_labels = [
            _label_frames(span, spans, vectors @ centroids.T, min_run)
            for (_, span), (_, spans), vectors in zip(segments, windows, embeddings)
        ]
        return _turns_from_frames([span for _, span in segments], frame_labels)

    def speech_regions(self, samples: np.ndarray) -> list[Span]:
        """Speech regions as (start, end) frame indices (10 ms frames), from silero-vad."""
        seconds = speech_regions(
            samples,
            threshold=self.vad_threshold,
            min_speech_ms=int(self.min_region_s * 1000),
            min_silence_ms=int(self.min_silence_s * 1000),
            speech_pad_ms=int(self.speech_pad_s * 1000),
        )
        frames_per_second = EMBEDDING_SAMPLE_RATE / SAMPLES_PER_FRAME
        regions = [(int(round(a * frames_per_second)), int(round(b * frames_per_second))) for a, b in seconds]
        return [(a, b) for a, b in regions if b > a]

    def _split_at_changes(self, region: int, embedder: _WindowEmbedder) -> list[Span]:
        """Cut a region where the voice before a point differs from the voice after it."""
        start, end = embedder.regions[region]
        points = list(range(start + self.width, end - self.width + 1, self.hop))
        if not points:
            return [(start, end)]
        distances = self._change_distances(region, points, embedder)
        changes: list[int] = []
        for i in np.argsort(-distances):
            if distances[i] < self.change_threshold:
                break
            if all(abs(points[i] - c) >= self.width for c in changes):
                changes.append(self._refine_change(region, points[i], embedder))
        bounds = sorted({start, *changes, end})
        return list(zip(bounds[:-1], bounds[1:]))

    def _change_distances(self, region: int, points: list[int], embedder: _WindowEmbedder) -> np.ndarray:
        """Cosine distance between the window ending and the window starting at each point."""
        before = embedder(region, [(p - self.width, p) for p in points])
        after = embedder(region, [(p, p + self.width) for p in points])
        return 1.0 - np.sum(before * after, axis=1)

    def _refine_change(self, region: int, point: int, embedder: _WindowEmbedder) -> int:
        """The most distinct point within half a hop of ``point`` (50 ms steps)."""
        start, end = embedder.regions[region]
        low = max(start + self.width, point - self.hop // 2)
        high = min(end - self.width, point + self.hop // 2)
        candidates = list(range(low, high + 1, REFINE_STEP_FRAMES)) or [point]
        return candidates[int(np.argmax(self._change_distances(region, candidates, embedder)))]


def cluster_embeddings(embeddings: np.ndarray, threshold: float, max_points: int = MAX_CLUSTER_POINTS) -> np.ndarray:
    """Cluster L2-normalised embeddings; clusters merge while their mean cosine distance < ``threshold``.

    Labels are 0..K-1. Beyond ``max_points`` embeddings an evenly spread subset is
    clustered and the rest join the nearest centroid, so memory stays bounded.
    """
    from sklearn.cluster import AgglomerativeClustering

    if len(embeddings) < 2:
        return np.zeros(len(embeddings), dtype=int)
    chosen = np.unique(np.linspace(0, len(embeddings) - 1, min(len(embeddings), max_points)).astype(int))
    clustering = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold)
    labels = clustering.fit_predict(embeddings[chosen])
    if len(chosen) < len(embeddings):
        centroids = np.stack([embeddings[chosen][labels == k].mean(axis=0) for k in range(labels.max() + 1)])
        labels = np.argmax(embeddings @ centroids.T, axis=1)
    return np.unique(labels, return_inverse=True)[1]


def _normalize_loudness(audio: np.ndarray) -> np.ndarray:
    """Scale a speech region to resemblyzer's training loudness."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    if rms < 1e-6:
        return audio.astype(np.float32)
    return (audio * (10 ** (_TARGET_DBFS / 20) / rms)).astype(np.float32)


def _window_offsets(length: int, width: int, hop: int) -> list[int]:
    """Start offsets of windows covering ``length`` frames; the last one ends at the end."""
    if length <= width:
        return [0]
    offsets = list(range(0, length - width + 1, hop))
    if offsets[-1] != length - width:
        offsets.append(length - width)
    return offsets


def _label_frames(segment: Span, windows: list[Span], window_scores: np.ndarray, min_run: int) -> np.ndarray:
    """Each frame's best speaker by the mean score of the windows covering it, smoothed."""
    start, end = segment
    totals = np.zeros((end - start, window_scores.shape[1]))
    counts = np.zeros(end - start)
    for (a, b), scores in zip(windows, window_scores):
        totals[a - start : b - start] += scores
        counts[a - start : b - start] += 1
    frame_scores = totals / np.maximum(counts, 1)[:, None]
    return _absorb_short_runs(frame_scores.argmax(axis=1), frame_scores, min_run)


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, label) of each run of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], edges, [len(labels)]])
    return [(int(a), int(b), int(labels[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def _absorb_short_runs(labels: np.ndarray, frame_scores: np.ndarray, min_run: int) -> np.ndarray:
    """Give each run shorter than ``min_run`` frames to the neighbour it resembles more."""
    labels = labels.copy()
    while True:
        runs = _runs(labels)
        short = [r for r in runs if r[1] - r[0] < min_run]
        if len(runs) < 2 or not short:
            return labels
        position = runs.index(min(short, key=lambda r: r[1] - r[0]))
        start, end, _ = runs[position]
        neighbours = [runs[i][2] for i in (position - 1, position + 1) if 0 <= i < len(runs)]
        labels[start:end] = max(neighbours, key=lambda k: frame_scores[start:end, k].sum())


def _turns_from_frames(segments: list[Span], frame_labels: list[np.ndarray]) -> Diarization:
    """Speaker turns from per-frame cluster labels, renamed SPEAKER_NN by first appearance."""
    raw = sorted((start + a, start + b, k) for (start, _), labels in zip(segments, frame_labels) for a, b, k in _runs(labels))
    names: dict[int, str] = {}
    turns: list[SpeakerTurn] = []
    for a, b, k in raw:
        name = names.setdefault(k, f"SPEAKER_{len(names):02d}")
        start, end = round(a * FRAME_S, 3), round(b * FRAME_S, 3)
        if turns and turns[-1].speaker == name and start <= turns[-1].end:
            turns[-1] = SpeakerTurn(speaker=name, start=turns[-1].start, end=max(end, turns[-1].end))
        else:
            turns.append(SpeakerTurn(speaker=name, start=max(start, turns[-1].end) if turns else start, end=end))
    return Diarization(turns=turns)
