"""Neural translation with transformers seq2seq models (studio profile).

Families: NLLB-200 (default ``facebook/nllb-200-distilled-600M``), M2M100, MADLAD-400
(T5) and Marian (opus-mt, one model per language pair, loaded on first use). Lines are
translated in batches; when a line has a duration budget the model returns an n-best
list (beam search, ``num_candidates`` beams and sequences) and the candidate whose
estimated spoken duration is closest to the budget is kept (models.translate.length).

On a GPU the model runs in bfloat16; on the CPU in float32.
"""

from __future__ import annotations

import hashlib
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import langcodes

from models.languages import normalize
from models.translate import codes
from models.translate.length import Candidate, pick_by_budget
from polydub.errors import BackendUnavailableError, UnsupportedLanguageError

DEFAULT_MODELS = {
    "nllb": "facebook/nllb-200-distilled-600M",
    "m2m100": "facebook/m2m100_418M",
    "madlad": "google/madlad400-3b-mt",
    "marian": "Helsinki-NLP/opus-mt-{src}-{tgt}",
}
FAMILIES = tuple(DEFAULT_MODELS)
INSTALL_HINT = "pip install transformers sentencepiece torch"


def _torch():
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"the seq2seq translator needs {exc.name}: {INSTALL_HINT}") from exc
    return torch


class _Loaded:
    """A tokenizer + model pair, with a stable identity for cache keys."""

    def __init__(self, model_id: str, device: str, dtype: Any):
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_id)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(model_id, dtype=dtype).to(device).eval()
        except (OSError, ValueError) as exc:
            raise BackendUnavailableError(
                f"cannot load translation model '{model_id}': {exc}. Download it first "
                f"(huggingface-cli download {model_id}) or pass a local folder."
            ) from exc
        config = self.model.config.to_json_string(use_diff=False).encode()
        self.identity = f"{Path(model_id).name if Path(model_id).is_dir() else model_id}@{hashlib.sha256(config).hexdigest()[:12]}"

    def tokens(self) -> list[str]:
        """Every token string the tokenizer knows: vocabulary, special tokens, M2M100's ``__xx__`` language tokens."""
        tokenizer = self.tokenizer
        languages = list(getattr(tokenizer, "lang_code_to_token", {}).values())
        return list(tokenizer.get_vocab()) + list(getattr(tokenizer, "all_special_tokens", [])) + languages


