"""From words and speaker turns to lines: subtitle-sized runs of one speaker's speech."""

from __future__ import annotations

import numpy as np

from models.data import Diarization, Line, Transcript, Word

UNKNOWN_SPEAKER = "SPEAKER_00"  # the speaker of every word when diarization found no turns
SENTENCE_END = (".", "?", "!", "…")
CLOSING = "\"')]}»”’"
CLAUSE_END = (",", ";", ":", "—")
ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "etc.", "e.g.", "i.e.", "prof.", "jr.", "sr."}


def assign_speakers(words: list[Word], diarization: Diarization) -> list[Word]:
    """Copies of ``words``, each with the speaker whose turns overlap it most.

    A word that overlaps no turn gets the speaker of the nearest turn; with no turns
    at all every word gets ``SPEAKER_00``.
    """
    if not diarization.turns:
        return [w.model_copy(update={"speaker": UNKNOWN_SPEAKER}) for w in words]
    names = sorted({t.speaker for t in diarization.turns})
    turn_starts = np.array([t.start for t in diarization.turns])
    turn_ends = np.array([t.end for t in diarization.turns])
    turn_speakers = np.array([names.index(t.speaker) for t in diarization.turns])
    result = []
    for word in words:
        overlap = np.clip(np.minimum(turn_ends, word.end) - np.maximum(turn_starts, word.start), 0.0, None)
        if overlap.max() > 0:
            per_speaker = np.bincount(turn_speakers, weights=overlap, minlength=len(names))
            speaker = names[int(per_speaker.argmax())]
        else:
            distance = np.maximum(turn_starts - word.end, word.start - turn_ends)
            speaker = names[int(turn_speakers[int(distance.argmin())])]
        result.append(word.model_copy(update={"speaker": speaker}))
    return result


def ends_sentence(text: str) -> bool:
    """Whether a word closes a sentence (". ? !", not after a common abbreviation)."""
    stripped = text.strip().rstrip(CLOSING)
    return stripped.endswith(SENTENCE_END) and stripped.lower() not in ABBREVIATIONS


def build_lines(
    transcript: Transcript,
    diarization: Diarization,
    max_line_seconds: float = 8.0,
    pause_split_s: float = 1.0,
) -> list[Line]:
    """Group words into lines: consecutive words of one speaker, split at sentence ends,
    at pauses of ``pause_split_s`` or more, and where a line would exceed
    ``max_line_seconds`` (at the most natural break: a long gap or a comma)."""
    words = assign_speakers(sorted(transcript.words, key=lambda w: w.start), diarization)
    runs: list[list[Word]] = []
    for word in words:
        previous = runs[-1][-1] if runs else None
        if (
            previous is None
            or word.speaker != previous.speaker
            or ends_sentence(previous.text)
            or word.start - previous.end >= pause_split_s
        ):
            runs.append([word])
        else:
            runs[-1].append(word)
    pieces = [piece for run in runs for piece in _split_long(run, max_line_seconds)]
    return [
        Line(index=i, speaker=piece[0].speaker or UNKNOWN_SPEAKER, start=piece[0].start, end=piece[-1].end,
             text=" ".join(w.text for w in piece))
        for i, piece in enumerate(pieces)
    ]


def _split_long(words: list[Word], max_seconds: float) -> list[list[Word]]:
    """Split a run of words recursively until every piece lasts at most ``max_seconds``."""
    duration = words[-1].end - words[0].start
    if duration <= max_seconds or len(words) < 2:
        return [words]
    centre = words[0].start + duration / 2

    def score(i: int) -> float:  # break after words[i]: long gaps and commas, near the middle
        gap = words[i + 1].start - words[i].end
        clause = 0.25 if words[i].text.rstrip(CLOSING).endswith(CLAUSE_END) else 0.0
        return gap + clause - 0.5 * abs(words[i].end - centre) / duration

    cut = max(range(len(words) - 1), key=score) + 1
    return _split_long(words[:cut], max_seconds) + _split_long(words[cut:], max_seconds)


def align_lines_to_turns(lines: list[Line], diarization: Diarization, tolerance_s: float = 0.5) -> list[Line]:
    """Move line edges that lie within ``tolerance_s`` of their speaker's turn edges onto them.

    Word timestamps (tiny Whisper models especially) can start a few hundred ms early
    or late; the voice activity edges of the diarization are sharper. Lines never
    overlap afterwards, and an edge moves only where the result stays ordered.
    """
    aligned: list[Line] = []
    for line in lines:
        turns = [t for t in diarization.turns if t.speaker == line.speaker]
        overlaps = [min(t.end, line.end) - max(t.start, line.start) for t in turns]
        start, end = line.start, line.end
        if turns and max(overlaps) > 0:
            turn = turns[int(np.argmax(overlaps))]
            if abs(turn.start - line.start) <= tolerance_s:
                start = turn.start
            if abs(turn.end - line.end) <= tolerance_s:
                end = turn.end
        if aligned:
            start = max(start, aligned[-1].end)
        if end <= start:
            start, end = max(line.start, aligned[-1].end if aligned else line.start), line.end
        aligned.append(line.model_copy(update={"start": start, "end": max(end, start)}))
    return aligned
