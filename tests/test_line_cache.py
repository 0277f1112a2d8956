"""The line-level speech cache: only lines whose text, voice, speed or backend changed are spoken again."""

from __future__ import annotations

import soundfile as sf

from models.data import TranslatedLine, Voice
from models.synthesize import load_synthesizer, synthesize_lines
from polydub.workdir import WorkDir
from tasks.line_cache import CachedSynthesizer


def _lines(texts: list[str]) -> list[TranslatedLine]:
    return [TranslatedLine(index=i, speaker="S1", start=2 * i, end=2 * i + 1.5, source_text="x", target_text=t) for i, t in enumerate(texts)]


def test_only_changed_lines_are_synthesized_again(tmp_path):
    work = WorkDir(tmp_path / "work", "ab" * 32)
    espeak = load_synthesizer("espeak")
    voices = [Voice(speaker="S1", name="es", pitch=50)]
    texts = ["Hola a todos.", "Bienvenidos al programa.", "Hasta mañana."]

    first = CachedSynthesizer(espeak, work)
    spoken = synthesize_lines(first, _lines(texts), voices, "es", tmp_path / "one")
    assert len(first.computed) == 3 and first.reused == []

    second = CachedSynthesizer(espeak, work)
    edited = [texts[0], "Bienvenidas y bienvenidos a este programa.", texts[2]]
    again = synthesize_lines(second, _lines(edited), voices, "es", tmp_path / "two")
    assert second.computed == ["line-00001.wav"]
    assert sorted(second.reused) == ["line-00000.wav", "line-00002.wav"]
    # reused lines are the same audio with the same duration; the edited one is new speech
    assert again[0].duration == spoken[0].duration
    assert (tmp_path / "two" / "line-00000.wav").read_bytes() == (tmp_path / "one" / "line-00000.wav").read_bytes()
    assert again[1].duration > spoken[1].duration
    assert sf.info(str(tmp_path / "two" / "line-00001.wav")).duration > 0

    third = CachedSynthesizer(espeak, work)  # another voice or speed is another line
    third.synthesize(texts[0], Voice(speaker="S1", name="es", pitch=20), "es", tmp_path / "pitch.wav")
    third.synthesize(texts[0], voices[0], "es", tmp_path / "fast.wav", speed=1.2)
    assert third.reused == [] and len(third.computed) == 2

    third.write_record(tmp_path)
    assert (tmp_path / "lines.json").exists()
