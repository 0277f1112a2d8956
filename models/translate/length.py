"""How long a line of text takes to say, and picking the translation that fits a time budget.

The estimate (seconds) = syllables / syllable rate of the language + pauses.

- Syllables: in alphabetic scripts, groups of consecutive vowel letters (accents
  stripped, so "canción" has the groups a, io -> 2 ... close to its 2 syllables); a
  digit counts one. Han characters and kana count one each (one syllable/mora per
  character). Other scripts (abjads, abugidas) count letters / 2.5, the usual
  letters-per-syllable of those languages.
- Rates: average syllables per second measured in read speech by Pellegrino, Coupé &
  Marsico (2011), "A cross-language perspective on speech information rate",
  Language 87(3): en 6.19, de 5.97, es 7.82, fr 7.18, it 6.99, ja 7.84, zh 5.18;
  other languages use ``DEFAULT_RATE``.
- Pauses: 0.15 s after a comma-like mark, 0.3 s after a sentence end inside the line.

The estimate is only ever compared between candidates of the same line, so its
absolute error matters less than its ranking.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from models.languages import normalize

SYLLABLES_PER_SECOND = {"en": 6.19, "de": 5.97, "es": 7.82, "fr": 7.18, "it": 6.99, "ja": 7.84, "zh": 5.18}
DEFAULT_RATE = 6.6  # mean of the rates above
LETTERS_PER_SYLLABLE = 2.5
SHORT_PAUSE_S = 0.15
SENTENCE_PAUSE_S = 0.3

_VOWELS = "aeiouyæøœåαεηιουωаеёиоуыэюяіїєў"
_VOWEL_GROUPS = re.compile(f"[{_VOWELS}]+")
_SHORT_MARKS = re.compile(r"[,;:\u3001\uff0c]")
_SENTENCE_ENDS = re.compile(r"[.!?\u3002\uff01\uff1f]+(?=\s*\S)")


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def count_syllables(text: str) -> float:
    """Approximate syllables of ``text`` in any script (see the module notes)."""
    total = 0.0
    other_letters = 0
    for word in re.findall(r"\w+", _strip_accents(text.lower())):
        total += sum(ch.isdigit() for ch in word)
        alphabetic = "".join(ch for ch in word if ch.isalpha() and _is_alphabetic(ch))
        if alphabetic:
            total += max(1, len(_VOWEL_GROUPS.findall(alphabetic)))
        for ch in word:
            if ch.isalpha() and not _is_alphabetic(ch):
                if _is_syllabic_char(ch):
                    total += 1
                else:
                    other_letters += 1
    return total + other_letters / LETTERS_PER_SYLLABLE


def _is_alphabetic(ch: str) -> bool:
    """Latin, Greek or Cyrillic letter (scripts where vowel groups approximate syllables)."""
    name = unicodedata.name(ch, "")
    return name.startswith(("LATIN", "GREEK", "CYRILLIC"))


def _is_syllabic_char(ch: str) -> bool:
    """Han ideograph, kana or Hangul syllable: about one syllable each."""
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA", "HANGUL SYLLABLE"))


def estimate_speech_seconds(text: str, language: str) -> float:
    """Estimated time (s) to say ``text`` at an average speaking rate of ``language``."""
    if not text.strip():
        return 0.0
    code = normalize(language).split("-")[0]
    rate = SYLLABLES_PER_SECOND.get(code, DEFAULT_RATE)
    pauses = SHORT_PAUSE_S * len(_SHORT_MARKS.findall(text)) + SENTENCE_PAUSE_S * len(_SENTENCE_ENDS.findall(text))
    return count_syllables(text) / rate + pauses


@dataclass(frozen=True)
class Candidate:
    """One n-best translation: its text and the model's length-normalised log-probability."""

    text: str
    score: float


def pick_by_budget(candidates: list[Candidate], budget_s: float | None, language: str, score_margin: float | None = 1.0) -> int:
    """Index of the candidate whose estimated spoken duration is closest to ``budget_s``.

    Only candidates whose score is within ``score_margin`` of the best one compete (a
    much less likely translation is not worth a better fit; ``None`` lets all compete).
    Without a budget, or on a tie, the higher-scored candidate wins. Empty texts never win
    over a non-empty one.
    """
    if not candidates:
        raise ValueError("no candidates to choose from")
    best_score = max(c.score for c in candidates)
    order = sorted(range(len(candidates)), key=lambda i: -candidates[i].score)
    if budget_s is None or budget_s <= 0:
        return order[0]
    eligible = [i for i in order if score_margin is None or candidates[i].score >= best_score - score_margin]
    non_empty = [i for i in eligible if candidates[i].text.strip()] or eligible
    return min(non_empty, key=lambda i: abs(estimate_speech_seconds(candidates[i].text, language) - budget_s))
