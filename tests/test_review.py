"""The review step against a real Prefect server: pause after translation, resume with one edited line.

Run 1 dubs Spanish without review (every line synthesized). Run 2 asks for review: the language's
child flow run pauses with a form of the translated lines; the test resumes it through the API
(as the UI's form does) with one line changed, and checks that exactly that line was
synthesized again, the others reused, and the delivered subtitles carry the edited text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pysubs2
import pytest
from prefect.flow_runs import resume_flow_run

from flows.review import ReviewLine, apply_review, edited_indices
from models.data import TranslatedLine, TranslatedLines
from models.synthesize import line_wav_name
from polydub.workdir import WorkDir, file_sha256
from tasks.line_cache import read_record
from tests.prefect_server import prefect_server  # noqa: F401  (fixture)

EDITED_TEXT = "Esta frase la ha corregido una revisora."
LANGUAGE_DEPLOYMENT = "localize-language/localize-language"


def _lines() -> TranslatedLines:
    return TranslatedLines(
        language="es",
        lines=[
            TranslatedLine(index=i, speaker="S1", start=i, end=i + 1, source_text=f"line {i}", target_text=f"línea {i}") for i in range(3)
        ],
    )


def test_apply_review_replaces_only_edited_texts():
    before = _lines()
    reviewed = [ReviewLine(index=l.index, speaker=l.speaker, source=l.source_text, text=l.target_text) for l in before.lines]
    reviewed[1].text = "  otra cosa "
    after = apply_review(before, reviewed[:2])  # line 2 left out of the answer: kept as it was
    assert [l.target_text for l in after.lines] == ["línea 0", "otra cosa", "línea 2"]
    assert edited_indices(before, after) == [1]
    blanked = apply_review(before, [reviewed[0].model_copy(update={"text": "   "})])
    assert blanked.lines[0].target_text == "línea 0"  # an emptied line keeps the machine text


def _stage_dirs(work: WorkDir, stage: str) -> list[Path]:
    return sorted(work.path.glob(f"{stage}-*"), key=lambda p: (p / "result.json").stat().st_mtime)


@pytest.mark.e2e
def test_review_resynthesizes_only_the_edited_line(prefect_server, two_line_clip, polydub_bin, tmp_path):
    import subprocess

    server = prefect_server
    setup = subprocess.run([polydub_bin, "setup", "--gpu-pool-type", "process"], env=server.env, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    server.deploy("localize", "localize-language")
    base = {"video": str(two_line_clip), "targets": ["es"], "language_deployment": LANGUAGE_DEPLOYMENT}
    work = WorkDir(server.work_dir, file_sha256(two_line_clip))

    with server.worker("polydub-cpu"):
        first = server.run_deployment("localize/localize", {"params": {**base, "out_dir": str(tmp_path / "first")}})
        assert server.wait_for_flow_run(first.id, timeout=420).state.is_completed(), server.worker_log("polydub-cpu")[-3000:]
        baseline = read_record(_stage_dirs(work, "synthesize")[-1])
        assert baseline["reused"] == [] and baseline["computed"]

        second = server.run_deployment("localize/localize", {"params": {**base, "out_dir": str(tmp_path / "second"), "review": True}})

        def paused_child(client):
            runs = server.flow_runs(parent_flow_run_id=second.id)
            return next((r for r in runs if r.parameters.get("review") and r.state and r.state.is_paused()), None)

        child = server.wait_for(paused_child, timeout=300, what="the language run to pause for review")
        translated = TranslatedLines.model_validate_json((_stage_dirs(work, "translate")[-1] / "result.json").read_text())
        assert len(baseline["computed"]) == len(translated.lines) >= 2  # the first run spoke every line
        answer = [ReviewLine(index=l.index, speaker=l.speaker, source=l.source_text, text=l.target_text) for l in translated.lines]
        edited = answer[1]
        edited.text = EDITED_TEXT
        with server.settings():
            resume_flow_run(child.id, run_input={"lines": [line.model_dump() for line in answer]})
        done = server.wait_for_flow_run(second.id, timeout=300)
        assert done.state.is_completed(), (done.state, server.worker_log("polydub-cpu")[-3000:])

    record = read_record(_stage_dirs(work, "synthesize")[-1])
    assert record["computed"] == [line_wav_name(edited.index)]
    assert len(record["reused"]) == len(translated.lines) - 1
    timing = read_record(_stage_dirs(work, "fit_timing")[-1])  # re-timing re-speaks at most the edited line
    assert {name.split(".")[0] + ".wav" for name in timing["computed"]} <= {line_wav_name(edited.index)}

    report = json.loads((tmp_path / "second" / "report.json").read_text())
    statuses = {(s["stage"], s["language"]): s["status"] for s in report["stages"]}
    assert statuses[("translate", "es")] == "reused" and statuses[("synthesize", "es")] == "computed"
    subs = pysubs2.load(report["languages"]["es"]["outputs"]["srt"])
    assert EDITED_TEXT in [event.plaintext.replace("\n", " ") for event in subs]
    first_subs = pysubs2.load(json.loads((tmp_path / "first" / "report.json").read_text())["languages"]["es"]["outputs"]["srt"])
    assert EDITED_TEXT not in [event.plaintext.replace("\n", " ") for event in first_subs]
