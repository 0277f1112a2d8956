"""GPU smoke test: every studio backend's tiny-model path on CUDA, with time and peak VRAM per stage.

Stages come from the modules in ``models/testing/`` that define
``smoke(workdir: Path, device: str) -> dict`` (each builds its tiny random model in
``workdir``, loads it through the backend's real loader, runs inference and checks its
result). Without a CUDA GPU it says so and exits 0 (``--device cpu`` runs the stages on
the CPU instead, to try the script). Exit status 1 if a stage fails. Usage:

    .venv/bin/python bench/gpu_smoke.py [--device cuda|cpu] [--only NAME ...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def stages() -> dict[str, object]:
    """Name → ``smoke`` function of every ``models.testing`` module that has one."""
    import models.testing as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        try:
            module = importlib.import_module(f"models.testing.{info.name}")
        except ImportError as exc:  # a backend's package is missing: reported, not fatal
            found[info.name] = exc
            continue
        if callable(getattr(module, "smoke", None)):
            found[info.name.removeprefix("tiny_")] = module.smoke
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--only", nargs="*", help="stage names to run (default: all)")
    parser.add_argument("--keep", type=Path, help="folder for the tiny models (default: a temporary one)")
    args = parser.parse_args(argv)

    import torch

    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA GPU visible to torch; nothing measured (use --device cpu to try the stages).")
        return 0
    if cuda:
        props = torch.cuda.get_device_properties(0)
        print(f"device: {props.name}, {props.total_memory / 1024**3:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}")
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="polydub-gpu-smoke-"))
    failures = 0
    print(f"{'stage':<14} {'status':<6} {'seconds':>8} {'peak VRAM MiB':>14}  details")
    for name, smoke in stages().items():
        if args.only and name not in args.only:
            continue
        if isinstance(smoke, Exception):
            print(f"{name:<14} {'SKIP':<6} {'':>8} {'':>14}  missing package: {smoke}")
            continue
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        try:
            details = smoke(workdir / name, args.device) or {}
            status = "ok"
        except Exception as exc:  # report and go on with the other stages
            details, status = {"error": f"{type(exc).__name__}: {exc}"}, "FAIL"
            traceback.print_exc()
            failures += 1
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.1f}" if cuda else "-"
        text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in details.items())
        print(f"{name:<14} {status:<6} {seconds:>8.2f} {peak:>14}  {text}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
