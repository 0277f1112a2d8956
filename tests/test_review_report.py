"""The HTML review report: rendered for the sample by a real lite run and opened in headless Chromium.

Needs Debian's `chromium` and `chromium-driver` (the system chromedriver; nothing is downloaded)
and selenium. The page must load without console errors and without any network request, show
every section, play its audio, and show every script line, both on-screen speakers with their
faces and the narrator as off-screen.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from polydub.review_report import ReviewThresholds, headline_checks

CHROMEDRIVER, CHROMIUM = "/usr/bin/chromedriver", "/usr/bin/chromium"
SECTIONS = ("summary", "checks", "timeline", "lines", "speakers", "lipsync")


@pytest.fixture(scope="module")
def run(lite_runs):
    """The first lite run of the sample into Spanish through the CLI: (report.json, CLI stdout, output folder)."""
    first = lite_runs["first"]
    return first["report"], first["stdout"], first["out"]


@pytest.fixture(scope="module")
def page(run, tmp_path_factory):
    """The Spanish review page opened in headless Chromium: (driver, console log, requested URLs, screenshot)."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)):  # pragma: no cover - CI installs them (Makefile APT_PKGS)
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.chrome.service import Service

    report, _, _ = run
    html = Path(report["languages"]["es"]["outputs"]["report_html"])
    profile = tmp_path_factory.mktemp("chrome")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get("about:blank")
        driver.get_log("performance")  # drop the browser's own start-up requests (new-tab page)
        driver.get(html.as_uri())
        driver.execute_script("return document.readyState")
        shot = profile.parent / "review-es.png"
        driver.save_screenshot(str(shot))
        console = driver.get_log("browser")
        requests = [
            json.loads(entry["message"])["message"]["params"]["request"]["url"]
            for entry in driver.get_log("performance")
            if json.loads(entry["message"])["message"]["method"] == "Network.requestWillBeSent"
        ]
        yield driver, console, requests, shot
    finally:
        driver.quit()


def test_report_is_listed_and_printed(run):
    report, stdout, out = run
    html = Path(report["languages"]["es"]["outputs"]["report_html"])
    assert html == out / "interview.es.report.html" and html.is_file()
    assert f"report: {html}" in stdout.splitlines()
    assert not list(out.glob(".*.part*")), "atomic write left a temporary file"
    text = html.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text, "the page must not reference the network"


def test_run_links_the_report_and_tables_its_measures(run):
    """The Prefect run has a link artifact to the page and a table artifact of its marked measures."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    report, _, _ = run
    html = Path(report["languages"]["es"]["outputs"]["report_html"])
    keys = ["polydub-review-es", "polydub-review-measures-es"]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)))
    links = [a for a in artifacts if a.key == keys[0]]
    tables = [a for a in artifacts if a.key == keys[1]]
    assert links and all(a.type == "markdown" for a in links)  # Prefect stores a link as markdown
    assert any(html.as_uri() in a.data for a in links)
    assert tables and all(a.type == "table" for a in tables)
    rows = json.loads(tables[0].data)
    assert {r["mark"] for r in rows} <= {"pass", "warn", "n/a"}
    assert any(r["measure"].startswith("lip sync face_") for r in rows)


def test_page_loads_offline_without_errors(page):
    driver, console, requests, shot = page
    errors = [entry for entry in console if entry["level"] == "SEVERE"]
    assert not errors, errors
    assert requests, "the performance log recorded no request at all (not even the page)"
    assert all(url.startswith(("data:", "file:")) for url in requests), [u[:80] for u in requests if not u.startswith(("data:", "file:"))]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_every_section_is_present(page):
    driver, *_ = page
    from selenium.webdriver.common.by import By

    for section in SECTIONS:
        assert driver.find_elements(By.ID, section), section
    images = driver.execute_script("return [...document.images].map(i => [i.className, i.complete && i.naturalWidth > 0])")
    assert images and all(ok for _, ok in images), images
    assert any(cls == "plot" for cls, _ in images)


def test_audio_elements_play(page):
    driver, *_ = page
    states = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const players = [...document.querySelectorAll('audio')];
        Promise.all(players.map(async a => {
            try {
                await a.play();
                const t0 = a.currentTime;
                await new Promise(r => setTimeout(r, 400));
                const moved = a.currentTime > t0 || a.ended;
                a.pause();
                return {cls: a.className, moved, ready: a.readyState, error: a.error && a.error.code, duration: a.duration};
            } catch (e) { return {cls: a.className, moved: false, ready: a.readyState, error: String(e)}; }
        })).then(done);
        """
    )
    assert len(states) >= 2
    bad = [s for s in states if s["error"] or not s["moved"] or s["ready"] < 2]
    assert not bad, bad
    assert {s["cls"] for s in states} == {"original", "dubbed"}


def _rows(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#lines tr.line')].map(r => ({speaker: r.dataset.speaker,"
        " start: +r.dataset.start, end: +r.dataset.end, audios: r.querySelectorAll('audio').length,"
        " source: r.querySelector('.source-text').textContent, target: r.querySelector('.target-text').textContent}))"
    )


