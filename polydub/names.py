"""Output file names derived from the source's name, kept within the file-name limit.

Every output is ``<stem>.<lang>.<kind>`` (``.mp4``/``.m4a``, ``.srt``, ``.vtt``, ``.report.html``).
A source name may already be close to the 255-byte limit of one file name; then the stem is
cut (at a character boundary) and given a short hash of the whole stem, so that outputs of
two long names that start alike do not collide: ``<first bytes>~<8 hex>.<lang>.mp4``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, APFS, NTFS in UTF-16 units)
SUFFIX_RESERVE = 25  # bytes kept for ".<lang>.report.html" with a language tag of up to 12 characters
STEM_MAX = NAME_MAX - SUFFIX_RESERVE


def output_stem(source: Path | str) -> str:
    """The stem every output of ``source`` is named with: its own, or cut with a hash when too long."""
    stem = Path(source).stem
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= STEM_MAX:
        return stem
    tag = "~" + hashlib.sha256(raw).hexdigest()[:8]
    cut = raw[: STEM_MAX - len(tag)].decode("utf-8", "ignore").rstrip(" .")
    return cut + tag
