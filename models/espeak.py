"""espeak-ng command-line wrapper: text to a WAV file (used by the lite TTS and the sample)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from polydub.errors import BackendUnavailableError

DEFAULT_RATE_WPM = 160


def espeak_binary() -> str:
    """Path of the espeak-ng executable, or a clear error saying how to install it."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise BackendUnavailableError("espeak-ng is not installed: apt-get install espeak-ng")
    return binary


def speak_to_wav(
    text: str,
    out: Path | str,
    voice: str = "en-us",
    pitch: int = 50,
    rate_wpm: int = DEFAULT_RATE_WPM,
    amplitude: int = 100,
    word_gap_10ms: int = 0,
) -> Path:
    """Speak ``text`` with espeak-ng into a 22.05 kHz mono WAV file.

    ``voice`` is an espeak voice with an optional variant (``"es+f3"``); pitch is
    espeak's 0-99 scale; the text is passed on standard input, never through a shell.
    """
    out = Path(out)
    cmd = [
        espeak_binary(),
        "-v", voice,
        "-p", str(int(min(99, max(0, pitch)))),
        "-s", str(int(min(450, max(80, rate_wpm)))),
        "-a", str(int(amplitude)),
        "-g", str(int(word_gap_10ms)),
        "-w", str(out),
        "--stdin",
    ]
    subprocess.run(cmd, input=text.encode("utf-8"), check=True, capture_output=True)
    return out