def _covering(line: dict, rows: list[dict]) -> list[dict]:
    """The rows that overlap a script line by at least a third of the shorter of the two."""
    def overlap(r: dict) -> float:
        return max(0.0, min(line["end"], r["end"]) - max(line["start"], r["start"]))

    return [r for r in rows if overlap(r) >= min(line["end"] - line["start"], r["end"] - r["start"]) / 3]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_every_script_line_is_shown(page, run, sample):
    driver, *_ = page
    report, _, _ = run
    rows = _rows(driver)
    lines = sorted(report["languages"]["es"]["lines"], key=lambda l: l["start"])
    assert [(r["source"], r["target"]) for r in rows] == [(l["source_text"], l["target_text"]) for l in lines]
    assert all(r["audios"] == 2 and r["target"].strip() for r in rows)
    script = json.loads(sample.script.read_text(encoding="utf-8"))["lines"]
    for line in script:  # each script line's time is covered by the rows shown for it
        shown = _covering(line, rows)
        covered = sum(min(line["end"], r["end"]) - max(line["start"], r["start"]) for r in shown)
        assert covered >= 0.6 * (line["end"] - line["start"]), f"script line {line['index']} ({line['text']!r}) is missing"
    # and its words are on the page, up to the transcript's error rate (WER bar 0.15)
    words = [w for line in script for w in re.findall(r"[a-z']+", line["text"].lower())]
    shown_words = _words(" ".join(r["source"] for r in rows))
    assert sum(w in shown_words for w in words) >= 0.85 * len(words)


def test_speakers_show_their_faces_and_the_narrator_off_screen(page, sample):
    driver, *_ = page
    cards = driver.execute_script(
        "return [...document.querySelectorAll('#speakers .card.speaker')].map(c => ({speaker: c.dataset.speaker, face: c.dataset.face,"
        " onScreen: c.classList.contains('on-screen'), thumb: !!c.querySelector('img.thumbnail'), text: c.textContent}))"
    )
    on_screen = [c for c in cards if c["onScreen"]]
    off_screen = [c for c in cards if not c["onScreen"]]
    assert len(on_screen) == 2 and all(c["thumb"] and c["face"] for c in on_screen)
    assert len({c["face"] for c in on_screen}) == 2
    assert len(off_screen) == 1 and "off-screen" in off_screen[0]["text"]
    # the off-screen speaker is the one who speaks the narrator's script lines, and only they
    rows = _rows(driver)
    for line in json.loads(sample.script.read_text(encoding="utf-8"))["lines"]:
        speakers = {r["speaker"] for r in _covering(line, rows)}
        assert speakers, line["text"]
        narrated = line["speaker"] == "narrator"
        assert (speakers == {off_screen[0]["speaker"]}) == narrated, (line, speakers)


def test_lip_sync_shows_plot_and_strips_per_speaking_face(page, run):
    driver, *_ = page
    report, _, _ = run
    lips = report["languages"]["es"]["measures"]["lip_sync"]
    speaking = {f["identity"] for f in lips["faces"] if f["speaker"]}
    assert len(speaking) == 2 and lips["series"] and Path(lips["series"]).is_file()
    faces = driver.execute_script(
        "return [...document.querySelectorAll('#lipsync .lip-face')].map(f => ({face: f.dataset.face,"
        " plot: f.querySelectorAll('img.plot').length, before: f.querySelectorAll('img.before').length,"
        " after: f.querySelectorAll('img.after').length}))"
    )
    assert {f["face"] for f in faces} == speaking
    assert all(f["plot"] == 1 and f["before"] == f["after"] >= 3 for f in faces), faces


def test_thresholds_mark_pass_and_warn(run):
    report, _, _ = run
    report = copy.deepcopy(report)
    measures = report["languages"]["es"]["measures"]
    measures["true_peak_dbtp"] = -3.0
    measures["output_lufs"] = measures["source_lufs"] + 0.5

    def status(limits: ReviewThresholds, prefix: str) -> str:
        return next(c.status for c in headline_checks(report, "es", limits) if c.name.startswith(prefix))

    assert status(ReviewThresholds(), "true peak") == "pass"
    assert status(ReviewThresholds(max_true_peak_dbtp=-4.0), "true peak") == "warn"
    assert status(ReviewThresholds(), "loudness") == "pass"
    assert status(ReviewThresholds(max_lufs_delta=0.2), "loudness") == "warn"
    report["source"]["measures"]["transcript_wer"] = None
    assert status(ReviewThresholds(), "transcript WER") == "n/a"


def test_page_without_faces_marks_everyone_off_screen(run, tmp_path):
    """A video where nobody is seen: no lip sync, every speaker off-screen, still one complete page."""
    from models.faces.records import FaceAnalysis
    from polydub.review_report import render_review_report

    report, _, _ = run
    report = copy.deepcopy(report)
    report["languages"]["es"]["measures"]["lip_sync"] = {"status": "no faces", "faces": []}
    faces_section = report["source"]["faces"]
    faces_section.update(shots=[], tracks=[], identities=[], silent_faces=[])
    for speaker in faces_section["speakers"]:
        speaker.update(face=None, on_screen=False, confidence=0.0)
    media = report["source"]["media"]
    faces = FaceAnalysis(backend="none", fps=media["fps"], width=media["width"], height=media["height"],
                         frame_count=media["frame_count"], shots=[], tracks=[])
    page = tmp_path / "noface.es.report.html"
    checks = render_review_report(report, "es", faces, page)
    text = page.read_text(encoding="utf-8")
    assert text.count('class="card speaker off-screen"') == len(faces_section["speakers"])
    assert "on-screen" not in text and "No face was lip-synced" in text
    assert next(c for c in checks if c.name == "lip sync").status == "n/a"
    assert text.count("<audio ") == 2 * len(report["languages"]["es"]["lines"])
