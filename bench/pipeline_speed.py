"""Benchmark: wall time per stage and real-time factor of the lite pipeline on the sample.

Runs `localize` on the generated sample twice from an empty work folder: with one
target language and with three. Prints a table of seconds per stage and the
real-time factor (processing time / video duration). Usage:

    .venv/bin/python bench/pipeline_speed.py [--languages es ca eo] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def run_once(sample, targets: list[str], root: Path) -> tuple[float, dict]:
    from flows.localize import localize
    from polydub.config import LocalizeParams

    params = LocalizeParams(video=str(sample.video), targets=targets, out_dir=str(root / "out"), work_dir=str(root / "work"))
    started = time.perf_counter()
    report = localize(params)
    return time.perf_counter() - started, report


def stage_table(report: dict) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for entry in report["stages"]:
        seconds[entry["stage"]] += entry["seconds"]
    return dict(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", nargs="+", default=["es", "ca", "eo"])
    parser.add_argument("--keep", type=Path, help="keep the work folders here instead of a temp folder")
    args = parser.parse_args()

    from polydub.sample import build_sample

    base = args.keep or Path(tempfile.mkdtemp(prefix="polydub-bench-"))
    t0 = time.perf_counter()
    sample = build_sample(base / "sample")
    print(f"sample built in {time.perf_counter() - t0:.1f} s")
    from models.ingest import probe

    duration = probe(sample.video).duration
    print(f"video duration {duration:.1f} s\n")
    results = {}
    # warm-up: start Prefect's temporary server and load the models once, so the
    # figures below are the pipeline's own cost (a first run pays ~15 s of start-up)
    run_once(sample, args.languages[:1], base / "warmup")
    for label, targets in (("1 language", args.languages[:1]), (f"{len(args.languages)} languages", args.languages)):
        wall, report = run_once(sample, targets, base / label.replace(" ", "-"))
        results[label] = (wall, stage_table(report), report)

    stages = list(dict.fromkeys(s for _, table, _ in results.values() for s in table))
    header = f"{'stage':<12}" + "".join(f"{label:>16}" for label in results)
    print(header)
    print("-" * len(header))
    for stage in stages:
        print(f"{stage:<12}" + "".join(f"{table.get(stage, 0.0):>15.2f}s" for _, table, _ in results.values()))
    print("-" * len(header))
    print(f"{'wall total':<12}" + "".join(f"{wall:>15.2f}s" for wall, _, _ in results.values()))
    print(f"{'RTF':<12}" + "".join(f"{wall / duration:>16.3f}" for wall, _, _ in results.values()))
    peak = max(e["peak_rss_mb"] for _, _, r in results.values() for e in r["stages"])
    print(f"\npeak RSS of the process: {peak:.0f} MiB (stage seconds summed over languages; languages run concurrently)")


if __name__ == "__main__":
    main()
