"""Benchmark: peak memory and speed of the lip-sync stage on the sample and on a 4x longer copy.

1. Builds the sample and a copy four times as long (the sample concatenated with itself).
2. Runs the lite pipeline on each into one language (`localize`, cached in a work folder).
3. Re-runs only the lip-sync stage of each in a fresh Python process, from the stage inputs
   the pipeline left in the work folder, and prints its wall time, frames per second, the
   process's peak RSS during the stage (Linux VmHWM, reset just before the stage) and how much
   that is above what the process held when the stage started.

Memory must not grow with the video's length: the long/short ratio of the stage's peak is
the figure to watch (target ≤ 1.2). Usage:

    .venv/bin/python bench/lipsync_memory.py [--language es] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPEAT = 4

STAGE_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from pathlib import Path
from models.data import Dub
from models.faces.records import FaceAnalysis, SpeakerFaces
from models.lipsync import load_lip_syncer
from models.lipsync.render import lip_sync_video

def status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

faces, mapping, dub, source, out = sys.argv[1:6]
faces, mapping, dub = FaceAnalysis.load(faces), SpeakerFaces.load(mapping), Dub.load(dub)
backend = load_lip_syncer("lite")
# a child starts with its parent's RSS high-water mark: reset it, so the peak is this stage's own
Path("/proc/self/clear_refs").write_text("5")
before = status_mb("VmRSS")
started = time.perf_counter()
result = lip_sync_video(Path(source), Path(out), faces, mapping, dub, backend)
seconds = time.perf_counter() - started
peak = status_mb("VmHWM")
print(json.dumps({"seconds": seconds, "frames": result.frames_total, "before_mb": before, "peak_mb": peak,
                  "changed": sum(f.frames_changed for f in result.faces)}))
"""


def concatenated(video: Path, times: int, out: Path) -> Path:
    """``video`` repeated ``times`` times (stream copy through ffmpeg's concat demuxer)."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{video.resolve()}'\n" for _ in range(times)))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)], check=True)
    return out


def stage_inputs(work_root: Path, video: Path, language: str) -> tuple[Path, Path, Path]:
    """The faces, active_speaker and fit_timing results the pipeline left for ``video``."""
    from polydub.workdir import WorkDir, file_sha256

    work = WorkDir(work_root, file_sha256(video))
    found = {}
    for run in work.ledger():
        if run.stage in ("faces", "active_speaker") or (run.stage == "fit_timing" and run.language == language):
            found[run.stage] = work.stage_dir(run.stage, run.key) / "result.json"
    return found["faces"], found["active_speaker"], found["fit_timing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", default="es")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    from flows.localize import localize
    from polydub.config import LocalizeParams
    from polydub.sample import build_sample

    root = args.keep or Path(tempfile.mkdtemp(prefix="polydub-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    short = build_sample(root / "sample").video
    long = concatenated(short, REPEAT, root / "sample" / "interview_x4.mp4")
    rows = []
    for name, video in (("short", short), (f"{REPEAT}x long", long)):
        params = LocalizeParams(video=str(video), targets=[args.language], out_dir=str(root / "out"), work_dir=str(root / "work"))
        localize(params)
        faces, mapping, dub = stage_inputs(root / "work", video, args.language)
        out = root / f"picture-{name.replace(' ', '_')}.mp4"
        done = subprocess.run(
            [sys.executable, "-c", STAGE_SCRIPT, str(faces), str(mapping), str(dub), str(video), str(out)],
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
        )  # fmt: skip
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append((name, figures))
    print(f"\nlip-sync stage, lite backend, {args.language}:")
    print(f"{'video':>10} {'frames':>7} {'changed':>8} {'seconds':>8} {'fps':>6} {'peak RSS MB':>12} {'stage +MB':>10}")
    for name, f in rows:
        print(
            f"{name:>10} {f['frames']:>7} {f['changed']:>8} {f['seconds']:>8.1f} {f['frames'] / f['seconds']:>6.1f}"
            f" {f['peak_mb']:>12.0f} {f['peak_mb'] - f['before_mb']:>10.0f}"
        )
    (_, a), (_, b) = rows
    print(f"peak RSS ratio long/short: {b['peak_mb'] / a['peak_mb']:.3f} (target ≤ 1.2)")


if __name__ == "__main__":
    main()
