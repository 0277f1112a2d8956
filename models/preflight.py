"""Preflight checks a backend reports for `polydub doctor`: package, weights, GPU, licence.

Each studio backend module provides ``check(model: str | None = None) -> list[Check]``
built from these helpers. Nothing here downloads anything or touches the network.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Check:
    """One line of a doctor report: what was checked, whether it passed, how to fix it."""

    stage: str
    item: str
    ok: bool
    detail: str
    fix: str = ""


def package_check(stage: str, module: str, pip_name: str) -> Check:
    """Whether `module` is importable (found on the path; not imported)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return Check(stage, f"package {pip_name}", True, f"module {module!r} is installed")
    return Check(stage, f"package {pip_name}", False, f"module {module!r} is not installed",
                 fix=f"pip install {pip_name}")


def _token_present(token_env: str | None) -> bool:
    if token_env and os.environ.get(token_env):
        return True
    try:
        from huggingface_hub import get_token
    except ImportError:
        return False
    return bool(get_token())


def hf_cache_check(stage: str, repo_id: str, token_env: str | None = None,
                   filename: str | None = None, cache_dir: str | Path | None = None) -> Check:
    """Whether `repo_id`'s weights are present locally (a local folder or the HF cache).

    With `filename` the exact file is looked up (``try_to_load_from_cache``); otherwise any
    cached revision of the repo counts (``scan_cache_dir``). `token_env` names the variable a
    gated repo's token is read from; its absence is reported in the fix. ``cache_dir``
    overrides the default cache folder (``HF_HUB_CACHE``). No network access.
    """
    item = f"weights {repo_id}"
    if Path(repo_id).expanduser().is_dir():
        return Check(stage, item, True, f"local folder {Path(repo_id).expanduser()}")
    try:
        from huggingface_hub import scan_cache_dir, try_to_load_from_cache
        from huggingface_hub.errors import CacheNotFound
    except ImportError:
        return Check(stage, item, False, "huggingface_hub is not installed",
                     fix="pip install huggingface_hub")
    found: str | None = None
    if filename is not None:
        hit = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir)
        if isinstance(hit, str):
            found = hit
    else:
        try:
            cache = scan_cache_dir(cache_dir)
        except CacheNotFound:
            cache = None
        if cache is not None:
            for repo in cache.repos:
                if repo.repo_id == repo_id and repo.revisions:
                    found = str(repo.repo_path)
                    break
    if found:
        return Check(stage, item, True, f"in the Hugging Face cache: {found}")
    fix = f"huggingface-cli download {repo_id}"
    if token_env is not None:
        if not _token_present(token_env):
            fix = (f"accept the terms at https://huggingface.co/{repo_id}, set {token_env} "
                   f"(or run `huggingface-cli login`), then {fix}")
        else:
            fix = f"accept the terms at https://huggingface.co/{repo_id}, then {fix}"
    return Check(stage, item, False, "not in the Hugging Face cache", fix=fix)


def gpu_check(stage: str, min_vram_gb: float) -> Check:
    """Whether a CUDA GPU with at least `min_vram_gb` GiB of memory is visible to torch."""
    item = f"GPU ≥ {min_vram_gb:g} GB"
    try:
        import torch
    except ImportError:
        return Check(stage, item, False, "torch is not installed", fix="pip install torch")
    if not torch.cuda.is_available():
        return Check(stage, item, False, "no CUDA GPU visible to torch",
                     fix=f"run on a machine with a CUDA GPU of ≥ {min_vram_gb:g} GB")
    best = max(range(torch.cuda.device_count()),
               key=lambda i: torch.cuda.get_device_properties(i).total_memory)
    props = torch.cuda.get_device_properties(best)
    total_gb = props.total_memory / 1024**3
    detail = f"cuda:{best} {props.name}, {total_gb:.0f} GB"
    if total_gb >= min_vram_gb:
        return Check(stage, item, True, detail)
    return Check(stage, item, False, f"{detail} (needs {min_vram_gb:g} GB)",
                 fix="use a larger GPU or enable CPU offload")


def licence_note(stage: str, name: str, url: str, commercial: bool) -> Check:
    """Licence information; `ok` tells whether commercial use is allowed without conditions."""
    use = "commercial use allowed" if commercial else "commercial use restricted"
    return Check(stage, f"licence {name}", commercial, f"{use}: {url}",
                 fix="" if commercial else f"read the terms at {url} before commercial use")
