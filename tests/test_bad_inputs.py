"""Awkward but valid inputs are dubbed correctly; broken ones and failed writes are one clear line.

Three real CLI runs, started together, each combining cases to keep time down:
- a clip that is at once variable-frame-rate, odd-sized, rotated and named with unicode and shell
  metacharacters: dubbed with lip sync, the output upright, even-sized, constant-rate, no command run;
- an audio-only file whose name is near the 255-byte limit: dubbed audio (.m4a) and subtitles,
  no lip sync, said in report.json and on the command line, output names shortened;
- a video with speech and no face: dubbed without lip sync, said in the report; then the same job
  again with its output folder on a full disk (a tiny tmpfs; needs root and mount).
The rest run in-process or before Prefect starts (a second each).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ffmpeg
import numpy as np
import pytest

from models import ingest
from polydub.errors import InputError, write_error_message
from polydub.names import NAME_MAX, output_stem

SHELL_NAME = "ünï ☃ $(touch pwned1); `touch pwned2` & touch pwned3 | touch pwned4 > pwned5 'q' \"d\""
WINDOW = ("3.6", "7.8")  # seconds of the short sample: the first line of each on-screen speaker


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", *args, "-y"], check=True)


def _localize(polydub_bin: str, video: Path, out: Path, work: Path) -> subprocess.CompletedProcess:
    cmd = [polydub_bin, "localize", str(video), "--to", "es", "--out", str(out), "--work-dir", str(work)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=video.parent, timeout=900)


def _streams(path: Path, kind: str) -> list[dict]:
    return [s for s in ffmpeg.probe(str(path))["streams"] if s["codec_type"] == kind]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.strip().splitlines() if line.startswith("error:")]


# ---------------------------------------------------------------- unit checks (no pipeline)


def test_frame_timing_is_variable_only_off_a_constant_grid():
    assert ingest.variable_rate(np.arange(100) / 25.0) is None
    assert ingest.variable_rate(np.round(np.arange(300) * 600 / 29.97) / 600) is None  # 29.97 fps in a 1/600 time base
    steady_then_slow = np.concatenate([np.arange(120) * 0.04, 4.8 + np.arange(1, 25) * 0.12])
    assert ingest.variable_rate(steady_then_slow) == 25  # the usual interval, not the average (19 fps)


def test_long_names_are_cut_to_fit_with_a_hash():
    stem = ("entrevista-é-" * 30).encode()[:246].decode("utf-8", "ignore")
    short = output_stem(f"/in/{stem}.mp4")
    assert short != stem and stem.startswith(short.split("~")[0]) and len(short.split("~")[1]) == 8
    assert len(f"{short}.zh-Hant.report.html".encode()) <= NAME_MAX
    assert short == output_stem(f"/elsewhere/{stem}.mov")  # depends on the name only
    assert output_stem(f"/in/{stem[:-1]}x.mp4") != short  # names sharing their first bytes still differ
    assert output_stem("/in/talk 1 $(x).mp4") == "talk 1 $(x)"  # a name that fits is kept as it is


@pytest.mark.parametrize(
    "code, words", [("ENOSPC", "the disk is full"), ("EDQUOT", "quota"), ("EFBIG", "too large"), ("EROFS", "read-only"), ("EACCES", "permission denied")]
)
def test_write_errors_read_as_one_line_naming_the_file(code, words):
    number = getattr(errno, code)
    line = write_error_message(OSError(number, os.strerror(number), "/srv/out/talk.es.mp4"))
    assert "\n" not in line and words in line and "/srv/out/talk.es.mp4" in line


def test_a_full_disk_while_copying_an_output_leaves_nothing_under_its_name(tmp_path):
    """The real copy in a child process whose file-size limit (RLIMIT_FSIZE) stops the write half-way."""
    src, dst = tmp_path / "dub.es.mp4", tmp_path / "out" / "talk.es.mp4"
    src.write_bytes(os.urandom(2 << 20))
    child = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from polydub.errors import PolydubError
        from tasks.deliver import copy_output
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
        try:
            copy_output({str(src)!r}, Path({str(dst)!r}))
        except PolydubError as exc:
            print(f"error: {{exc}}", file=sys.stderr)
            sys.exit(2)
        """
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert _error_lines(done.stderr) == [f"error: could not write {dst}: the file is too large for the file system (or the file-size limit) (File too large)"]
    assert not dst.exists() and list(dst.parent.iterdir()) == []  # no partial file, under any name


