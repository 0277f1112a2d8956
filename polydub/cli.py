"""The `polydub` command line: localize a video, build the sample, run the demo."""

from __future__ import annotations

import os

# Offline defaults, set before Prefect or any model library is imported (the
# `--verbose` callback below chooses Prefect's log level, also before its import).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# a busy laptop can take longer than Prefect's default 20 s to start the temporary API server
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import sys
import warnings
from pathlib import Path
from typing import Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from polydub.config import LANGUAGE_STAGES, MAX_DURATION_S, SOURCE_STAGES, LocalizeParams, Profile
from polydub.errors import PolydubError, write_error_message
from polydub.redact import install as _install_redaction, scrub

_install_redaction()  # no token in any log line, from here or from Prefect

# third-party deprecation chatter that users cannot act on
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="polydub: dub a video into other languages.")
console = Console(stderr=True)


@app.callback()
def _global_options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's logs (flow and task runs, tracebacks)."),
) -> None:
    """polydub: dub a video into other languages."""
    # errors reach the user as one `error:` line; Prefect's own tracebacks only with -v
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "CRITICAL")


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {scrub(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def key_values(items: list[str], option: str) -> dict[str, str]:
    """``["a=1", "b.c=2"]`` → ``{"a": "1", "b.c": "2"}``; a malformed item is a one-line error naming the option."""
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise PolydubError(f"{option} takes STAGE=VALUE, got '{item}'")
        pairs[key.strip()] = value.strip()
    return pairs


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "parameters"
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")  # our ValueErrors read as they are
    return f"{where}: {message}"


def run_localize(params: LocalizeParams) -> dict[str, Any]:
    """Run the `localize` flow with a live progress display; raises PolydubError on failure."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from polydub.preflight import preflight

    preflight(params)  # fail in a second, before Prefect is imported or started
    from flows.localize import localize
    from polydub import progress as events
    total = len(SOURCE_STAGES) + (len(LANGUAGE_STAGES) + 1) * len(params.targets)  # + each language's review page
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        job = bar.add_task("starting Prefect", total=total)

        def on_event(event: events.StageEvent) -> None:
            where = event.stage + (f" · {event.language}" if event.language else "")
            if event.status == "started":
                bar.update(job, description=where)
            elif event.status == "progress":
                bar.update(job, description=f"{where} {event.fraction:.0%}")
            elif event.status == "failed":
                bar.console.print(f"  [red]✗[/] {where} failed after {event.seconds:.1f} s")
            else:
                bar.advance(job)
                bar.console.print(f"  [green]✓[/] {where} {event.status} in {event.seconds:.1f} s", highlight=False)

        events.add_listener(on_event)
        try:
            report = localize(params)
        except BaseException:
            bar.update(job, description="[red]stopped")
            raise
        finally:
            events.remove_listener(on_event)
        bar.update(job, description="done")
        return report


def print_summary(report: dict[str, Any], out_dir: Path) -> None:
    """A short table of what each language produced and the headline measures."""
    src = report["source"]["measures"]
    out = Console()
    out.print(
        f"source: {src['speakers_found']} speakers, {src['lines']} lines"
        + (f", transcript WER {src['transcript_wer']:.3f}" if src["transcript_wer"] is not None else "")
        + (f", DER {src['diarization_error_rate']:.3f}" if src["diarization_error_rate"] is not None else "")
    )
    for fix in report["source"].get("picture_fixes") or []:
        out.print(f"picture: {fix}", highlight=False)
    faces = report["source"].get("faces")
    if not report["source"]["media"].get("has_video", True):
        out.print("audio-only source: dubbed audio and subtitles, no lip sync", highlight=False)
    elif faces is not None:
        seen = [f"{s['speaker']}={s['face']}" for s in faces["speakers"] if s["on_screen"]]
        unseen = [s["speaker"] for s in faces["speakers"] if not s["on_screen"]]
        out.print(
            f"faces: {len(faces['identities'])} people in {len(faces['shots'])} shots"
            + (f"; speaking faces {', '.join(seen)}" if seen else "")
            + (f"; off-screen {', '.join(unseen)}" if unseen else ""),
            highlight=False,
        )
    table = Table(title="polydub outputs")
    for column in ("lang", "lines audible", "speed", "over bound", "LUFS dub/src", "lip sync"):
        table.add_column(column)
    files = []
    for lang, entry in report["languages"].items():
        if entry["status"] == "skipped":
            table.add_row(lang, f"[yellow]skipped: {entry['reason']}[/]", "", "", "", "")
            continue
        if entry["status"] != "completed":
            table.add_row(lang, f"[red]failed: {entry['error']}[/]", "", "", "", "")
            continue
        m = entry["measures"]
        table.add_row(
            lang,
            f"{m['lines_audible']}/{m['lines_total']}",
            f"{m['speed_min']:.2f}–{m['speed_max']:.2f}",
            str(len(m["lines_over_bound"])),
            f"{m['output_lufs']:.1f}/{m['source_lufs']:.1f}",
            _lip_sync_cell(entry),
        )
        files += [entry["outputs"][kind] for kind in ("video", "srt", "vtt")]
    out.print(table)
    out.print("outputs:\n" + "\n".join(f"  {f}" for f in files), highlight=False, soft_wrap=True)
    out.print(f"report: {out_dir / 'report.json'}", highlight=False, soft_wrap=True)
    for lang, entry in report["languages"].items():  # the review page of each language (None: it failed)
        page = entry.get("outputs", {}).get("report_html")
        if page:
            out.print(f"report: {page}", highlight=False, soft_wrap=True)
        elif entry["status"] == "completed":
            out.print(f"report: {lang} review page not written (see the log)", highlight=False, soft_wrap=True)


def _lip_sync_cell(entry: dict[str, Any]) -> str:
    """'on: sync 0.71 (source 0.10)' with the weakest speaking face's scores, or why lip sync is off."""
    lips = entry["measures"].get("lip_sync")
    if not lips or lips["status"] != "on":
        return entry["lip_sync"]
    scored = [f for f in lips["faces"] if f["sync_output"] is not None]
    if not scored:
        return "on"
    worst = min(scored, key=lambda f: f["sync_output"])
    source = f" (source {worst['sync_source']:.2f})" if worst["sync_source"] is not None else ""
    return f"on: sync {worst['sync_output']:.2f}{source}"


@app.command()
def localize(
    video: Path = typer.Argument(..., help="The video to localize."),
    to: str = typer.Option(..., "--to", help="Target languages, comma-separated ISO 639-1 codes (e.g. es,ca,eo)."),
    out: Path = typer.Option(Path("polydub-out"), "--out", help="Output folder."),
    profile: Profile = typer.Option(Profile.lite, "--profile", help="lite (CPU, nothing downloaded) or studio (GPU)."),
    source_language: str = typer.Option("en", "--from", help="Language spoken in the video, or 'auto' to detect it."),
    stage_backend: Optional[list[str]] = typer.Option(None, "--backend", help="STAGE=BACKEND, overriding the profile (repeatable), e.g. translate=apertium."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="STAGE=MODEL or STAGE.OPTION=VALUE (repeatable), e.g. translate=facebook/m2m100_418M."),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="Stage cache root (default ~/.cache/polydub/work)."),
    min_speed: float = typer.Option(0.85, help="Slowest allowed speed factor of a dubbed line."),
    max_speed: float = typer.Option(1.25, help="Fastest allowed speed factor of a dubbed line."),
    keep_original_audio: bool = typer.Option(False, help="Keep the original audio as a second track."),
    max_duration: float = typer.Option(MAX_DURATION_S, "--max-duration", min=1, help="Refuse sources longer than this many seconds."),
    reference_text: Optional[Path] = typer.Option(None, help="Reference transcript, to report the WER."),
    reference_rttm: Optional[Path] = typer.Option(None, help="Reference speaker turns (RTTM), to report the DER."),
    deliver_to: Optional[str] = typer.Option(None, "--deliver-to", help="Also copy the outputs and manifest.json to this folder or fsspec URL (s3://bucket/prefix)."),
) -> None:
    """Dub VIDEO into the target languages: DIR/<stem>.<lang>.mp4, .srt, .vtt and DIR/report.json."""
    try:
        params = LocalizeParams(
            video=str(video), targets=to, out_dir=str(out), profile=profile, source_language=source_language,
            stage_backends=key_values(stage_backend or [], "--backend"), models=key_values(model or [], "--model"),
            work_dir=str(work_dir) if work_dir else None, min_speed=min_speed, max_speed=max_speed,
            keep_original_audio=keep_original_audio, max_duration_s=max_duration,
            reference_text=str(reference_text) if reference_text else None,
            reference_rttm=str(reference_rttm) if reference_rttm else None,
            deliver_to=deliver_to,
        )
        report = run_localize(params)
    except PolydubError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(_validation_message(exc))
    except OSError as exc:  # disk full, read-only folder, no permission: one line naming the file
        _fail(write_error_message(exc))
    print_summary(report, out)


@app.command()
def sample(out: Path = typer.Argument(..., help="Folder to write the sample interview and its ground truth into.")) -> None:
    """Build the sample interview video with its script, RTTM and timings."""
    from polydub.sample import build_sample

    files = build_sample(out)
    Console().print(f"sample video: {files.video}\nscript: {files.script}\nspeaker turns: {files.rttm}")


@app.command()
def demo(
    out: Path = typer.Argument(Path("demo"), help="Folder for the sample and the dubbed outputs."),
    to: str = typer.Option("es,ca,eo", "--to", help="Target languages."),
) -> None:
    """Build the sample interview and localize it on the lite profile."""
    from polydub.sample import build_sample

    files = build_sample(out / "sample")
    Console().print(f"sample built: {files.video}")
    outputs = out / "output"
    try:
        params = LocalizeParams(
            video=str(files.video), targets=to, out_dir=str(outputs), work_dir=str(out / "work"),
            reference_text=str(files.reference_text), reference_rttm=str(files.rttm),
        )
        report = run_localize(params)
    except PolydubError as exc:
        _fail(str(exc))
    print_summary(report, outputs)


@app.command()
def watch(
    folder: Path = typer.Argument(..., help="The inbox folder to watch."),
    to: str = typer.Option("es", "--to", help="Target languages of each dropped video, comma-separated."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output root; a video's outputs go to OUT/<its name>/ (default: DIR-dubbed beside DIR)."),
    deliver_to: Optional[str] = typer.Option(None, "--deliver-to", help="Also deliver each job to this folder or fsspec URL (s3://bucket/prefix); a sub-folder per video."),
    source_language: str = typer.Option("en", "--from", help="Language spoken in the videos."),
    profile: Profile = typer.Option(Profile.lite, "--profile", help="lite or studio."),
    settle: float = typer.Option(5.0, "--settle", min=0, help="Seconds a file's size and mtime must hold still before it is announced."),
    once: bool = typer.Option(False, "--once", help="Announce the videos present now (once each has settled), then exit."),
) -> None:
    """Emit a `polydub.source.dropped` Prefect event for each new video in FOLDER (the `localize` trigger runs it)."""
    import logging

    from prefect.settings import PREFECT_API_URL

    from polydub.watch import DropOptions, watch_folder

    folder = folder.absolute()
    if not folder.is_dir():
        _fail(f"{folder} is not a folder")
    out = (out or folder.parent / f"{folder.name}-dubbed").absolute()
    if out.resolve().is_relative_to(folder.resolve()):
        _fail(f"the output folder {out} must not be inside the watched folder")
    if not PREFECT_API_URL.value():
        _fail("set PREFECT_API_URL to your Prefect server (events go to the server whose trigger runs `localize`)")
    try:
        params = LocalizeParams(video=str(folder), targets=to, source_language=source_language, profile=profile, deliver_to=deliver_to)
    except PolydubError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(_validation_message(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    options = DropOptions(tuple(params.targets), out, params.source_language, params.deliver_to, params.profile.value)
    say = Console()
    say.print(f"watching {folder} → {out} ({', '.join(params.targets)}); settle {settle:g} s", highlight=False)
    watch_folder(folder, options, settle, once, on_sent=lambda d: say.print(f"dropped {d.payload['path']} (event {d.id})", highlight=False))


@app.command()
def setup(
    gpu_slots: int = typer.Option(1, "--gpu-slots", min=1, help="How many language runs may use the GPUs at once."),
    gpu_pool_type: str = typer.Option("docker", "--gpu-pool-type", help="Type of the polydub-gpu pool: process, docker or kubernetes."),
) -> None:
    """Create the work pools polydub-cpu and polydub-gpu and the concurrency limit 'polydub-gpu' (PREFECT_API_URL's server)."""
    from polydub.config import GPU_CONCURRENCY_LIMIT
    from polydub.setup import CPU_POOL, GPU_POOL, ensure_gpu_limit, ensure_work_pool

    out = Console()
    try:
        for pool, kind in ((CPU_POOL, "process"), (GPU_POOL, gpu_pool_type)):
            out.print(f"work pool '{pool}' ({kind}): {ensure_work_pool(pool, kind)}")
        done = ensure_gpu_limit(gpu_slots)
    except Exception as exc:  # server unreachable, refused, bad type: one line, not a traceback
        _fail(f"polydub setup failed: {exc}")
    out.print(f"concurrency limit '{GPU_CONCURRENCY_LIMIT}' {done}: {gpu_slots} slot(s)")


@app.command()
def doctor(
    profile: Profile = typer.Option(Profile.lite, "--profile", help="Which profile's needs to check."),
    source_language: str = typer.Option("en", "--from", help="Source language (the lite profile checks its Apertium pairs)."),
    to: Optional[str] = typer.Option(None, "--to", help="Target languages to check the synthesizer speaks, e.g. es,de."),
    stage_backend: Optional[list[str]] = typer.Option(None, "--backend", help="STAGE=BACKEND, as for localize (repeatable)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="STAGE=MODEL or STAGE.OPTION=VALUE, as for localize (repeatable)."),
) -> None:
    """List, per stage, what the profile (with a run's --backend/--model choices) needs and whether it is here;
    exit 1 if a run would fail."""
    from models.languages import parse_targets
    from polydub.doctor import is_blocking, run_checks
    from polydub.licenses import choose_backends

    try:
        targets = parse_targets(to) if to else []
        backends = choose_backends(profile, key_values(stage_backend or [], "--backend"), key_values(model or [], "--model"))
    except PolydubError as exc:
        _fail(str(exc))
    checks = run_checks(profile, source_language, backends=backends, targets=targets)
    table = Table(title=f"polydub doctor: {profile.value} profile")
    for column in ("stage", "item", "", "detail", "fix"):
        table.add_column(column)
    for check in checks:
        mark = "[green]ok[/]" if check.ok else ("[red]missing[/]" if is_blocking(check) else "[yellow]note[/]")
        table.add_row(check.stage, check.item, mark, check.detail, check.fix)
    Console().print(table)
    blocking = [c for c in checks if is_blocking(c)]
    if blocking:
        console.print(f"[bold red]{len(blocking)} problem(s):[/] a {profile.value} run would fail", highlight=False)
        raise typer.Exit(code=1)
    Console().print(f"everything the {profile.value} profile needs is here", highlight=False)


@app.command()
def licenses(
    profile: Profile = typer.Option(Profile.lite, "--profile", help="Which profile's components to list."),
    stage_backend: Optional[list[str]] = typer.Option(None, "--backend", help="STAGE=BACKEND, as for localize (repeatable)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="STAGE=MODEL or STAGE.OPTION=VALUE, as for localize (repeatable)."),
    source_language: str = typer.Option("en", "--from", help="Source language (which Apertium pairs are listed)."),
    to: Optional[str] = typer.Option(None, "--to", help="Only these targets' Apertium pairs, e.g. es,ca."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
) -> None:
    """List every model, data package and tool a run would use, per stage, with its licence and whether commercial use is allowed."""
    import json

    from models.languages import normalize, parse_targets
    from polydub.licenses import as_json, choose_backends, listing, print_table

    try:
        backends = choose_backends(profile, key_values(stage_backend or [], "--backend"), key_values(model or [], "--model"))
        source = source_language if source_language == "auto" else normalize(source_language)
        rows = listing(backends, source, parse_targets(to) if to else ())
    except PolydubError as exc:
        _fail(str(exc))
    if json_out:
        print(json.dumps(as_json(profile, backends, rows), indent=2))
    else:
        print_table(profile, rows)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
