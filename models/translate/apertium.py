"""Apertium rule-based translation (Debian packages, runs offline on CPU).

Apertium names its translation directions ("modes") with two- or three-letter codes,
e.g. ``eng-spa``, ``eng-cat``, ``en-eo``; this backend maps them to ISO 639-1 with
``models.languages`` and sends all lines of one request through ONE apertium call,
separated by blank lines (apertium keeps paragraph breaks), then checks that exactly
as many paragraphs came back.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from functools import cached_property
from pathlib import Path

from models.languages import normalize
from polydub.errors import BackendUnavailableError, PolydubError, UnsupportedLanguageError

INSTALL_HINT = "apt-get install apertium apertium-eng-spa"
_MODE_NAME = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")  # plain directions only, no variants
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_PACKAGE_DIR = re.compile(r"/apertium/(apertium-[A-Za-z0-9_.+-]+)/")
TIMEOUT_S = 600


class ApertiumTranslator:
    """Translator backed by the ``apertium`` command and its installed language pairs."""

    name = "apertium"

    def __init__(self, binary: str | None = None):
        found = binary or shutil.which("apertium")
        if found is None:
            raise BackendUnavailableError(f"apertium is not installed: {INSTALL_HINT}")
        self.binary = found
        self.modes_dir = Path(found).resolve().parent.parent / "share" / "apertium" / "modes"

    @cached_property
    def pairs(self) -> dict[tuple[str, str], str]:
        """Installed plain directions: (source, target) ISO 639-1 codes -> apertium mode name."""
        done = subprocess.run([self.binary, "-l"], capture_output=True, text=True, check=False)
        pairs: dict[tuple[str, str], str] = {}
        for mode in sorted(done.stdout.split()):
            match = _MODE_NAME.match(mode)
            if not match:
                continue
            try:
                key = (normalize(match.group(1)), normalize(match.group(2)))
            except PolydubError:
                continue
            pairs.setdefault(key, mode)
        return pairs

    @cached_property
    def version(self) -> str:
        """Apertium's version and each installed pair's package version, e.g. for cache keys."""
        done = subprocess.run([self.binary, "-V"], capture_output=True, text=True, check=False)
        parts = [done.stdout.strip().replace("Apertium ", "apertium-") or "apertium"]
        for mode in sorted(self.pairs.values()):
            parts.append(f"{mode}={self._pair_version(mode)}")
        return ";".join(parts)

    def _pair_version(self, mode: str) -> str:
        """The Debian package version of the data behind ``mode``, else a hash of its mode file."""
        mode_file = self.modes_dir / f"{mode}.mode"
        if not mode_file.exists():
            return "unknown"
        text = mode_file.read_text(encoding="utf-8", errors="replace")
        package = _PACKAGE_DIR.search(text)
        dpkg = shutil.which("dpkg-query")
        if package and dpkg:
            done = subprocess.run([dpkg, "-W", "-f=${Version}", package.group(1)], capture_output=True, text=True, check=False)
            if done.returncode == 0 and done.stdout.strip():
                return done.stdout.strip()
        return "mode-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def supported_targets(self, source: str) -> list[str]:
        """ISO 639-1 codes this installation translates ``source`` into, sorted."""
        source = normalize(source)
        return sorted(target for (src, target) in self.pairs if src == source)

    def check_pair(self, source: str, target: str) -> None:
        """Raise UnsupportedLanguageError naming the supported targets unless source→target is installed."""
        src, tgt = normalize(source), normalize(target)
        if src != tgt and (src, tgt) in self.pairs:
            return
        targets = ", ".join(self.supported_targets(src)) or "none"
        raise UnsupportedLanguageError(f"no Apertium pair {src}→{tgt}; supported targets from {src}: {targets}")

    def translate(self, texts: list[str], source: str, target: str, budgets: list[float] | None = None) -> list[str]:
        """Translate every text in one apertium call; blank inputs come back as "" (one answer each: ``budgets`` are not used)."""
        self.check_pair(source, target)
        mode = self.pairs[(normalize(source), normalize(target))]
        cleaned = [" ".join(text.split()) for text in texts]
        todo = [i for i, text in enumerate(cleaned) if text]
        results = [""] * len(texts)
        if not todo:
            return results
        pieces = self._run(mode, "\n\n".join(cleaned[i] for i in todo) + "\n")
        if len(pieces) != len(todo):  # the batch lost or merged a line: translate one by one
            pieces = []
            for i in todo:
                single = self._run(mode, cleaned[i] + "\n")
                pieces.append(" ".join(single))
        for i, piece in zip(todo, pieces):
            results[i] = piece
        return results

    def _run(self, mode: str, text: str) -> list[str]:
        """Run apertium on ``text``; the output split into its paragraphs."""
        cmd = [self.binary, "-u", mode]
        try:
            done = subprocess.run(cmd, input=text, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PolydubError(f"apertium {mode} did not finish within {TIMEOUT_S} s") from exc
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise PolydubError(f"apertium {mode} failed: {detail}")
        body = done.stdout.strip()
        if not body:
            return []
        return [" ".join(piece.split()) for piece in _PARAGRAPH_BREAK.split(body)]
