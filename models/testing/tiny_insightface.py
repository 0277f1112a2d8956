"""A tiny insightface model pack (SCRFD detector, ArcFace recogniser, 3D-68 landmarks) for tests and the bench.

The three ONNX files are exported with ``torch.onnx.export`` from small modules with
hand-set weights and the inputs/outputs that ``insightface.model_zoo`` routes on:

- detection: dynamic (1, 3, H, W) input, 9 outputs (scores, box distances and 5-point
  distances for strides 8/16/32, two anchors per cell). It "finds" bright blobs on a
  dark background: the score of a stride-8 cell is a sigmoid of the mean brightness
  around it, the box and 5 points are fixed offsets from the cell centre;
- recognition: (1, 3, 112, 112) → 512, a fixed random projection of the chroma (colour
  minus grey level) on a 4 × 4 grid of the aligned crop (different colours → different identities);
- landmarks: (1, 3, 192, 192) → 3309 (1103 × 3 points, the last 68 used), insightface's
  own 68-point mean shape fitted to the box of a synthetic face.

``draw_face`` paints the synthetic faces these models respond to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FACE_HALF = (28, 36)  # half width, half height of a synthetic face (pixels)
POOL = 7  # detector window, in stride-8 cells (about a face: the score peaks at its centre)
KPS = [(-11, -10), (11, -10), (0, 4), (-9, 17), (9, 17)]  # eyes, nose, mouth corners from the centre


def draw_face(frame: np.ndarray, centre: tuple[float, float], colour: tuple[int, int, int]) -> None:
    """Paint a synthetic face (a coloured ellipse with dark eyes and mouth) on an RGB ``frame`` in place."""
    import cv2

    cx, cy = int(round(centre[0])), int(round(centre[1]))
    cv2.ellipse(frame, (cx, cy), FACE_HALF, 0, 0, 360, colour, -1)
    dark = tuple(int(c * 0.35) for c in colour)
    for dx, dy in KPS[:2]:
        cv2.circle(frame, (cx + dx, cy + dy), 4, dark, -1)
    cv2.ellipse(frame, (cx, cy + 17), (9, 4), 0, 0, 360, dark, -1)


def _mean_shape_68() -> np.ndarray:
    """insightface's 3D mean shape of the 68 points, x/y scaled into [-1, 1] of its box (68, 3)."""
    from insightface.data import get_object

    shape = np.asarray(get_object("meanshape_68.pkl"), dtype=np.float64).reshape(68, 3)
    centre = (shape[:, :2].max(axis=0) + shape[:, :2].min(axis=0)) / 2
    half = (shape[:, :2].max(axis=0) - shape[:, :2].min(axis=0)) / 2
    out = shape.copy()
    out[:, :2] = (shape[:, :2] - centre) / half
    out[:, 1] *= -1 if shape[8, 1] < shape[27, 1] else 1  # chin below the nose bridge in image coordinates
    out[:, 2] = (shape[:, 2] - shape[:, 2].mean()) / half.max()
    return out


