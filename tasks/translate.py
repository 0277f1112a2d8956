"""Translation task."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE

from models.data import Lines, TranslatedLine, TranslatedLines
from polydub.workdir import WorkDir
from tasks import backends
from tasks.retry import STAGE_RETRIES
from tasks.stage import run_cached


@task(name="translate", cache_policy=NONE, **STAGE_RETRIES)
def translate(work: WorkDir, lines: Lines, source: str, target: str, backend: str, options: backends.Options = ()) -> TranslatedLines:
    """Every line translated, one target line per source line."""
    translator = backends.translator(backend, options)
    translator.check_pair(source, target)

    def compute(folder: Path) -> TranslatedLines:
        budgets = [line.end - line.start for line in lines.lines]  # each line's duration: the length hint
        texts = translator.translate([line.text for line in lines.lines], source, target, budgets=budgets)
        return TranslatedLines(
            language=target,
            lines=[
                TranslatedLine(index=l.index, speaker=l.speaker, start=l.start, end=l.end, source_text=l.text, target_text=t)
                for l, t in zip(lines.lines, texts, strict=True)
            ],
        )

    return run_cached(work, "translate", TranslatedLines, compute, inputs=[lines], params={"source": source}, backend=translator.version, language=target)
