"""Phonemes of a line from espeak-ng, classed into visemes and spread over the line's duration.

espeak-ng writes the IPA phonemes of the text (``-q --ipa --sep=_``) but no timing. Timing
is therefore approximated: every phoneme gets a relative weight (vowels longer than
consonants, stressed and long vowels longer still, a pause at each clause break) and the
weights are scaled to fill ``duration``. ``models.lipsync.motion.mouth_poses`` refines this
by mapping the timeline onto the frames where the audio actually carries speech.
"""

from __future__ import annotations

import subprocess
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from models.espeak import espeak_binary
from models.languages import normalize
from polydub.errors import UnsupportedLanguageError


class Viseme(str, Enum):
    """Mouth-shape class of a phoneme."""

    CLOSED = "closed"  # lips pressed together: p b m
    ROUNDED = "rounded"  # lips rounded and protruded: o u w
    SPREAD = "spread"  # lips spread: i e
    OPEN = "open"  # open vowels: a ɑ ə
    OTHER = "other"  # every other consonant


@dataclass(frozen=True)
class TimedPhoneme:
    """One phoneme (IPA) placed in time, in seconds from the start of the line."""

    symbol: str
    start: float
    end: float
    viseme: Viseme


_CLOSED = set("pbmβɸ")
_ROUNDED_VOWELS = set("oɔuʊyʏøœɒɵʉɶ")
_ROUNDED_GLIDES = set("wʍɥ")
_SPREAD = set("iɪeɛɨɯ")
_OPEN = set("aɑɐæʌəɜɚɝɘɞɤ")
_VOWELS = _ROUNDED_VOWELS | _SPREAD | _OPEN
_STOPS = set("ptkbdgcɟqʔ")
_MARKS = set("ˈˌːˑ‿͡^-")

VOWEL_WEIGHT = 1.0
CONSONANT_WEIGHT = 0.6
STOP_WEIGHT = 0.75
LONG_FACTOR = 1.4  # ː
STRESS_FACTOR = 1.25  # ˈ before the syllable
CLAUSE_PAUSE_WEIGHT = 1.5  # silence between clauses, in vowel units


def _core(symbol: str) -> str:
    """The phoneme without stress, length, tie marks and combining diacritics."""
    return "".join(ch for ch in symbol if ch not in _MARKS and not unicodedata.combining(ch))


def viseme_of(symbol: str) -> Viseme:
    """Viseme class of one IPA phoneme: its first letter decides ("oʊ" is rounded), except
    that a diphthong from schwa takes its target ("əʊ" is rounded)."""
    core = _core(symbol)
    if not core:
        return Viseme.OTHER
    first = core[1] if len(core) > 1 and core[0] in "əɐ" and core[1] in _VOWELS else core[0]
    if first in _CLOSED:
        return Viseme.CLOSED
    if first in _ROUNDED_VOWELS or first in _ROUNDED_GLIDES:
        return Viseme.ROUNDED
    if first in _SPREAD:
        return Viseme.SPREAD
    if first in _OPEN:
        return Viseme.OPEN
    return Viseme.OTHER


def _weight(symbol: str, stressed: bool) -> float:
    core = _core(symbol)
    if not core:
        return 0.0
    if core[0] in _VOWELS:
        weight = VOWEL_WEIGHT * (1.5 if len(core) > 1 and core[1] in _VOWELS else 1.0)
        if "ː" in symbol:
            weight *= LONG_FACTOR
        return weight * (STRESS_FACTOR if stressed else 1.0)
    return STOP_WEIGHT if core[0] in _STOPS else CONSONANT_WEIGHT


@lru_cache(maxsize=64)
def espeak_voice(language: str) -> str:
    """espeak-ng voice name for an ISO 639-1 language, or UnsupportedLanguageError."""
    code = normalize(language)
    done = subprocess.run([espeak_binary(), f"--voices={code}"], capture_output=True, text=True, check=False)
    listed = [row.split()[1] for row in done.stdout.splitlines()[1:] if len(row.split()) > 1]
    if not listed:
        raise UnsupportedLanguageError(f"espeak-ng has no voice for '{code}'")
    return code if code in listed else listed[0]


@lru_cache(maxsize=256)
def espeak_ipa(text: str, language: str) -> tuple[tuple[str, ...], ...]:
    """IPA phonemes of ``text`` per clause: a tuple of clauses, each a tuple of phonemes.

    Word boundaries are dropped (speech is continuous inside a clause).
    """
    if not text.strip():
        return ()
    cmd = [espeak_binary(), "-q", "--ipa", "--sep=_", "-v", espeak_voice(language), "--stdin"]
    done = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True)
    clauses = []
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        phonemes = tuple(p for word in line.split() for p in word.split("_") if _core(p))
        if phonemes:
            clauses.append(phonemes)
    return tuple(clauses)


def phonemes_for(text: str, language: str, duration: float) -> list[TimedPhoneme]:
    """Phonemes of ``text`` spoken in ``language``, spread over ``duration`` seconds.

    The first phoneme starts at 0 and the last ends at ``duration``; clause breaks leave
    short gaps. Timing is an approximation from relative phoneme weights (see module doc).
    """
    clauses = espeak_ipa(text, language)
    if duration <= 0 or not clauses:
        return []
    items: list[tuple[str | None, float]] = []  # (symbol or None for a pause, weight)
    for number, clause in enumerate(clauses):
        if number:
            items.append((None, CLAUSE_PAUSE_WEIGHT))
        for symbol in clause:
            items.append((symbol, _weight(symbol, stressed="ˈ" in symbol)))
    total = sum(weight for _, weight in items)
    scale = duration / total
    result: list[TimedPhoneme] = []
    clock = 0.0
    for symbol, weight in items:
        end = clock + weight * scale
        if symbol is not None:
            result.append(TimedPhoneme(_core(symbol) or symbol, clock, end, viseme_of(symbol)))
        clock = end
    last = result[-1]
    result[-1] = TimedPhoneme(last.symbol, last.start, duration, last.viseme)
    return result