def test_a_truncated_file_is_refused_at_ingest_with_nothing_marked_finished(tmp_path):
    """A Matroska file cut in half passes ffprobe (its header states the duration); decoding finds it short."""
    whole, cut, work = tmp_path / "whole.mkv", tmp_path / "cut.mkv", tmp_path / "work"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=8", "-f", "lavfi", "-i", "sine=frequency=300:duration=8",
            "-c:v", "libx264", "-c:a", "aac", "-shortest", str(whole))
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    from tasks.ingest import ingest_source

    with pytest.raises(InputError, match=r"cut\.mkv is truncated or damaged: its audio stops at \d+\.\d s of 8\.0 s"):
        ingest_source.fn(str(cut), str(work))
    assert list(work.rglob("ingest-*")) and not list(work.rglob("result.json"))  # started, never marked finished


# ---------------------------------------------------------------- work folder (refused before Prefect starts)


@pytest.fixture()
def tiny_video(tmp_path) -> Path:
    path = tmp_path / "talk.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def _mount(kind_options: str, where: Path) -> bool:
    """Mount a tmpfs at ``where`` (root only); False when this machine does not allow it."""
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", kind_options, "tmpfs", str(where)], capture_output=True).returncode == 0


def _umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], check=True)


def test_a_read_only_work_folder_is_named(tmp_path, tiny_video, polydub_bin):
    folder = tmp_path / "readonly"
    mounted = False
    if os.geteuid() != 0:  # permission bits only stop a normal user
        folder.mkdir()
        folder.chmod(0o555)
    else:  # root writes through permission bits: a read-only file system stops it
        mounted = _mount("ro,size=1m", folder)
        if not mounted:
            pytest.skip("running as root without permission to mount: no folder here is read-only to root")
    try:
        done = _localize(polydub_bin, tiny_video, tmp_path / "out", folder / "work")
    finally:
        if mounted:
            _umount(folder)
        else:
            folder.chmod(0o755)
    assert done.returncode != 0
    reason = "Permission denied" if os.geteuid() != 0 else "Read-only file system"
    assert _error_lines(done.stderr) == [f"error: cannot write to the work folder {folder / 'work'}: {reason}"], done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_file_where_the_work_folder_should_be_is_named(tmp_path, tiny_video, polydub_bin):
    blocker = tmp_path / "work"
    blocker.write_text("not a folder")
    done = _localize(polydub_bin, tiny_video, tmp_path / "out", blocker)
    assert done.returncode != 0
    assert _error_lines(done.stderr) == [f"error: the work folder {blocker} is a file, not a folder"], done.stderr
    assert blocker.read_text() == "not a folder"


# ---------------------------------------------------------------- full runs


@pytest.fixture(scope="module")
def full_runs(awkward_clip, audio_only_clip, faceless_clip, tmp_path_factory, polydub_bin) -> dict[str, dict]:
    """The three CLI runs, started together (much of each is waiting: Prefect's start, subprocesses)."""
    base = tmp_path_factory.mktemp("runs")
    jobs = {"awkward": awkward_clip, "audio_only": audio_only_clip, "faceless": faceless_clip}
    started = {}
    for name, clip in jobs.items():
        out, work = base / name / "out", base / name / "work"
        cmd = [polydub_bin, "localize", str(clip), "--to", "es", "--out", str(out), "--work-dir", str(work)]
        env = {**os.environ, "PREFECT_HOME": str(base / name / "prefect")}  # one embedded server each: no shared SQLite
        process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=clip.parent, env=env)
        started[name] = (process, out, work, clip)
    runs = {}
    try:
        for name, (process, out, work, clip) in started.items():
            stdout, stderr = process.communicate(timeout=900)
            runs[name] = {"done": subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), "out": out, "work": work, "clip": clip}
    finally:
        for process, *_ in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return runs