def _modules():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Detector(nn.Module):
        def __init__(self, threshold: float):
            super().__init__()
            self.threshold = threshold
            half_x, half_y = FACE_HALF
            self.register_buffer("box", torch.tensor([half_x, half_y, half_x, half_y], dtype=torch.float32) / 8.0)
            self.register_buffer("kps", torch.tensor([v for p in KPS for v in p], dtype=torch.float32) / 8.0)

        def forward(self, x):
            lum = x.mean(dim=1, keepdim=True)
            outputs = {}
            for stride in (8, 16, 32):
                cells = F.avg_pool2d(lum, stride, stride)
                if stride == 8:
                    pooled = F.avg_pool2d(cells, POOL, 1, POOL // 2, count_include_pad=True)
                    score = torch.sigmoid(40.0 * (pooled - self.threshold))
                else:
                    score = cells * 0.0
                flat = score.permute(0, 2, 3, 1).reshape(-1, 1).repeat_interleave(2, dim=0)
                ones = torch.ones_like(flat)
                outputs[stride] = (flat, ones * self.box / (stride / 8.0), ones * self.kps / (stride / 8.0))
            scores = [outputs[s][0] for s in (8, 16, 32)]
            boxes = [outputs[s][1] for s in (8, 16, 32)]
            points = [outputs[s][2] for s in (8, 16, 32)]
            return (*scores, *boxes, *points)

    class Recogniser(nn.Module):
        def __init__(self):
            super().__init__()
            generator = torch.Generator().manual_seed(7)
            self.register_buffer("projection", torch.randn(3 * 4 * 4, 512, generator=generator))

        def forward(self, x):
            grid = F.adaptive_avg_pool2d(x, 4)
            chroma = (grid - grid.mean(dim=1, keepdim=True)).reshape(x.shape[0], -1)
            return chroma @ self.projection

    class Landmarks(nn.Module):
        def __init__(self):
            super().__init__()
            points = np.zeros((1103, 3), np.float32)
            shape = _mean_shape_68()
            shape[:, 0] *= FACE_HALF[0] / FACE_HALF[1]  # the crop is square on the box's longer (vertical) side
            points[-68:] = shape / 1.5  # … enlarged 1.5 times
            self.register_buffer("points", torch.from_numpy(points.reshape(1, -1)))

        def forward(self, x):
            return self.points + 0.0 * x.mean()

    return Detector, Recogniser, Landmarks


def build_tiny_pack(folder: Path, threshold: float = 0.0) -> Path:
    """Export the three tiny ONNX models into ``folder`` (a FaceAnalysis model pack folder)."""
    import warnings

    import torch

    Detector, Recogniser, Landmarks = _modules()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names_out = [f"{kind}_{s}" for kind in ("score", "bbox", "kps") for s in (8, 16, 32)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Detector(threshold).eval(), (torch.zeros(1, 3, 160, 160),), str(folder / "det_tiny.onnx"),
                          input_names=["input.1"], output_names=names_out, dynamo=False, opset_version=17,
                          dynamic_axes={"input.1": {2: "height", 3: "width"}, **{n: {0: f"n_{n}"} for n in names_out}})
        torch.onnx.export(Recogniser().eval(), (torch.zeros(1, 3, 112, 112),), str(folder / "w600k_tiny.onnx"),
                          input_names=["input.1"], output_names=["embedding"], dynamo=False, opset_version=17,
                          dynamic_axes={"input.1": {0: "batch"}, "embedding": {0: "batch"}})
        torch.onnx.export(Landmarks().eval(), (torch.zeros(1, 3, 192, 192),), str(folder / "1k3d68_tiny.onnx"),
                          input_names=["data"], output_names=["fc1"], dynamo=False, opset_version=17)
    return folder


def smoke(workdir: Path, device: str) -> dict[str, float | str]:
    """GPU smoke stage: insightface analysis of a short synthetic two-face video with the tiny pack."""
    from models.faces.insightface_faces import InsightFaceAnalyzer
    from models.video_io import FrameWriter

    pack = build_tiny_pack(Path(workdir) / "pack")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    analyzer = InsightFaceAnalyzer.from_pretrained(str(pack), providers=providers, det_size=(320, 192))
    video = Path(workdir) / "faces.mp4"
    with FrameWriter(video, 320, 192, 25.0) as writer:
        for index in range(25):
            frame = np.full((192, 320, 3), 10, np.uint8)
            draw_face(frame, (80 + index, 96), (230, 180, 150))
            draw_face(frame, (240 - index, 96), (120, 200, 240))
            writer.write(frame)
    analysis = analyzer.analyze(video, Path(workdir) / "out")
    identities = {track.identity for track in analysis.tracks}
    if len(identities) != 2:
        raise AssertionError(f"expected 2 identities, found {sorted(identities)}")
    return {"providers": ",".join(analyzer.providers), "tracks": str(len(analysis.tracks))}
