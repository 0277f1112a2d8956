"""Crashes and concurrent runs, through the real CLI on the short sample (lite, `--to es`).

Two runs of the same video start at once in one work folder: both finish, their outputs are
identical and every stage is computed once (the other run waits and reuses it); they are also
the uninterrupted reference. Meanwhile, in another work folder, one run is killed with SIGKILL (its whole process group, the
ephemeral Prefect server included) right after transcription, mid-synthesis and mid-lip-sync,
each time rerun with the same command: every stage finished before a kill is reused, never
recomputed, and the final outputs equal the uninterrupted run's. The kill points are found by
polling the work folder; nothing in the production code knows about this test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from polydub.workdir import StageRun, WorkDir, file_sha256

pytestmark = pytest.mark.e2e
POLL_S = 0.02
RUN_TIMEOUT_S = 900


@dataclass
class Run:
    """One CLI run: its process, log and the ledger entries written while it ran."""

    process: subprocess.Popen
    log: Path
    started: float
    ledger_from: int
    seconds: float = 0.0

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _start(polydub_bin: str, video: Path, out: Path, work: Path, log: Path) -> Run:
    before = len(_work(work, video).ledger())
    cmd = [polydub_bin, "localize", str(video), "--to", "es", "--out", str(out), "--work-dir", str(work)]
    handle = open(log, "w")
    # its own process group: the CLI and the ephemeral Prefect server it starts die together
    process = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    handle.close()
    return Run(process, log, time.monotonic(), before)


def _finish(run: Run) -> Run:
    try:
        run.process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(run.process.pid, signal.SIGKILL)
        raise
    run.seconds = time.monotonic() - run.started
    assert run.process.returncode == 0, run.tail()
    return run


def _kill_when(run: Run, hit: Callable[[], bool], what: str) -> Run:
    """Poll every 20 ms; SIGKILL the run's process group as soon as ``hit()`` is true."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not hit():
        if run.process.poll() is not None:
            pytest.fail(f"the run ended (rc {run.process.returncode}) before the kill point '{what}':\n{run.tail()}")
        if time.monotonic() > deadline:
            os.killpg(run.process.pid, signal.SIGKILL)
            pytest.fail(f"kill point '{what}' never reached")
        time.sleep(POLL_S)
    os.killpg(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=60)
    run.seconds = time.monotonic() - run.started
    gone_by = time.monotonic() + 30
    while _group_members(run.process.pid) and time.monotonic() < gone_by:
        time.sleep(0.1)
    assert not _group_members(run.process.pid), "processes of the killed run survived"  # the Prefect server too
    return run


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _work(root: Path, video: Path) -> WorkDir:
    return WorkDir(root, file_sha256(video))


def _entries(work: WorkDir, run: Run) -> list[StageRun]:
    return work.ledger()[run.ledger_from :]


def _folders(work: WorkDir, stage: str) -> list[Path]:
    return sorted(p for p in work.path.glob(f"{stage}-*") if p.is_dir())


def _finished(work: WorkDir) -> set[tuple[str, str]]:
    """(stage, key) of every stage folder with its result.json."""
    return {tuple(p.parent.name.rsplit("-", 1)) for p in work.path.glob("*-*/result.json")}


def _unfinished(work: WorkDir, stage: str) -> Path | None:
    folders = [f for f in _folders(work, stage) if not (f / "result.json").exists()]
    return folders[0] if folders else None


PARTIAL = re.compile(r"^\..*\.part(\.[^.]*)?$")  # polydub.workdir.atomic_path's temp files


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.is_file() and PARTIAL.match(p.name)]