@pytest.fixture(scope="module")
def awkward_clip(short_sample, tmp_path_factory) -> Path:
    """Variable frame rate (25 fps, then every third frame), odd size (319x179), stored turned a quarter
    and tagged to be displayed turned back (rotation metadata), named with unicode and shell metacharacters."""
    folder = tmp_path_factory.mktemp("awkward")
    stored = folder / "stored.mp4"
    picture = "scale=320:180,format=yuv444p,crop=319:179:0:0,select='lt(n\\,120)+not(mod(n\\,3))',transpose=1"
    _ffmpeg("-ss", WINDOW[0], "-i", str(short_sample), "-t", WINDOW[1], "-vf", picture, "-fps_mode", "vfr",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p", "-crf", "18", "-c:a", "aac", str(stored))
    clip = folder / f"{SHELL_NAME}.mp4"
    _ffmpeg("-i", str(stored), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(clip))
    stored.unlink()
    return clip


@pytest.mark.e2e
def test_an_awkward_clip_is_dubbed_upright_even_and_constant_rate(awkward_clip, full_runs):
    source = ingest.probe(awkward_clip)
    assert (source.width, source.height, source.rotation) == (179, 319, 90)  # stored portrait, displayed landscape
    times = ingest.frame_times(awkward_clip)
    assert ingest.variable_rate(times) is not None

    done, out = full_runs["awkward"]["done"], full_runs["awkward"]["out"]
    assert done.returncode == 0, done.stdout + done.stderr
    stem = SHELL_NAME
    names = {f"{stem}.es.mp4", f"{stem}.es.srt", f"{stem}.es.vtt", f"{stem}.es.report.html", "report.json", "manifest.json"}
    assert {p.name for p in out.iterdir()} == names
    assert not list(awkward_clip.parent.rglob("pwned*")) and not list(out.parent.rglob("pwned*")) and not list(Path.cwd().glob("pwned*"))

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    entry = report["languages"]["es"]
    assert entry["lip_sync"] == "on"  # faces found: the frames were turned upright before analysis
    fixes = report["source"]["picture_fixes"]
    assert len(fixes) == 3 and "constant 25 fps" in fixes[0] and "(90°)" in fixes[1] and "319x179 padded to 320x180" in fixes[2]
    assert "picture: odd size 319x179 padded to 320x180" in done.stdout

    video = Path(entry["outputs"]["video"])
    [stream] = _streams(video, "video")
    assert (stream["width"], stream["height"]) == (320, 180)
    assert ingest._rotation(stream) == 0  # no rotation left for players to apply
    assert stream["r_frame_rate"] == stream["avg_frame_rate"] == "25/1"
    duration = float(stream["duration"])
    assert int(stream["nb_frames"]) == round(duration * 25)
    assert ingest.variable_rate(ingest.frame_times(video)) is None
    assert abs(duration - (times[-1] - times[0] + 0.04)) <= 0.04 + 1e-6  # the source's frames' span, to a frame
    [audio] = _streams(video, "audio")
    assert audio["tags"]["language"] == "spa"

    # it plays to the end, and looks like the source as displayed (same way up) outside the mouths
    subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", str(video), "-f", "null", "-"], check=True)
    first = [_frame(p, 0.2, 319, 179) for p in (awkward_clip, video)]
    assert np.abs(first[0].astype(int) - first[1].astype(int)).mean() < 6.0
    assert np.abs(first[0].astype(int) - first[1][::-1, ::-1].astype(int)).mean() > 20.0  # upside-down would be far


def _frame(video: Path, at: float, width: int, height: int) -> np.ndarray:
    """One frame as displayed (ffmpeg applies rotation metadata), cropped to ``width`` x ``height``."""
    cmd = ["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(video), "-frames:v", "1", "-vf", f"format=gray,crop={width}:{height}:0:0",
           "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"]
    data = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(data, np.uint8).reshape(height, width)


@pytest.fixture(scope="module")
def audio_only_clip(short_sample, tmp_path_factory) -> Path:
    """Two speakers' lines as an .m4a (no picture at all) whose name is 249 bytes long."""
    stem = ("entrevista-é-" * 30).encode()[:245].decode("utf-8", "ignore")
    clip = tmp_path_factory.mktemp("audio-only") / f"{stem}.m4a"
    _ffmpeg("-ss", WINDOW[0], "-i", str(short_sample), "-t", WINDOW[1], "-vn", "-c:a", "aac", "-b:a", "128k", str(clip))
    return clip


@pytest.mark.e2e
def test_an_audio_only_file_is_dubbed_without_lip_sync(audio_only_clip, full_runs):
    done, out = full_runs["audio_only"]["done"], full_runs["audio_only"]["out"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audio-only source: dubbed audio and subtitles, no lip sync" in done.stdout

    stem = output_stem(audio_only_clip)
    assert stem != audio_only_clip.stem  # <stem>.es.report.html would pass 255 bytes: shortened
    produced = {p.name for p in out.iterdir()}
    assert {f"{stem}.es.m4a", f"{stem}.es.srt", f"{stem}.es.vtt", "report.json"} <= produced
    assert all(len(name.encode()) <= NAME_MAX for name in produced)

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    entry = report["languages"]["es"]
    assert entry["lip_sync"] == "off: audio-only source"
    assert entry["measures"]["lip_sync"]["status"] == "off: audio-only source"
    assert report["source"]["media"]["has_video"] is False and report["source"]["faces"]["identities"] == []
    dubbed = out / f"{stem}.es.m4a"
    assert entry["outputs"]["video"] == str(dubbed)
    assert _streams(dubbed, "video") == []
    [audio] = _streams(dubbed, "audio")
    assert audio["tags"]["language"] == "spa"
    assert abs(float(ffmpeg.probe(str(dubbed))["format"]["duration"]) - float(WINDOW[1])) <= 0.1
    assert entry["measures"]["lines_audible"] == entry["measures"]["lines_total"] >= 2


@pytest.fixture(scope="module")
def faceless_clip(short_sample, tmp_path_factory) -> Path:
    """A test pattern (no face anywhere) over the narrator's line."""
    clip = tmp_path_factory.mktemp("faceless") / "pattern talk.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=4", "-i", str(short_sample), "-map", "0:v", "-map", "1:a",
            "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
    return clip


@pytest.mark.e2e
def test_a_video_without_faces_is_dubbed_without_lip_sync(full_runs):
    faceless_run = full_runs["faceless"]
    done = faceless_run["done"]
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((faceless_run["out"] / "report.json").read_text(encoding="utf-8"))
    entry = report["languages"]["es"]
    assert entry["lip_sync"] == "no faces" and entry["measures"]["lip_sync"]["status"] == "no faces"
    assert report["source"]["faces"]["identities"] == [] and report["source"]["picture_fixes"] == []
    video = Path(entry["outputs"]["video"])
    assert video.name == "pattern talk.es.mp4" and len(_streams(video, "video")) == 1
    assert "no faces" in done.stdout


@pytest.mark.e2e
def test_a_full_disk_while_delivering_is_one_line_and_leaves_no_output(full_runs, tmp_path, polydub_bin):
    """The same job again (every stage reused) with its output folder on a tmpfs too small for the video."""
    faceless_run = full_runs["faceless"]
    if faceless_run["done"].returncode != 0:
        pytest.skip("the faceless run failed (see its own test)")
    video = faceless_run["out"] / "pattern talk.es.mp4"
    out = tmp_path / "full"
    if not _mount(f"size={max(8192, video.stat().st_size // 2)}", out):
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root and permission to mount")
    try:
        done = _localize(polydub_bin, faceless_run["clip"], out, faceless_run["work"])
        left = sorted(p.name for p in out.iterdir())
    finally:
        _umount(out)
    assert done.returncode != 0
    [line] = _error_lines(done.stderr)
    assert f"could not write {out / 'pattern talk.es.mp4'}: the disk is full (No space left on device)" in line, line
    assert not [name for name in left if "pattern talk.es" in name or ".part" in name], left  # no output, no partial file
