"""`polydub licenses`: every model, data package and tool a run would use, with its licence.

The backends come from the same ``Backends`` a run uses (profile plus overrides), and the
facts from ``models.licences``; this module resolves them stage by stage and renders a
table or JSON. The installed version and the licence the installed package states are
shown beside each pip or Debian component, so a claim can be checked on the machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models import licences
from models.licences import Component
from polydub.config import Backends, Profile
from polydub.errors import PolydubError

# every stage that loads something, in pipeline order, with its Backends field (None: no backend choice)
STAGES: tuple[tuple[str, Optional[str]], ...] = (
    ("ingest", None), ("transcribe", "transcribe"), ("diarize", "diarize"), ("separate", "separate"), ("faces", "faces"),
    ("translate", "translate"), ("synthesize", "synthesize"), ("lipsync", "lipsync"), ("quality", None), ("deliver", None),
)
_MODE_PACKAGE = re.compile(r"/apertium/(apertium-[A-Za-z0-9_.+-]+)/")
_COLOURS = {licences.YES: "green", licences.NO: "red", licences.CONDITIONAL: "yellow", licences.UNKNOWN: "yellow"}


@dataclass(frozen=True)
class Row:
    """One component of one stage (``component`` None: the stage loads nothing with this backend)."""

    stage: str
    backend: str
    component: Optional[Component]


def choose_backends(profile: Profile, stage_backends: dict[str, str] | None = None, models: dict[str, str] | None = None) -> Backends:
    """The profile's backends with per-stage overrides, as a run would build them; unknown stages are an error."""
    stages = [name for name, _ in STAGES if name in Backends.model_fields]
    unknown = sorted(set(stage_backends or {}) - set(stages))
    if unknown:
        raise PolydubError(f"--backend: no stage named {', '.join(unknown)} (stages with a backend: {', '.join(stages)})")
    return Backends.for_profile(profile, **(stage_backends or {}), models=dict(models or {}))


def apertium_packages(source: str = "en", targets: Sequence[str] = ()) -> list[str]:
    """The Debian packages of the installed Apertium pairs from ``source`` (to ``targets`` only, when given)."""
    from models.translate.apertium import ApertiumTranslator

    try:
        translator = ApertiumTranslator()
    except PolydubError:  # apertium is not installed: the generic data entry stands in
        return []
    found: list[str] = []
    for (src, tgt), mode in sorted(translator.pairs.items()):
        if (source not in ("", "auto") and src != source) or (targets and tgt not in targets):
            continue
        try:
            match = _MODE_PACKAGE.search((translator.modes_dir / f"{mode}.mode").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def listing(backends: Backends, source_language: str = "en", targets: Sequence[str] = ()) -> list[Row]:
    """Every stage's components for ``backends``; PolydubError for a backend the registry has no facts for."""
    rows: list[Row] = []
    for stage, field in STAGES:
        backend = getattr(backends, field) if field else ""
        pairs = apertium_packages(source_language, targets) if stage == "translate" and backend == "apertium" else ()
        try:
            found = licences.stage_components(stage, backend, dict(backends.options(stage)), apertium_packages=pairs)
        except KeyError as exc:
            raise PolydubError(exc.args[0]) from None
        if found:
            rows.extend(Row(stage, backend, c) for c in found)
        else:
            rows.append(Row(stage, backend, None))
    return rows


def restricted(rows: Sequence[Row]) -> list[Component]:
    """The distinct components whose commercial use is not plainly allowed, in listing order."""
    seen: dict[str, Component] = {}
    for row in rows:
        if row.component is not None and row.component.restricted:
            seen.setdefault(row.component.key, row.component)
    return list(seen.values())


def summary_line(profile: Profile, rows: Sequence[Row]) -> str:
    """'studio profile: 31 components, 7 restricted for commercial use: …'."""
    total = len({r.component.key for r in rows if r.component is not None})
    limited = restricted(rows)
    names = "; ".join(f"{c.name} ({c.commercial})" for c in limited)
    return f"{profile.value} profile: {total} components, {len(limited)} restricted for commercial use" + (f": {names}" if names else "")


def as_json(profile: Profile, backends: Backends, rows: Sequence[Row]) -> dict[str, Any]:
    """The listing for machines: backends, one entry per stage component, the restricted keys."""
    entries = []
    for row in rows:
        entry: dict[str, Any] = {"stage": row.stage, "backend": row.backend, "component": None}
        if row.component is not None:
            component = row.component
            found = licences.installed(component)
            entry["component"] = {
                **asdict(component), "source": component.source, "restricted": component.restricted,
                "installed": {"version": found[0], "stated_licence": found[1]} if found else None,
            }
        entries.append(entry)
    limited = restricted(rows)
    return {
        "profile": profile.value,
        "backends": backends.model_dump(mode="json"),
        "stages": entries,
        "restricted": [c.key for c in limited],
        "summary": summary_line(profile, rows),
    }


def _commercial_cell(component: Component) -> str:
    word = f"[{_COLOURS[component.commercial]}]{component.commercial}[/]"
    said = [component.condition] if component.condition else []
    if component.gated:
        said.append("gated: accept its terms on the hub")
    return word + (f": {escape('; '.join(said))}" if said else "")


def _installed_cell(component: Component) -> str:
    if component.origin not in ("pip", "debian"):
        return "[dim]n/a[/]"
    found = licences.installed(component)
    if found is None:
        return "[dim]not installed[/]"
    version, stated = found
    return escape(f"{version} ({stated or 'no licence stated'})")


def print_table(profile: Profile, rows: Sequence[Row], console: Console | None = None) -> None:
    """The rich table (stage, component, source, licence, commercial use, installed) and the summary line."""
    out = console or Console()
    table = Table(title=f"polydub licences: {profile.value} profile")
    for column in ("stage", "component", "source", "licence", "commercial use", "installed"):
        table.add_column(column, overflow="fold")
    previous = None
    for row in rows:
        first = row.stage != previous
        if first and previous is not None:
            table.add_section()
        previous = row.stage
        stage = (f"{row.stage}\n[dim]{escape(row.backend)}[/]" if row.backend else row.stage) if first else ""
        if row.component is None:
            table.add_row(stage, "[dim]nothing loaded[/]", "", "", "", "")
            continue
        c = row.component
        table.add_row(stage, escape(c.name), escape(c.source), escape(c.licence), _commercial_cell(c), _installed_cell(c))
    out.print(table)
    out.print(summary_line(profile, rows), highlight=False, soft_wrap=True)
    out.print("These are licence facts to check, not legal advice; the url of each entry is in --json.", style="dim")
