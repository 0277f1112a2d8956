"""LTX-2 IC-LoRA lip sync on a tiny random LTX-2 pipeline and LoRA built in tmp_path.

The pipeline folder and the LoRA file are made with diffusers' and peft's own classes
(``models.testing.tiny_ltx``) and loaded back through ``LtxLipSync.from_pretrained``, the
loader users run with the hub ids.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

pytest.importorskip("diffusers")
pytest.importorskip("peft")
torch = pytest.importorskip("torch")

from models.compositor import LipSyncJob, render_lipsync  # noqa: E402
from models.compositor.crops import crop_geometry, cut_crop, paste_crop  # noqa: E402
from models.compositor.mask import blend, match_colour, mouth_mask  # noqa: E402
from models.compositor.render import _crossfade_weight  # noqa: E402
from models.lipsync import LipSyncBackend, LipSyncClip  # noqa: E402
from models.lipsync.ltx import ADAPTER, LtxLipSync, check  # noqa: E402
from models.lipsync.ltx_media import padded_frame_count  # noqa: E402
from models.testing.tiny_ltx import build_tiny_lora, build_tiny_ltx  # noqa: E402
from models.video_io import FrameWriter, read_frames  # noqa: E402
from polydub.errors import BackendUnavailableError, InputError  # noqa: E402

FPS, SR, SIZE = 25.0, 16000, 160


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("ltx")
    model = build_tiny_ltx(root / "model")
    return model, build_tiny_lora(root / "lora", model)


@pytest.fixture(scope="module")
def backend(tiny) -> LtxLipSync:
    model, lora = tiny
    return LtxLipSync.from_pretrained(str(model), lora=str(lora), device="cpu", resolution=32, max_frames=9,
                                      overlap=2, steps=2)


def _tone(frames: int, pitch: float, rate_hz: float = 3.0) -> np.ndarray:
    t = np.arange(int(round(frames / FPS * SR))) / SR
    return (0.3 * np.sin(2 * np.pi * pitch * t) * np.clip(np.sin(2 * np.pi * rate_hz * t), 0, None)).astype(np.float32)


def _clip(frames: int = 7, audio: np.ndarray | None = None, text: str = "hello there") -> LipSyncClip:
    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(frames)]
    return LipSyncClip(identity="face_0", first_frame=0, crops=crops, landmarks=np.zeros((frames, 68, 2)),
                       reference=crops[0], reference_landmarks=np.zeros((68, 2)),
                       audio=_tone(frames, 180.0) if audio is None else audio, sample_rate=SR, fps=FPS, text=text)


def test_loads_through_from_pretrained_with_the_lora(backend):
    assert isinstance(backend, LipSyncBackend)
    assert backend.name == "ltx" and "tiny_ic_lora" in backend.version and "frozen-audio" in backend.version
    assert ADAPTER in backend.pipe.get_active_adapters()
    assert backend.frame_limit == 9 and (backend.frame_limit - 1) % backend.temporal == 0 and backend.overlap == 2
    assert backend.max_supported_frames(10_000, fps=25.0) <= 20 * 25  # the transformer's positional range


def test_frozen_audio_comes_out_untouched_and_crops_keep_their_shape(backend):
    clip = _clip()
    out = backend.generate(clip)
    assert len(out.crops) == 7 and all(c.shape == (40, 40, 3) and c.dtype == np.uint8 for c in out.crops)
    canvas = backend._canvas(padded_frame_count(7, backend.temporal))
    given = backend.encode_audio(clip.audio, SR, canvas, FPS).cpu()
    assert out.audio_latents.shape == given.shape
    torch.testing.assert_close(out.audio_latents, given, rtol=1e-5, atol=1e-5)
    # the audio is really encoded: another line gives other latents
    other = backend.encode_audio(_tone(7, 420.0, 7.0), SR, canvas, FPS).cpu()
    assert (other - given).abs().max() > 1e-3


def test_different_audio_gives_a_different_video(backend):
    first = np.stack(backend.sync(_clip(audio=_tone(7, 180.0))))
    again = np.stack(backend.sync(_clip(audio=_tone(7, 180.0))))
    other = np.stack(backend.sync(_clip(audio=_tone(7, 600.0, 8.0) * 3.0)))
    assert np.array_equal(first, again)  # seeded: the change below comes from the audio
    assert np.abs(first.astype(int) - other.astype(int)).max() > 0


def test_the_lora_changes_the_output(backend):
    clip = _clip()
    with_lora = np.stack(backend.sync(clip))
    backend.pipe.set_adapters([ADAPTER], [0.0])
    try:
        without = np.stack(backend.sync(clip))
    finally:
        backend.pipe.set_adapters([ADAPTER], [1.0])
    assert np.abs(with_lora.astype(int) - without.astype(int)).max() > 0


def test_native_mode_returns_its_own_audio(backend):
    native = LtxLipSync(backend.pipe, mode="native", resolution=32, max_frames=9, steps=2, guidance=1.0)
    clip = _clip(frames=5)
    crops, audio = native.sync_native(clip)
    assert len(crops) == 5 and crops[0].shape == (40, 40, 3)
    assert audio.dtype == np.float32 and len(audio) == round(5 / FPS * SR) and np.abs(audio).max() > 0
    with pytest.raises(ValueError, match="native"):
        backend.sync_native(clip)


def test_bad_options_and_missing_weights_are_reported(backend, tmp_path):
    with pytest.raises(InputError):
        LtxLipSync(backend.pipe, mode="karaoke")
    with pytest.raises(InputError):
        LtxLipSync(backend.pipe, resolution=48)
    with pytest.raises(InputError):
        LtxLipSync(backend.pipe, resolution=32, reference_downscale_factor=0)
    with pytest.raises(BackendUnavailableError, match="huggingface-cli download"):
        LtxLipSync.from_pretrained(str(tmp_path / "missing"), lora=None, device="cpu")


def test_check_lists_packages_weights_gpu_and_licence(tiny):
    model, _ = tiny
    checks = {c.item: c for c in check(str(model))}
    assert checks["package diffusers>=0.42"].ok and checks["package peft"].ok
    assert checks[f"weights {model}"].ok
    lora = checks["weights Lightricks/LTX-2.3-22b-IC-LoRA-LipDub"]
    assert not lora.ok and "accept the terms" in lora.fix  # gated, not in this machine's cache
    gpu = next(c for c in checks.values() if c.item.startswith("GPU"))
    assert "48 GB" in gpu.detail
    if torch.cuda.is_available():
        assert gpu.ok == (torch.cuda.get_device_properties(0).total_memory >= 48 * 1024**3)
    else:
        assert not gpu.ok and "no CUDA GPU" in gpu.detail
    licence = next(c for c in checks.values() if c.item.startswith("licence"))
    assert not licence.ok and "commercial" in licence.detail


# ---------------------------------------------------------------- through the compositor
@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """30 frames of a real face photo with its dlib landmarks (measured on the decoded frame)."""
    dlib = pytest.importorskip("dlib")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models
    from skimage import data

    photo = np.ascontiguousarray(data.astronaut()[20 : 20 + SIZE * 2 : 2, 60 : 60 + SIZE * 2 : 2])
    path = tmp_path_factory.mktemp("face") / "source.mp4"
    with FrameWriter(path, SIZE, SIZE, FPS) as writer:
        for _ in range(30):
            writer.write(photo)
    frames = [frame.copy() for _, frame in read_frames(path, SIZE, SIZE)]
    box = dlib.get_frontal_face_detector()(frames[0], 1)[0]
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    landmarks = np.array([[p.x, p.y] for p in predictor(frames[0], box).parts()], dtype=np.float64)
    return path, frames, landmarks


class Recorder:
    """Passes chunks to the LTX backend and keeps each call's frame range and output crops."""

    def __init__(self, inner: LtxLipSync):
        self.inner, self.name, self.version = inner, inner.name, inner.version
        self.frame_limit, self.overlap = inner.frame_limit, inner.overlap
        self.calls: list[tuple[int, list[np.ndarray]]] = []

    def sync(self, clip: LipSyncClip) -> list[np.ndarray]:
        out = self.inner.sync(clip)
        self.calls.append((clip.first_frame, out))
        return out


