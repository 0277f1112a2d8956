"""Language codes of the transformers translation models, mapped from and to ISO 639-1.

Each model family names languages its own way:

- NLLB-200: ISO 639-3 + ISO 15924 script, ``spa_Latn``, ``zho_Hant``, ``arb_Arab``;
- M2M100: ISO 639-1 where one exists, ``es``, as the token ``__es__``;
- MADLAD-400: a target prefix token ``<2es>`` put before the source text;
- Marian (opus-mt): one model per pair, ``Helsinki-NLP/opus-mt-en-es``; models with
  several targets take a ``>>spa<<`` prefix token.

The NLLB table is not written by hand: each code the tokenizer knows is mapped to a
BCP 47 tag with ``langcodes`` (which folds individual languages into their
macrolanguage, ``arb`` -> ``ar``, ``pes`` -> ``fa``), and where several codes share a
tag (``zho_Hans``/``zho_Hant``) the one in the language's usual script wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import langcodes

from models.languages import normalize
from polydub.errors import UnsupportedLanguageError

NLLB_CODE = re.compile(r"^([a-z]{3})_([A-Z][a-z]{3})$")
M2M_TOKEN = re.compile(r"^__([a-z]{2,3}(?:-[A-Za-z]+)?)__$")
MADLAD_TOKEN = re.compile(r"^<2([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)>$")
MARIAN_TOKEN = re.compile(r"^>>([a-z]{2,3}(?:_[A-Za-z]+)?)<<$")


def _tag(code: str) -> str | None:
    """The normalized BCP 47 tag of a model's bare language code, or None if unknown."""
    try:
        return langcodes.standardize_tag(code, macro=True)
    except (ValueError, LookupError):
        return None


def _script(tag: str) -> str:
    """The script a language is usually written in (``zh`` -> ``Hans``, ``sr`` -> ``Cyrl``)."""
    return langcodes.Language.get(tag).maximize().script or ""


def nllb_table(codes: Iterable[str]) -> dict[str, str]:
    """ISO tag -> NLLB code for the given NLLB codes (one code per tag, usual script first).

    A code in a script other than the usual one is also reachable by a script-qualified
    tag, e.g. ``zh-Hant`` -> ``zho_Hant``.
    """
    table: dict[str, str] = {}
    scored: dict[str, tuple[int, str]] = {}
    for code in sorted(codes):
        match = NLLB_CODE.match(code)
        if not match:
            continue
        tag = _tag(match.group(1))
        if tag is None:
            continue
        script = match.group(2)
        table.setdefault(f"{tag}-{script}", code)
        usual = _script(tag)
        rank = (0 if script == usual else 1) + (0 if langcodes.Language.get(tag).to_alpha3() == match.group(1) else 2)
        if tag not in scored or rank < scored[tag][0]:
            scored[tag] = (rank, code)
    table.update({tag: code for tag, (_, code) in scored.items()})
    return table


def nllb_code(language: str, codes: Iterable[str]) -> str:
    """The NLLB code for an ISO 639-1 ``language`` among the model's ``codes`` ("es" -> "spa_Latn")."""
    table = nllb_table(codes)
    tag = normalize(language)
    if tag in table:
        return table[tag]
    base = langcodes.Language.get(tag)
    if base.script and f"{base.language}-{base.script}" in table:
        return table[f"{base.language}-{base.script}"]
    if base.language in table:
        return table[base.language]
    raise UnsupportedLanguageError(f"the NLLB model has no language code for '{language}'")


def family_languages(family: str, tokens: Iterable[str]) -> dict[str, str]:
    """ISO tag -> the model's language token, read from the tokenizer's vocabulary/special tokens."""
    tokens = list(tokens)
    if family == "nllb":
        return nllb_table(tokens)
    pattern = {"m2m100": M2M_TOKEN, "madlad": MADLAD_TOKEN, "marian": MARIAN_TOKEN}.get(family)
    if pattern is None:
        raise ValueError(f"unknown model family '{family}'")
    table: dict[str, str] = {}
    for token in sorted(tokens):
        match = pattern.match(token)
        if not match:
            continue
        tag = _tag(match.group(1).replace("_", "-"))
        if tag is not None:
            table.setdefault(tag, token)
    return table


def m2m_code(language: str) -> str:
    """M2M100's language code: ISO 639-1 ("es"); the tokenizer's token is ``__es__``."""
    return langcodes.Language.get(normalize(language)).language


def madlad_prefix(language: str) -> str:
    """The MADLAD-400 target prefix for ``language`` ("es" -> "<2es>")."""
    return f"<2{normalize(language)}>"


def marian_model_id(source: str, target: str, template: str = "Helsinki-NLP/opus-mt-{src}-{tgt}") -> str:
    """The Marian (opus-mt) model for one pair; ``template`` may be a local folder pattern."""
    src = langcodes.Language.get(normalize(source)).language
    tgt = langcodes.Language.get(normalize(target)).language
    return template.format(src=src, tgt=tgt)