def _assert_complete(path: Path) -> None:
    """A file under its final name is whole: its format's own structure reads to the end."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".wav":
        with wave.open(str(path)) as audio:  # PCM: the header's frame count must all be there
            frames = audio.getnframes()
            assert len(audio.readframes(frames)) == frames * audio.getsampwidth() * audio.getnchannels(), path
    elif suffix == ".npz":
        with np.load(path) as arrays:  # reads every member: a cut zip fails its directory or CRC
            for name in arrays.files:
                arrays[name]
    elif suffix in {".mp4", ".mov"}:
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                               capture_output=True, text=True)
        assert probe.returncode == 0 and float(probe.stdout) > 0, f"{path}: {probe.stderr}"
    elif suffix in {".srt", ".vtt", ".html"}:
        path.read_text(encoding="utf-8")


def _assert_nothing_half_written(work: WorkDir, out: Path) -> int:
    """Every file under a final name, in the out dir and in every stage folder, is complete; returns how many."""
    files = [p for p in [*out.glob("*"), *work.path.rglob("*")] if p.is_file() and not PARTIAL.match(p.name)]
    for path in files:
        _assert_complete(path)
    return len(files)


def _stream_hashes(video: Path) -> str:
    """MD5 of every stream's packets (picture and dubbed audio), independent of container tags."""
    done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-map", "0", "-c", "copy", "-f", "streamhash", "-hash", "md5", "-"],
                          capture_output=True, text=True, check=True)
    return done.stdout


TIMINGS = {"seconds", "peak_rss_mb", "stages"}


def _comparable_report(out: Path, work_root: Path) -> dict:
    """report.json without run timings, with this run's folders and stage keys replaced by placeholders."""

    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in TIMINGS}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            value = value.replace(str(out.resolve()), "<out>").replace(str(work_root.resolve()), "<work>")
            return re.sub(r"-[0-9a-f]{16}/", "-<key>/", value)
        return value

    return clean(json.loads((out / "report.json").read_text(encoding="utf-8")))