class Seq2SeqTranslator:
    """Translator backed by a transformers seq2seq model of one family."""

    name = "seq2seq"

    def __init__(
        self,
        family: str = "nllb",
        model: str | None = None,
        device: str | None = None,
        batch_size: int = 8,
        num_candidates: int = 4,
        max_new_tokens: int = 256,
        score_margin: float | None = 1.0,
    ):
        if family not in DEFAULT_MODELS:
            raise BackendUnavailableError(f"unknown seq2seq family '{family}' (available: {', '.join(FAMILIES)})")
        torch = _torch()
        self.family = family
        self.model_id = model or DEFAULT_MODELS[family]
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.batch_size = max(1, batch_size)
        self.num_candidates = max(1, num_candidates)
        self.max_new_tokens = max_new_tokens
        self.score_margin = score_margin
        self._pairs: dict[str, _Loaded] = {}
        self._languages: dict[str, str] | None = None
        self._main = None if family == "marian" else _Loaded(self.model_id, self.device, self.dtype)

    @property
    def version(self) -> str:
        loaded = self._main.identity if self._main else self.model_id
        return f"seq2seq-{self.family}/{loaded}/transformers{package_version('transformers')};n{self.num_candidates}"

    def _pair(self, source: str, target: str) -> _Loaded:
        """The loaded model for source→target (the one model, or the pair's Marian model)."""
        if self._main is not None:
            return self._main
        model_id = codes.marian_model_id(source, target, self.model_id)
        if model_id not in self._pairs:
            try:
                self._pairs[model_id] = _Loaded(model_id, self.device, self.dtype)
            except BackendUnavailableError as exc:
                raise UnsupportedLanguageError(f"no Marian model for {source}→{target}: {exc}") from exc
        return self._pairs[model_id]

    def languages(self) -> dict[str, str]:
        """ISO tag -> the model's language code/token (empty for a per-pair Marian model); read once."""
        if self._main is None:
            return {}
        if self._languages is None:
            if self.family == "nllb":
                self._languages = codes.nllb_table(self._main.tokens())
            else:
                self._languages = codes.family_languages(self.family, self._main.tokens())
        return self._languages

    def supported_targets(self, source: str) -> list[str]:
        """Targets reachable from ``source``: all the model's languages, or the loaded Marian pairs."""
        source = normalize(source)
        if self._main is None:
            return sorted({normalize(m.rsplit("-", 1)[-1]) for m in self._pairs if m.rsplit("-", 2)[-2] == source})
        return sorted(tag for tag in self.languages() if tag != source and "-" not in tag)

    def check_pair(self, source: str, target: str) -> None:
        """Raise UnsupportedLanguageError unless the model can translate source→target."""
        src, tgt = normalize(source), normalize(target)
        if src == tgt:
            raise UnsupportedLanguageError(f"source and target are the same language ({src})")
        if self._main is None:
            self._pair(src, tgt)
            return
        for code in (src, tgt):
            self._token(code)

    def _token(self, language: str) -> str:
        """The model's code/token for ``language``; UnsupportedLanguageError if it has none."""
        known = self.languages()
        tag = normalize(language)
        base = langcodes.Language.get(tag)
        for key in (tag, f"{base.language}-{base.script}" if base.script else "", base.language):
            if key in known:
                return known[key]
        raise UnsupportedLanguageError(
            f"{self.model_id} does not know '{tag}'; it knows {len(known)} languages, e.g. {', '.join(sorted(known)[:12])}"
        )

    def translate(
        self, texts: list[str], source: str, target: str, budgets: list[float | None] | None = None
    ) -> list[str]:
        """One translation per text, in order; blank texts stay "".

        ``budgets`` (seconds per line, or None) choose among n-best candidates the one
        whose estimated spoken length is closest to the line's budget.
        """
        if budgets is not None and len(budgets) != len(texts):
            raise ValueError(f"{len(budgets)} budgets for {len(texts)} texts")
        nbest = self.candidates(texts, source, target, n=self.num_candidates if budgets else 1)
        tgt = normalize(target)
        results = []
        for i, cands in enumerate(nbest):
            if not cands:
                results.append("")
                continue
            pick = pick_by_budget(cands, budgets[i] if budgets else None, tgt, self.score_margin)
            results.append(cands[pick].text)
        return results

    def candidates(self, texts: list[str], source: str, target: str, n: int | None = None) -> list[list[Candidate]]:
        """Up to ``n`` translations per text (best first) with their scores; [] for a blank text."""
        self.check_pair(source, target)
        src, tgt = normalize(source), normalize(target)
        loaded = self._pair(src, tgt)
        n = n or self.num_candidates
        cleaned = [" ".join(text.split()) for text in texts]
        todo = [i for i, text in enumerate(cleaned) if text]
        out: list[list[Candidate]] = [[] for _ in texts]
        for begin in range(0, len(todo), self.batch_size):
            batch = todo[begin : begin + self.batch_size]
            for i, cands in zip(batch, self._generate(loaded, [cleaned[i] for i in batch], src, tgt, n)):
                out[i] = cands
        return out

    def _generate(self, loaded: _Loaded, texts: list[str], src: str, tgt: str, n: int) -> list[list[Candidate]]:
        """One batched beam search; ``n`` candidates per input."""
        torch = _torch()
        tokenizer, kwargs = loaded.tokenizer, {}
        if self.family == "nllb":
            tokenizer.src_lang = self._token(src)
            kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(self._token(tgt))
        elif self.family == "m2m100":
            tokenizer.src_lang = codes.m2m_code(src)
            kwargs["forced_bos_token_id"] = tokenizer.get_lang_id(codes.m2m_code(tgt))
        elif self.family == "madlad":
            texts = [f"{self._token(tgt)} {text}" for text in texts]
        elif self.family == "marian":
            prefixes = codes.family_languages("marian", loaded.tokens())
            if prefixes:  # a multi-target model: the target token goes first
                texts = [f"{prefixes.get(tgt) or prefixes[tgt.split('-')[0]]} {text}" for text in texts]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        longest = int(inputs["input_ids"].shape[1])
        with torch.inference_mode():
            generated = loaded.model.generate(
                **inputs,
                **kwargs,
                num_beams=max(n, 1),
                num_return_sequences=n,
                max_new_tokens=min(self.max_new_tokens, 2 * longest + 16),
                output_scores=True,
                return_dict_in_generate=True,
            )
        decoded = tokenizer.batch_decode(generated.sequences, skip_special_tokens=True)
        beam_scores = getattr(generated, "sequences_scores", None)  # absent for greedy search (n == 1)
        scores = beam_scores.tolist() if beam_scores is not None else [0.0] * len(decoded)
        grouped = []
        for k in range(len(texts)):
            group = [Candidate(" ".join(decoded[j].split()), float(scores[j])) for j in range(k * n, (k + 1) * n)]
            grouped.append(sorted(group, key=lambda c: -c.score))
        return grouped


def check(model: str | None = None, family: str = "nllb") -> list:
    """Preflight for ``polydub doctor``: packages, weights in the HF cache, the model's licence."""
    from models.licences import licence_checks
    from models.preflight import hf_cache_check, package_check

    stage = "translate"
    checks = [package_check(stage, "transformers", "transformers"), package_check(stage, "sentencepiece", "sentencepiece")]
    model_id = model or DEFAULT_MODELS[family]
    if "{" in model_id:
        model_id = codes.marian_model_id("en", "es", model_id)
    checks.append(hf_cache_check(stage, model_id))
    checks.extend(licence_checks(stage, "seq2seq", {"model": model_id, "family": family}))
    return checks
