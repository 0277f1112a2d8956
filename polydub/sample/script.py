"""The sample interview's script: who speaks, in which espeak-ng voice, what and when.

The wording is everyday English that faster-whisper tiny.en transcribes reliably from
espeak-ng speech (no names, numbers or contractions), in short lines that leave room
for a longer translation to be fitted after borrowing the following pause.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speaker:
    """One speaker: its espeak-ng voice and the face photo shown for it (None: never on screen)."""

    id: str
    voice: str
    pitch: int
    face: str | None


@dataclass(frozen=True)
class ScriptLine:
    """One line of the script and the silence that follows it (seconds)."""

    speaker: str
    text: str
    pause_after: float


RATE_WPM = 150  # espeak-ng's default is 175: a little slower is easier to understand
LEAD_IN_SECONDS = 0.6  # silence before the first line
TAIL_SECONDS = 0.6  # silence after the last line (beyond its pause)
SHOT_CHANGE_AFTER_LINE = 5  # the cut sits in the middle of the pause after this line

SPEAKERS: tuple[Speaker, ...] = (
    Speaker(id="spk_a", voice="en-us+f3", pitch=75, face="astronaut"),
    Speaker(id="spk_b", voice="en-us+m3", pitch=25, face="tom_hanks"),
    Speaker(id="narrator", voice="en-us+grandma", pitch=50, face=None),  # off screen: a voice-over
)

LINES: tuple[ScriptLine, ...] = (
    ScriptLine("narrator", "This is a short talk about work and life.", 0.8),
    ScriptLine("spk_a", "Good morning, and thank you for coming today.", 0.8),
    ScriptLine("spk_b", "Thank you for having me. I am happy to be here.", 0.9),
    ScriptLine("spk_a", "What do you like most about your work?", 0.7),
    ScriptLine("spk_b", "I love meeting new people every day.", 0.8),
    ScriptLine("spk_a", "Was it hard at the beginning?", 1.0),
    ScriptLine("spk_b", "Yes, it was very hard. But I learned a lot.", 0.9),
    ScriptLine("spk_a", "What would you tell a young person?", 0.7),
    ScriptLine("spk_b", "Work hard, be kind, and keep trying.", 0.8),
    ScriptLine("spk_a", "Thank you so much for your time.", 0.7),
    ScriptLine("spk_b", "It was my pleasure. Have a nice day.", 0.8),
    ScriptLine("narrator", "This is the end of the talk. Thank you for watching.", 0.0),
)


def speaker(speaker_id: str) -> Speaker:
    """The speaker with this id (KeyError if the script has none)."""
    for candidate in SPEAKERS:
        if candidate.id == speaker_id:
            return candidate
    raise KeyError(speaker_id)