def _psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2)[where].mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def test_render_chunks_cross_fade_and_keep_pixels_outside_the_mask(backend, face_video, tmp_path):
    source, frames, landmarks = face_video
    start, end = 4, 24
    job = LipSyncJob("face_0", start, end, np.repeat(landmarks[None], end - start, 0), 0, landmarks,
                     _tone(end - start, 200.0), SR, "hello there", "en")
    spy = Recorder(backend)
    out = tmp_path / "out.mp4"
    stats = render_lipsync(source, out, None, SIZE, SIZE, FPS, [job], spy)
    rendered = [frame.copy() for _, frame in read_frames(out, SIZE, SIZE)]
    assert stats.frames_changed == {"face_0": end - start} and len(rendered) == 30

    chunks = [(first, first + len(crops)) for first, crops in spy.calls]
    assert chunks == [(4, 13), (11, 20), (18, 24)]  # ≤ frame_limit frames, sharing `overlap` frames

    mask = mouth_mask(landmarks, frames[0].shape)
    outside = mask == 0
    assert min(_psnr(rendered[i], frames[i], outside) for i in range(30)) >= 40.0
    changed = mask > 0.9
    assert max(_psnr(rendered[i], frames[i], changed) for i in range(start, end)) < 40.0  # the mouth was re-drawn

    # a seam frame shows the weighted mix of both chunks' outputs, not either one alone
    side, corners = crop_geometry(np.repeat(landmarks[None], end - start, 0))
    corner = corners[0]
    crop_mask = mouth_mask(landmarks - corner, (side, side))

    def composite(generated: np.ndarray, index: int) -> np.ndarray:
        frame = frames[index].copy()
        src = cut_crop(frame, corner, side)
        paste_crop(frame, blend(src, match_colour(generated, src, crop_mask), crop_mask), corner)
        return frame

    errors = []
    for index in (11, 12):
        (a0, a), (b0, b) = spy.calls[0], spy.calls[1]
        first, second = a[index - a0].astype(np.float32), b[index - b0].astype(np.float32)
        wa = _crossfade_weight(index, chunks[0], None, chunks[1])
        wb = _crossfade_weight(index, chunks[1], chunks[0], chunks[2])
        assert 0 < wa < 1 and wa + wb == pytest.approx(1.0)
        mixed = np.clip(np.round((wa * first + wb * second) / (wa + wb)), 0, 255).astype(np.uint8)
        assert np.abs(first - second)[crop_mask > 0.9].mean() > 2.0  # the chunks really differ here
        got = rendered[index][changed].astype(np.float64)
        errors.append([np.abs(got - composite(g, index)[changed]).mean()
                       for g in (mixed, first.astype(np.uint8), second.astype(np.uint8))])
    for mixed_error, first_error, second_error in errors:
        assert mixed_error < min(first_error, second_error)


