"""Plots of the review report (matplotlib, Agg backend), returned as PNG data URIs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from polydub.review_report.media import data_uri  # noqa: E402

DPI = 96
SPEED_COLORMAP = "coolwarm"  # blue: slowed down, white: natural, red: sped up
OVER_BOUND_COLOR = "#d00000"


@dataclass(frozen=True)
class TimelineBar:
    """One line on the timeline: its source window and where its dub was placed."""

    index: int
    speaker: str
    start: float
    end: float
    placed_start: float
    placed_end: float
    speed: float
    over_bound: bool


def figure_uri(figure: Figure) -> str:
    """Render ``figure`` to a PNG data URI and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return data_uri(buffer.getvalue(), "image/png")


def speed_norm(bounds: tuple[float, float], speeds: Sequence[float]) -> TwoSlopeNorm:
    """Colour scale of speed factors centred on 1.0, covering the bounds and every value."""
    low = min([bounds[0], *speeds, 0.99])
    high = max([bounds[1], *speeds, 1.01])
    return TwoSlopeNorm(vmin=low, vcenter=1.0, vmax=high)


def timeline_plot(
    bars: Sequence[TimelineBar], speakers: Sequence[str], duration: float, bounds: tuple[float, float], cuts: Sequence[float] = ()
) -> str:
    """Per speaker: source turns (grey) over the dubbed lines coloured by speed; over-bound lines flagged."""
    rows = list(speakers) or ["?"]
    figure, axes = plt.subplots(figsize=(12, 0.9 * len(rows) + 1.3))
    norm = speed_norm(bounds, [b.speed for b in bars])
    colormap = plt.get_cmap(SPEED_COLORMAP)
    for row, speaker in enumerate(rows):
        y = len(rows) - 1 - row
        mine = [b for b in bars if b.speaker == speaker]
        axes.broken_barh([(b.start, b.end - b.start) for b in mine], (y + 0.5, 0.3), facecolors="#b8b8b8", edgecolor="#777777")
        for bar in mine:
            axes.broken_barh(
                [(bar.placed_start, bar.placed_end - bar.placed_start)],
                (y + 0.1, 0.36),
                facecolors=colormap(norm(bar.speed)),
                edgecolor=OVER_BOUND_COLOR if bar.over_bound else "#333333",
                linewidth=2.0 if bar.over_bound else 0.6,
                hatch="//" if bar.over_bound else None,
            )
            label = f"{bar.index}!" if bar.over_bound else str(bar.index)
            axes.text((bar.placed_start + bar.placed_end) / 2, y + 0.28, label, ha="center", va="center", fontsize=7,
                      color=OVER_BOUND_COLOR if bar.over_bound else "black", fontweight="bold" if bar.over_bound else "normal")
    for cut in cuts:
        axes.axvline(cut, color="#444444", linestyle="--", linewidth=0.8)
    axes.set_yticks([len(rows) - 1 - r + 0.45 for r in range(len(rows))], labels=rows)
    axes.set_ylim(0, len(rows))
    axes.set_xlim(0, max(duration, max((b.placed_end for b in bars), default=0.0)))
    axes.set_xlabel("time (s)   ·   grey: source turn   ·   coloured: dubbed line (speed factor)   ·   dashed: shot cut")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colormap)
    bar = figure.colorbar(mappable, ax=axes, pad=0.01, fraction=0.03)
    bar.set_label("speed factor")
    for bound in bounds:
        bar.ax.axhline(bound, color=OVER_BOUND_COLOR, linewidth=1.2)
    figure.tight_layout()
    return figure_uri(figure)


def lipsync_plot(series: dict[str, np.ndarray], fps: float, title: str) -> str:
    """Mouth opening measured on the output (and the source) against the dubbed-audio envelope, over the face's lines."""
    lines = np.asarray(series["lines"], bool)
    inside = np.flatnonzero(lines)
    first, last = (int(inside[0]), int(inside[-1]) + 1) if len(inside) else (0, len(lines))
    span = slice(max(0, first - int(fps / 2)), min(len(lines), last + int(fps / 2)))
    times = np.arange(len(lines))[span] / fps
    figure, opening = plt.subplots(figsize=(12, 2.8))
    output = np.where(lines, series["output"], np.nan)[span]
    opening.plot(times, output, color="#c0392b", linewidth=1.2, label="mouth opening, output")
    if "source" in series:
        source = np.where(lines, series["source"], np.nan)[span]
        opening.plot(times, source, color="#7f8c8d", linewidth=0.8, linestyle=":", label="mouth opening, source")
    opening.set_ylabel("mouth opening")
    opening.set_xlabel("time (s)   ·   shaded: frames of this speaker's dubbed lines")
    envelope = opening.twinx()
    envelope.fill_between(times, 0, series["envelope"][span], color="#2e86c1", alpha=0.25, step="mid", label="dubbed-audio envelope")
    envelope.set_ylabel("envelope")
    envelope.set_ylim(bottom=0)
    edges = np.diff(np.concatenate([[0], lines[span].astype(int), [0]]))
    for begin, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        opening.axvspan(times[0] + begin / fps, times[0] + end / fps, color="#f5eccd", zorder=0)
    handles = opening.get_legend_handles_labels()[0] + envelope.get_legend_handles_labels()[0]
    opening.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    opening.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure_uri(figure)
