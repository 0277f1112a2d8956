"""Hand a job's outputs out: a manifest of every output (size + sha256), copied to a folder or bucket.

The local output folder always gets ``manifest.json`` beside the outputs. With a destination
(an fsspec URL or a plain path: ``/srv/out``, ``file:///srv/out``, ``s3://bucket/prefix``) every
output is copied there too and the manifest is written last, so a reader that sees the
manifest sees every file it lists. On a local filesystem each file is written under a
temporary name and renamed; on object stores each upload is a single PUT (an object
appears whole or not at all) and its size is checked after the upload.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import BaseModel

from polydub import __version__
from polydub.errors import PolydubError
from polydub.redact import register_mapping, scrub
from polydub.workdir import file_sha256, write_text_atomic

MANIFEST = "manifest.json"
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"}


class DeliveryError(PolydubError):
    """Outputs could not be written to the delivery destination (the message never holds a credential)."""

    def __init__(self, message: str) -> None:
        super().__init__(scrub(message))


class ManifestEntry(BaseModel):
    """One delivered file, named relative to the manifest's folder."""

    name: str
    kind: str  # video, subtitles, report
    language: Optional[str] = None
    size: int
    sha256: str


class Manifest(BaseModel):
    """Every output of one job with its checksum; written last at each destination."""

    polydub_version: str = __version__
    created: str
    source: dict[str, Any] = {}
    files: list[ManifestEntry]

    def entry(self, name: str) -> ManifestEntry:
        """The entry of file ``name``; KeyError when the manifest does not list it."""
        for item in self.files:
            if item.name == name:
                return item
        raise KeyError(name)


def job_outputs(report: dict[str, Any], out_dir: Path | str) -> list[tuple[Path, str, Optional[str]]]:
    """(path, kind, language) of every output a report names, plus report.json itself."""
    out_dir = Path(out_dir)
    kinds = {"video": "video", "srt": "subtitles", "vtt": "subtitles", "report_html": "review report"}
    files: list[tuple[Path, str, Optional[str]]] = []
    for language, entry in sorted(report.get("languages", {}).items()):
        if entry.get("status") != "completed":
            continue
        for key, kind in kinds.items():
            if entry["outputs"].get(key):  # a review page that failed to render is null
                files.append((Path(entry["outputs"][key]), kind, language))
    files.append((out_dir / "report.json", "report", None))
    return files


def build_manifest(files: Iterable[tuple[Path, str, Optional[str]]], source: Optional[dict[str, Any]] = None) -> Manifest:
    """Measure each file (size, sha256); names are the files' base names."""
    entries = []
    seen: set[str] = set()
    for path, kind, language in files:
        path = Path(path)
        if path.name in seen:
            raise DeliveryError(f"two outputs share the name {path.name}")
        seen.add(path.name)
        entries.append(ManifestEntry(name=path.name, kind=kind, language=language, size=path.stat().st_size, sha256=file_sha256(path)))
    return Manifest(created=datetime.now(timezone.utc).isoformat(timespec="seconds"), source=source or {}, files=entries)


def destination_or_none(value: Optional[str]) -> Optional[str]:
    """A parameter validator: ``value`` if it is a destination polydub can write to, None if empty; ValueError otherwise."""
    if not value:
        return None
    try:
        check_destination(value)
    except DeliveryError as exc:
        raise ValueError(str(exc)) from exc
    return value


def check_destination(dest: str) -> None:
    """Refuse a destination whose protocol fsspec does not know (before any work, no network)."""
    protocol, _ = fsspec.core.split_protocol(dest)
    if protocol and protocol not in fsspec.available_protocols():
        raise DeliveryError(f"cannot deliver to {dest}: unknown protocol '{protocol}'")


def _filesystem(dest: str, storage_options: Optional[dict[str, Any]]) -> tuple[fsspec.AbstractFileSystem, str]:
    register_mapping(storage_options)  # their credentials are masked in every log line and message from now on
    options = dict(storage_options or {})
    options.setdefault("skip_instance_cache", True)  # credentials/endpoints may change between calls
    try:
        return fsspec.core.url_to_fs(dest, **options)
    except (ImportError, ValueError) as exc:
        raise DeliveryError(f"cannot deliver to {dest}: {exc}") from exc


def _object_store(fs: fsspec.AbstractFileSystem) -> bool:
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return bool(protocols & OBJECT_STORES)


def _put(fs: fsspec.AbstractFileSystem, local: Path, remote: str) -> None:
    """Copy one file so that ``remote`` appears complete or not at all."""
    if not _object_store(fs):
        tmp = f"{remote.rsplit('/', 1)[0]}/.{local.name}.{uuid.uuid4().hex[:12]}.part"
        try:
            fs.put_file(str(local), tmp)
            fs.mv(tmp, remote)  # a rename within one folder
        finally:
            if fs.exists(tmp):
                fs.rm_file(tmp)
        return
    fs.put_file(str(local), remote)
    size = fs.size(remote)
    if size != local.stat().st_size:
        raise DeliveryError(f"{remote}: uploaded {size} bytes of {local.stat().st_size}")


def deliver(
    report: dict[str, Any],
    out_dir: Path | str,
    deliver_to: Optional[str] = None,
    storage_options: Optional[dict[str, Any]] = None,
) -> Manifest:
    """Write OUT/manifest.json for the job's outputs; with ``deliver_to``, copy outputs + manifest there.

    Failed languages have no outputs and are not listed (report.json says why they failed).
    """
    out_dir = Path(out_dir)
    files = job_outputs(report, out_dir)
    source = report.get("source", {})
    manifest = build_manifest(files, {"video": Path(source.get("video", "")).name, "sha256": source.get("sha256")})
    text = manifest.model_dump_json(indent=2)
    local_manifest = write_text_atomic(out_dir / MANIFEST, text)
    if not deliver_to:
        return manifest
    fs, root = _filesystem(deliver_to, storage_options)
    root = root.rstrip("/") or "/"
    if isinstance(fs, LocalFileSystem) and Path(root).resolve() == out_dir.resolve():
        return manifest  # the destination is the output folder itself
    try:
        if not _object_store(fs):  # buckets are never created here; a missing one is an error
            fs.makedirs(root, exist_ok=True)
        for path, _, _ in files:
            _put(fs, Path(path), f"{root}/{Path(path).name}")
        _put(fs, local_manifest, f"{root}/{MANIFEST}")  # last: its presence means the delivery is whole
    except DeliveryError:
        raise
    except OSError as exc:
        raise DeliveryError(f"cannot deliver to {deliver_to}: {exc}") from exc
    return manifest


def verify(dest: str, storage_options: Optional[dict[str, Any]] = None) -> Manifest:
    """Read DEST/manifest.json and check every listed file's size and sha256; DeliveryError on mismatch."""
    import hashlib

    fs, root = _filesystem(dest, storage_options)
    root = root.rstrip("/") or "/"
    manifest = Manifest.model_validate_json(fs.cat_file(f"{root}/{MANIFEST}"))
    for item in manifest.files:
        digest = hashlib.sha256()
        with fs.open(f"{root}/{item.name}", "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != item.sha256 or fs.size(f"{root}/{item.name}") != item.size:
            raise DeliveryError(f"{root}/{item.name} does not match the manifest")
    return manifest


__all__ = ["MANIFEST", "DeliveryError", "check_destination", "Manifest", "ManifestEntry", "build_manifest", "deliver", "job_outputs", "verify"]
