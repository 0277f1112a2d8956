"""Studio face analysis with insightface: SCRFD detection, 3D-68 landmarks, ArcFace identity.

The models come from an insightface model pack (``buffalo_l`` by default, in
``~/.insightface/models/<pack>``, or any folder of ONNX files), loaded through
insightface's own ``FaceAnalysis`` / ``model_zoo`` routing. The streaming pass, shot
splitting, tracking and identity linking are the shared ones used by the dlib backend
(``models.faces.tracking`` / ``shots``):

- detection (SCRFD) every ``detect_every`` frames and on the first frame of every shot;
- landmarks (``landmark_3d_68``: the same 68-point layout as dlib's, x/y kept) on every
  frame of every track, fitted in the box of the previous frame between detections;
- ArcFace embeddings (L2-normalised) on a few frames per track, aligned on 5 points taken
  from the 68 landmarks (eye centres, nose tip, mouth corners); identities are linked by
  euclidean distance between mean embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from models.faces.records import FaceAnalysis
from models.faces.video_analysis import analyze_video
from models.licences import licence_checks
from models.preflight import Check, gpu_check, package_check
from polydub.errors import BackendUnavailableError

STAGE = "faces"
DEFAULT_PACK = "buffalo_l"
MODULES = ("detection", "recognition", "landmark_3d_68")
ARCFACE_LINK = 1.05  # euclidean distance of unit embeddings ≈ cosine similarity 0.45


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """insightface's 5 alignment points (image-left eye, image-right eye, nose tip, mouth corners) from 68."""
    points = np.asarray(landmarks, dtype=np.float64)
    return np.stack([points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54]]).astype(np.float32)


def _pack_folder(root_or_pack: str, root: str) -> Path:
    """The folder of ONNX files for a pack name or a folder path; BackendUnavailableError if absent (never downloads)."""
    direct = Path(root_or_pack).expanduser()
    folder = direct if direct.is_dir() else Path(root).expanduser() / "models" / root_or_pack
    if not folder.is_dir() or not any(folder.glob("*.onnx")):
        raise BackendUnavailableError(
            f"insightface model pack '{root_or_pack}' not found in {folder}: download it once with "
            f"`python -c \"from insightface.app import FaceAnalysis; FaceAnalysis('{root_or_pack}')\"` "
            f"(or unzip {root_or_pack}.zip from the insightface releases into {folder})")
    return folder


def default_providers() -> list[str]:
    """CUDA first when onnxruntime has it, then the CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class InsightFaceAnalyzer:
    """The studio face backend (same tracking and outputs as the dlib backend)."""

    name = "insightface"

    def __init__(self, app: Any, *, pack: str = DEFAULT_PACK, providers: Sequence[str] = (), detect_every: int = 5,
                 min_track_frames: int = 5, max_descriptors: int = 3, link_threshold: float = ARCFACE_LINK):
        if detect_every < 1 or min_track_frames < 1 or max_descriptors < 1:
            raise ValueError("detect_every, min_track_frames and max_descriptors must be at least 1")
        missing = [m for m in MODULES if m not in app.models]
        if missing:
            raise BackendUnavailableError(f"insightface pack '{pack}' lacks the {', '.join(missing)} model(s) (buffalo_l has all three)")
        self.app, self.providers = app, list(providers)
        self.detect_every, self.min_track_frames = detect_every, min_track_frames
        self.max_descriptors, self.link_threshold = max_descriptors, link_threshold
        files = "+".join(sorted(Path(app.models[m].model_file).stem for m in MODULES))
        self.version = (f"insightface-{_version()}+{Path(pack).name}({files})+every{detect_every}+min{min_track_frames}"
                        f"+desc{max_descriptors}+link{link_threshold}")

    @classmethod
    def from_pretrained(cls, root_or_pack: str = DEFAULT_PACK, providers: Optional[Sequence[str]] = None, *,
                        root: str = "~/.insightface", det_size: tuple[int, int] = (640, 640), det_thresh: float = 0.5,
                        **options: Any) -> "InsightFaceAnalyzer":
        """Load a model pack (name under ``root``/models, or a folder of ONNX files) with onnxruntime ``providers``."""
        try:
            from insightface.app import FaceAnalysis as InsightApp
        except ImportError as exc:
            raise BackendUnavailableError(f"the insightface backend needs insightface and onnxruntime ({exc}): "
                                          "pip install insightface onnxruntime-gpu") from exc
        folder = _pack_folder(str(root_or_pack), root)
        providers = list(providers) if providers else default_providers()
        app = InsightApp(name=str(folder), root=root, allowed_modules=list(MODULES), providers=providers)
        app.prepare(ctx_id=0 if providers[0] == "CUDAExecutionProvider" else -1, det_size=tuple(det_size), det_thresh=det_thresh)
        return cls(app, pack=str(root_or_pack), providers=providers, **options)

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Face boxes (M, 4) in pixels of an RGB ``frame``."""
        boxes, _ = self.app.det_model.detect(np.ascontiguousarray(frame[..., ::-1]), max_num=0)
        return np.asarray(boxes, dtype=np.float64).reshape(-1, 5)[:, :4]

    def landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The 68 landmarks (68, 2) of the face in ``box`` of an RGB ``frame``."""
        from insightface.app.common import Face

        face = Face(bbox=np.asarray(box, dtype=np.float32))
        points = self.app.models["landmark_3d_68"].get(np.ascontiguousarray(frame[..., ::-1]), face)
        return np.asarray(points, dtype=np.float64)[:, :2]

    def descriptor(self, frame: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The L2-normalised ArcFace embedding of the face with these landmarks (RGB ``frame``)."""
        from insightface.app.common import Face

        face = Face(bbox=np.asarray(box, dtype=np.float32), kps=five_points(landmarks))
        embedding = np.asarray(self.app.models["recognition"].get(np.ascontiguousarray(frame[..., ::-1]), face), dtype=np.float64)
        return embedding / max(float(np.linalg.norm(embedding)), 1e-12)

    def detection_image(self, frame: np.ndarray) -> np.ndarray:
        """The RGB frame itself (the models convert to BGR on their own)."""
        return frame

    def analyze(self, video: Path, out_dir: Path, progress: Callable[[int, int], None] | None = None) -> FaceAnalysis:
        """Detect, track and identify every face of ``video``; track geometry goes to ``out_dir``."""
        return analyze_video(self, video, out_dir, progress)


def _version() -> str:
    try:
        return package_version("insightface")
    except PackageNotFoundError:
        return "unknown"


def check(model: Optional[str] = None, root: str = "~/.insightface") -> list[Check]:
    """What ``polydub doctor`` reports for insightface faces: packages, model pack, GPU, licence."""
    pack = model or DEFAULT_PACK
    checks = [package_check(STAGE, "insightface", "insightface"), package_check(STAGE, "onnxruntime", "onnxruntime-gpu")]
    try:
        folder = _pack_folder(pack, root)
        checks.append(Check(STAGE, f"weights {pack}", True, f"{len(list(folder.glob('*.onnx')))} ONNX models in {folder}"))
    except BackendUnavailableError as exc:
        checks.append(Check(STAGE, f"weights {pack}", False, "model pack not downloaded", fix=str(exc).split(": ", 1)[-1]))
    gpu = gpu_check(STAGE, 2)
    checks.append(Check(gpu.stage, gpu.item, True, gpu.detail + " (optional: runs on the CPU, slower)", gpu.fix if not gpu.ok else ""))
    checks.extend(licence_checks(STAGE, "insightface", {"model": pack}))
    return checks