def _outputs(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def _assert_same_outputs(out: Path, work_root: Path, ref_out: Path, ref_work_root: Path, stem: str) -> None:
    assert _outputs(out) == _outputs(ref_out)
    streams = _stream_hashes(out / f"{stem}.es.mp4")
    assert ",v," in streams and ",a," in streams  # a picture and a dubbed audio track
    assert streams == _stream_hashes(ref_out / f"{stem}.es.mp4")
    for suffix in ("srt", "vtt"):
        assert (out / f"{stem}.es.{suffix}").read_bytes() == (ref_out / f"{stem}.es.{suffix}").read_bytes()
    assert _comparable_report(out, work_root) == _comparable_report(ref_out, ref_work_root)


def _say(message: str) -> None:
    print(f"[crash-resume] {message}", flush=True)


@dataclass
class Together:
    """Two runs of the short sample started at once in one work folder, each with its own --out."""

    base: Path
    work_root: Path
    work: WorkDir
    outs: list[Path]
    runs: list[Run]

    def finished(self) -> "Together":
        if any(run.seconds == 0.0 for run in self.runs):
            for run in self.runs:
                _finish(run)
            _say("two runs at once finished after " + ", ".join(f"{run.seconds:.0f} s" for run in self.runs))
        return self


@pytest.fixture(scope="module")
def together(tmp_path_factory, short_sample, polydub_bin):
    """Starts the pair and returns at once: the crash test runs meanwhile (the machine's cores are shared)."""
    base = tmp_path_factory.mktemp("together")
    work_root, outs = base / "work", [base / "out-a", base / "out-b"]
    runs = [_start(polydub_bin, short_sample, out, work_root, base / f"{out.name}.log") for out in outs]
    yield Together(base, work_root, _work(work_root, short_sample), outs, runs)
    for run in runs:  # a failed test must not leave them running
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait(timeout=60)


def test_killed_runs_resume_without_recomputing_and_match_an_uninterrupted_run(together, short_sample, polydub_bin, tmp_path):
    work_root, out = tmp_path / "work", tmp_path / "out"
    work = _work(work_root, short_sample)

    def after_transcription() -> bool:
        return any((f / "result.json").exists() for f in _folders(work, "transcribe"))

    def lines_total() -> int:  # one WAV per translated line
        (translated,) = [f / "result.json" for f in _folders(work, "translate")]
        return len(json.loads(translated.read_text(encoding="utf-8"))["lines"])

    def mid_synthesis() -> bool:
        folder = _unfinished(work, "synthesize")
        return folder is not None and 1 <= len(list(folder.glob("line-*.wav"))) < lines_total()

    def mid_lip_sync() -> bool:
        folder = _unfinished(work, "lipsync")
        return folder is not None and any(p.stat().st_size > 0 for p in folder.glob(".*.part.mp4"))

    def check_killed_at(point: str) -> None:
        if point == "mid-synthesis":
            folder = _unfinished(work, "synthesize")
            assert folder is not None and len(list(folder.glob("line-*.wav"))) < lines_total()
        elif point == "mid-lip-sync":
            folder = _unfinished(work, "lipsync")
            assert folder is not None and not list(folder.glob("picture*.mp4"))  # only the hidden temp
            assert [p for p in folder.glob(".*.part.mp4") if p.stat().st_size > 0]

    finished_before: set[tuple[str, str]] = set()
    for number, (point, hit) in enumerate(
        (("after transcription", after_transcription), ("mid-synthesis", mid_synthesis), ("mid-lip-sync", mid_lip_sync)), start=1
    ):
        run = _kill_when(_start(polydub_bin, short_sample, out, work_root, tmp_path / f"run{number}.log"), hit, point)
        check_killed_at(point)
        _check_resumed(work, run, finished_before)  # the killed run itself reused what the kill before it left
        files = _assert_nothing_half_written(work, out)
        finished_before = _finished(work)
        _say(f"run {number} killed {point} after {run.seconds:.0f} s; {len(finished_before)} stages finished; {files} files checked whole")

    last = _finish(_start(polydub_bin, short_sample, out, work_root, tmp_path / "run4.log"))
    _check_resumed(work, last, finished_before)
    computed = sorted({e.stage for e in _entries(work, last) if e.status == "computed"})
    _say(f"run 4 finished in {last.seconds:.0f} s, computing only {', '.join(computed)}")

    _assert_nothing_half_written(work, out)
    assert not _partials(work_root) and not _partials(out)  # stale temp files of the killed runs are gone
    reference = together.finished()
    _assert_same_outputs(out, work_root, reference.outs[0], reference.work_root, short_sample.stem)


def test_two_runs_at_once_compute_each_stage_once_and_agree(together, short_sample):
    together.finished()
    work, (out_a, out_b) = together.work, together.outs
    ledger = work.ledger()
    computed: dict[tuple[str, str], int] = {}
    for entry in ledger:
        computed.setdefault((entry.stage, entry.key), 0)
        computed[(entry.stage, entry.key)] += entry.status == "computed"
    assert computed and set(computed.values()) == {1}, computed  # every stage key computed exactly once
    reused = sorted({e.stage for e in ledger if e.status == "reused"})
    assert "ingest" in reused and "transcribe" in reused  # the second run took the first one's work
    waited = [f"{e.stage} {e.waited_s:.1f} s" for e in ledger if e.status == "reused" and e.waited_s > 0.05]
    _say(f"stages reused by the other run: {', '.join(reused)}; waited for: {', '.join(waited) or 'none'}")

    # each report lists its own run's stage calls: one per stage and language, the ledger's entries split between the two
    per_report = [json.loads((out / "report.json").read_text(encoding="utf-8"))["stages"] for out in (out_a, out_b)]
    for stages in per_report:
        assert len({(s["stage"], s["language"]) for s in stages}) == len(stages), stages
    before_reports = [e for e in ledger if e.stage != "review_report"]  # the review pages are rendered after the report
    assert sum(len(stages) for stages in per_report) == len(before_reports)
    assert sorted(s["status"] for stages in per_report for s in stages) == sorted(e.status for e in before_reports)

    _assert_same_outputs(out_b, together.work_root, out_a, together.work_root, short_sample.stem)
    _assert_nothing_half_written(work, out_a)
    assert not _partials(together.base)


def _check_resumed(work: WorkDir, run: Run, finished_before: set[tuple[str, str]]) -> None:
    """Each stage that was finished before this run started is in its ledger entries, and only as reused."""
    entries = _entries(work, run)
    for stage, key in sorted(finished_before):
        statuses = [e.status for e in entries if (e.stage, e.key) == (stage, key)]
        assert statuses and set(statuses) == {"reused"}, f"{stage}-{key}: {statuses}"
    if finished_before:
        _say(f"  reused {len(finished_before)} finished stages: {', '.join(sorted(s for s, _ in finished_before))}")
