"""One failing language does not stop the others: they are delivered, the report says why."""

from __future__ import annotations

import json

import pytest

from polydub.config import LocalizeParams

pytestmark = pytest.mark.e2e


class _BrokenFor:
    """Wraps the real translator; fails for one target language."""

    def __init__(self, real, broken: str):
        self.real, self.broken = real, broken
        self.name, self.version = real.name, real.version

    def check_pair(self, source: str, target: str) -> None:
        self.real.check_pair(source, target)

    def translate(self, texts, source, target, budgets=None):
        if target == self.broken:
            raise RuntimeError(f"translation service for {target} is down")
        return self.real.translate(texts, source, target)


def test_a_failing_language_leaves_the_others_delivered(sample, tmp_path, monkeypatch):
    from flows.localize import LanguagesFailed, localize
    from tasks import backends

    real = backends.translator("apertium")
    monkeypatch.setattr(backends, "translator", lambda name, options=(): _BrokenFor(real, "ca"))
    out = tmp_path / "out"
    params = LocalizeParams(video=str(sample.video), targets="es,ca", out_dir=str(out), work_dir=str(tmp_path / "work"))
    with pytest.raises(LanguagesFailed, match="1 of 2 languages failed.*ca"):
        localize(params)
    report = json.loads((out / "report.json").read_text())
    assert report["languages"]["es"]["status"] == "completed"
    assert report["languages"]["ca"]["status"] == "failed"
    assert "translation service for ca is down" in report["languages"]["ca"]["error"]
    delivered = ["interview.es.mp4", "interview.es.report.html", "interview.es.srt", "interview.es.vtt", "manifest.json", "report.json"]
    assert sorted(p.name for p in out.iterdir()) == delivered  # nothing of the failed language
