"""models.preflight: the per-backend checks `polydub doctor` lists (no network, fake HF cache in tmp_path)."""

from __future__ import annotations

import dataclasses

import pytest

from models.preflight import Check, gpu_check, hf_cache_check, licence_note, package_check


def _fake_cache(root, repo_id: str, filename: str) -> None:
    """The on-disk layout huggingface_hub uses for one cached file of a model repo."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    blob = repo / "blobs" / "deadbeef"
    blob.parent.mkdir()
    blob.write_text("{}")
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / filename).symlink_to(blob)


def test_check_is_a_frozen_record():
    check = Check("lipsync", "package x", False, "missing", "pip install x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        check.ok = True  # type: ignore[misc]
    assert Check("s", "i", True, "d").fix == ""


def test_package_check_finds_installed_modules_without_importing():
    assert package_check("translate", "numpy", "numpy").ok
    missing = package_check("lipsync", "surely_not_a_module_xyz", "surely-not")
    assert not missing.ok and missing.fix == "pip install surely-not" and missing.stage == "lipsync"
    assert not package_check("x", "numpy.surely_not_here", "numpy").ok


def test_hf_cache_check_sees_cached_repos_folders_and_gated_terms(tmp_path, monkeypatch):
    _fake_cache(tmp_path, "org/model", "model_index.json")
    assert hf_cache_check("lipsync", "org/model", filename="model_index.json", cache_dir=tmp_path).ok
    assert hf_cache_check("lipsync", "org/model", cache_dir=tmp_path).ok  # any revision of the repo
    assert not hf_cache_check("lipsync", "org/model", filename="other.json", cache_dir=tmp_path).ok
    assert hf_cache_check("lipsync", str(tmp_path)).ok  # a local folder counts as present
    monkeypatch.delenv("MY_TOKEN", raising=False)
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    gated = hf_cache_check("diarize", "org/gated", token_env="MY_TOKEN", cache_dir=tmp_path)
    assert not gated.ok and "accept the terms at https://huggingface.co/org/gated" in gated.fix and "MY_TOKEN" in gated.fix
    monkeypatch.setenv("MY_TOKEN", "hf_x")
    with_token = hf_cache_check("diarize", "org/gated", token_env="MY_TOKEN", cache_dir=tmp_path)
    assert "MY_TOKEN" not in with_token.fix and with_token.fix.endswith("huggingface-cli download org/gated")
    plain = hf_cache_check("translate", "org/absent", cache_dir=tmp_path / "empty")
    assert not plain.ok and plain.fix == "huggingface-cli download org/absent"


def test_gpu_check_and_licence_note():
    torch = pytest.importorskip("torch")
    small, huge = gpu_check("lipsync", 0.001), gpu_check("lipsync", 10_000)
    assert not huge.ok
    assert small.ok == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "no CUDA GPU" in small.detail
    open_ = licence_note("translate", "MIT", "https://x", commercial=True)
    closed = licence_note("synthesize", "CPML", "https://y", commercial=False)
    assert open_.ok and open_.fix == "" and not closed.ok and "https://y" in closed.fix
