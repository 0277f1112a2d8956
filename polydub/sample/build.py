"""Build the sample interview video and its ground truth (script, speaker turns, text).

The audio is laid out line by line: each line is spoken by espeak-ng, resampled to
48 kHz, trimmed to its measured speech extent and placed at a sample-exact time, so
the ground-truth line times are the real speech extents in the final audio. A soft
chord sits 27 dB under the speech. The cut between the two shots falls on a frame
boundary in the middle of a pause. Two speakers are on screen and talk (their mouths
move with their own speech); a narrator is heard but never seen.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.audio import read_audio, speech_bounds, write_wav
from models.data import Diarization, Line, SpeakerTurn
from models.espeak import speak_to_wav
from models.lipsync.motion import MouthPose, mouth_poses
from models.lipsync.warp import warp_mouth
from models.metrics import write_rttm
from polydub.errors import InputError
from polydub.sample import script, video
from polydub.workdir import atomic_path, write_text_atomic

SAMPLE_RATE = video.AUDIO_SAMPLE_RATE
SAMPLES_PER_FRAME = SAMPLE_RATE // video.FPS
SPEECH_RMS = 0.08  # per-line speech level (about -22 dBFS)
BACKGROUND_BELOW_SPEECH_DB = 27.0
BACKGROUND_CHORD_HZ = (130.81, 196.00, 261.63, 329.63)  # C major, low and soft
BACKGROUND_FADE_SECONDS = 1.5
TRIM_THRESHOLD_DB = -45.0  # below the clip's peak: espeak-ng's lead/trail is (near) silence

STEM = "interview"


@dataclass(frozen=True)
class SampleFiles:
    """The files ``build_sample`` writes."""

    video: Path  # DIR/interview.mp4
    script: Path  # DIR/interview.script.json
    rttm: Path  # DIR/interview.rttm
    reference_text: Path  # DIR/interview.txt: one script line per text line


def spoken_line(text: str, speaker: script.Speaker, scratch: Path) -> np.ndarray:
    """One line spoken by espeak-ng: 48 kHz mono, trimmed to its speech, at SPEECH_RMS."""
    wav = speak_to_wav(text, scratch / "line.wav", voice=speaker.voice, pitch=speaker.pitch, rate_wpm=script.RATE_WPM)
    samples, _ = read_audio(wav, sample_rate=SAMPLE_RATE)
    start, end = speech_bounds(samples, top_db=-TRIM_THRESHOLD_DB)
    if end <= start:
        raise ValueError(f"espeak-ng produced silence for: {text}")
    clip = samples[start:end].astype(np.float64)
    return clip * (SPEECH_RMS / np.sqrt(np.mean(clip**2)))


def background_chord(length: int) -> np.ndarray:
    """A soft sustained chord with a slow swell and fades at both ends (peak RMS 1)."""
    t = np.arange(length) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * hz * t + i) for i, hz in enumerate(BACKGROUND_CHORD_HZ))
    chord *= 1.0 + 0.2 * np.sin(2 * np.pi * 0.15 * t)
    chord /= np.sqrt(np.mean(chord**2))
    fade = min(int(BACKGROUND_FADE_SECONDS * SAMPLE_RATE), length // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    chord[:fade] *= ramp
    chord[length - fade :] *= ramp[::-1]
    return chord


def lay_out_speech(clips: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]], int]:
    """Place the clips one after another with the script's pauses.

    Returns the speech track (its length a whole number of video frames), each
    line's (start, end) sample, and the frame at which the shot changes.
    """
    spans: list[tuple[int, int]] = []
    cursor = round(script.LEAD_IN_SECONDS * SAMPLE_RATE)
    cut_frame = 0
    for index, (line, clip) in enumerate(zip(script.LINES, clips)):
        spans.append((cursor, cursor + len(clip)))
        pause = round(line.pause_after * SAMPLE_RATE)
        if index == script.SHOT_CHANGE_AFTER_LINE:
            cut_frame = round((cursor + len(clip) + pause / 2) / SAMPLES_PER_FRAME)
        cursor += len(clip) + pause
    frames = math.ceil((cursor + script.TAIL_SECONDS * SAMPLE_RATE) / SAMPLES_PER_FRAME)
    track = np.zeros(frames * SAMPLES_PER_FRAME)
    for (start, end), clip in zip(spans, clips):
        track[start:end] = clip
    return track, spans, cut_frame


def speaker_tracks(clips: list[np.ndarray], spans: list[tuple[int, int]], length: int) -> dict[str, np.ndarray]:
    """Each speaker's speech alone, laid out at its lines' times (silence elsewhere)."""
    tracks = {s.id: np.zeros(length) for s in script.SPEAKERS}
    for line, clip, (start, end) in zip(script.LINES, clips, spans):
        tracks[line.speaker][start:end] = clip
    return tracks


def talking_frames(tracks: dict[str, np.ndarray], cut_frame: int, total_frames: int) -> Iterator[np.ndarray]:
    """Every frame of the video: the shot's still with each on-screen speaker's mouth following its speech.

    Mouth poses come from the same speech-to-mouth model the lite lip-sync backend uses,
    so each face's mouth opens with its own voice and stays closed while it listens.
    """
    photos = video.face_photos()
    speaker_of = {s.face: s.id for s in script.SPEAKERS if s.face is not None}
    poses = {
        speaker_id: mouth_poses(tracks[speaker_id], SAMPLE_RATE, video.FPS, total_frames) for speaker_id in speaker_of.values()
    }
    shots = []
    for framing in (video.WIDE, video.CLOSE):
        still = video.compose_frame(framing, photos)
        shots.append((framing, still, video.face_landmarks(still, framing)))
    closed = MouthPose(opening=0.0, spread=0.0)
    for index in range(total_frames):
        framing, still, landmarks = shots[0 if index < cut_frame else 1]
        frame = still
        for place in framing.placements:
            pose = poses[speaker_of[place.face]][index]
            if pose != closed:
                frame = warp_mouth(frame, landmarks[place.face], pose)
        yield frame


def _seconds(sample: int) -> float:
    return round(sample / SAMPLE_RATE, 4)


def ground_truth(spans: list[tuple[int, int]], cut_frame: int, total_frames: int) -> dict:
    """The content of interview.script.json."""
    fps = video.FPS
    framings = (video.WIDE, video.CLOSE)
    shot_bounds = ((0, cut_frame), (cut_frame, total_frames))
    faces = {s.face: s.id for s in script.SPEAKERS}
    return {
        "video": f"{STEM}.mp4",
        "fps": fps,
        "width": video.WIDTH,
        "height": video.HEIGHT,
        "duration": round(total_frames / fps, 4),
        "language": "en",
        "speakers": {s.id: {"voice": s.voice, "pitch": s.pitch, "rate_wpm": script.RATE_WPM, "face": s.face} for s in script.SPEAKERS},
        "shots": [
            {
                "start": round(first / fps, 4),
                "end": round(last / fps, 4),
                "start_frame": first,
                "end_frame": last,
                "framing": framing.name,
                "faces": {faces[p.face]: list(p.box) for p in framing.placements},
            }
            for (first, last), framing in zip(shot_bounds, framings)
        ],
        "lines": [
            Line(index=i, speaker=line.speaker, text=line.text, start=_seconds(a), end=_seconds(b)).model_dump()
            for i, (line, (a, b)) in enumerate(zip(script.LINES, spans))
        ],
    }


def build_sample(out_dir: Path | str) -> SampleFiles:
    """Write the sample interview (mp4) and its ground truth into ``out_dir``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"cannot build the sample in {out}: it is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    files = SampleFiles(
        video=out / f"{STEM}.mp4",
        script=out / f"{STEM}.script.json",
        rttm=out / f"{STEM}.rttm",
        reference_text=out / f"{STEM}.txt",
    )
    with tempfile.TemporaryDirectory(prefix=".sample-", dir=out) as scratch_name:
        scratch = Path(scratch_name)
        clips = [spoken_line(line.text, script.speaker(line.speaker), scratch) for line in script.LINES]
        speech, spans, cut_frame = lay_out_speech(clips)
        background = background_chord(len(speech)) * SPEECH_RMS * 10 ** (-BACKGROUND_BELOW_SPEECH_DB / 20)
        mix = speech + background
        mix *= min(1.0, 0.9 / float(np.abs(mix).max()))
        audio = write_wav(scratch / "mix.wav", np.stack([mix, mix], axis=1), SAMPLE_RATE)

        total_frames = len(speech) // SAMPLES_PER_FRAME
        frames = talking_frames(speaker_tracks(clips, spans, len(speech)), cut_frame, total_frames)
        with atomic_path(files.video) as tmp:
            video.encode_mp4(frames, audio, tmp)

    truth = ground_truth(spans, cut_frame, total_frames)
    write_text_atomic(files.script, json.dumps(truth, indent=2) + "\n")
    turns = [SpeakerTurn(speaker=line["speaker"], start=line["start"], end=line["end"]) for line in truth["lines"]]
    with atomic_path(files.rttm) as tmp:
        write_rttm(Diarization(turns=turns), tmp, uri=STEM)
    write_text_atomic(files.reference_text, "".join(line.text + "\n" for line in script.LINES))
    return files