def test_reference_downscale_factor_comes_from_the_lora_metadata(backend, tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    from models.lipsync.ltx import _lora_metadata

    _, lora = tiny
    assert "reference_downscale_factor" not in _lora_metadata(str(lora.parent), lora.name)
    assert backend.reference_downscale_factor == 1
    tagged = tmp_path / "tagged.safetensors"
    save_file(load_file(str(lora)), str(tagged), metadata={"format": "pt", "reference_downscale_factor": "2"})
    assert _lora_metadata(str(tmp_path), tagged.name)["reference_downscale_factor"] == "2"
    half = LtxLipSync(backend.pipe, resolution=32, max_frames=9, steps=2, reference_downscale_factor=2)
    crops = half.sync(_clip(frames=5))  # the reference is encoded at 16², the video generated at 32²
    assert len(crops) == 5 and crops[0].shape == (40, 40, 3)


class NativeRecorder(Recorder):
    """Records each native call's first frame and the audio the model voiced for it."""

    voices_lines = True

    def sync_native(self, clip: LipSyncClip) -> tuple[list[np.ndarray], np.ndarray]:
        crops, audio = self.inner.sync_native(clip)
        self.calls.append((clip.first_frame, audio))
        return crops, audio


def test_native_mode_voicing_replaces_the_dubbed_line(backend, face_video, tmp_path):
    from models.data import Dub, DubbedLine
    from models.lipsync.voicing import revoice, save_voiced_lines

    source, _, landmarks = face_video
    native = LtxLipSync(backend.pipe, mode="native", resolution=32, max_frames=9, overlap=2, steps=2, guidance=1.0)
    start, end = 4, 24
    job = LipSyncJob("face_0", start, end, np.repeat(landmarks[None], end - start, 0), 0, landmarks,
                     _tone(end - start, 200.0), SR, "hola", "es", line_index=3)
    spy = NativeRecorder(native)
    stats = render_lipsync(source, tmp_path / "out.mp4", None, SIZE, SIZE, FPS, [job], spy)

    assert [first for first, _ in spy.calls] == [4, 11, 18]  # three chunks, each voiced by the model
    (span,) = stats.voiced
    per_frame = SR / FPS
    assert (span.line_index, span.start_frame, span.end_frame) == (3, 4, 24)
    assert len(span.audio) == round((end - start) * per_frame)
    # outside the shared frames the line's voicing is each chunk's own audio; at a seam, a cross-fade of both
    first_audio, second_audio = spy.calls[0][1], spy.calls[1][1]
    solo = slice(0, round(7 * per_frame))  # frames 4…10 belong to the first chunk alone
    np.testing.assert_allclose(span.audio[solo], first_audio[solo], atol=1e-6)
    seam = round(7.5 * per_frame)  # inside frame 11, shared by chunks one and two
    mixed = span.audio[seam]
    lo, hi = sorted((first_audio[seam], second_audio[seam - round(7 * per_frame)]))
    assert lo - 1e-6 <= mixed <= hi + 1e-6

    (voiced,) = save_voiced_lines(stats.voiced, FPS, tmp_path)
    assert (voiced.index, voiced.start, voiced.end) == (3, start / FPS, end / FPS)
    line = dict(index=0, speaker="S0", source_text="hi", target_text="hola", window_start=0.1, window_end=0.9,
                audio=str(tmp_path / "tts.wav"), natural_duration=0.5, speed=1.1, start=0.2, end=0.65)
    dub = Dub(language="es", lines=[DubbedLine(**line), DubbedLine(**{**line, "index": 3})])
    revoiced = revoice(dub, [voiced])
    assert revoiced.lines[0] == dub.lines[0]  # a line the model did not voice keeps the synthesized speech
    assert (revoiced.lines[1].audio, revoiced.lines[1].start, revoiced.lines[1].end) == (voiced.audio, 0.16, 0.96)
    assert revoiced.lines[1].speed == 1.0
