"""Frames through a package's view (ModelConfig.view, the manifest's frame.view): the part of the
screen a game's model looks at, cropped and stretched to the model's frame.

Videos are decoded exactly as the service does (render.frame_filter). Clips that were only kept
as decoded 256x144 frames (the out-of-world training clips, demo-world streams) are cropped from
those frames and scaled up: softer than the service's crop of the source, so use that only for
training negatives, never for a held-out number.
"""
from __future__ import annotations

import os
import shutil
from typing import Dict, Sequence

import numpy as np
from PIL import Image

from .dataset import FPS, FRAME_H, FRAME_W
from .render import check_view, decode


def crop_frames(frames: np.ndarray, view: Sequence[float]) -> np.ndarray:
    """uint8 [T, H, W, 3] whole (letterboxed) frames -> the view, same size (bilinear)."""
    x, y, w, h = check_view(view)
    n, fh, fw, _ = frames.shape
    box = (round(x * fw), round(y * fh), round((x + w) * fw), round((y + h) * fh))
    return np.stack([np.asarray(Image.fromarray(f).crop(box).resize((fw, fh), Image.BILINEAR)) for f in frames])


def view_dir(src: str, out: str, view: Sequence[float], width: int = FRAME_W, height: int = FRAME_H, fps: int = FPS) -> Dict[str, int]:
    """Every <name>.mp4 under `src` decoded through `view`, every <name>.npy (not a cached
    embedding) cropped; <name>.json ground truth copied. Returns counts."""
    os.makedirs(out, exist_ok=True)
    done = {"decoded": 0, "cropped": 0}
    for f in sorted(os.listdir(src)):
        stem, ext = os.path.splitext(f)
        if ext == ".mp4":
            np.save(os.path.join(out, stem + ".npy"), decode(os.path.join(src, f), width, height, fps, view))
            done["decoded"] += 1
        elif ext == ".npy" and ".emb-" not in f and not f.endswith(".tmp.npy"):
            np.save(os.path.join(out, f), crop_frames(np.load(os.path.join(src, f)), view))
            done["cropped"] += 1
        else:
            continue
        if os.path.exists(os.path.join(src, stem + ".json")):
            shutil.copyfile(os.path.join(src, stem + ".json"), os.path.join(out, stem + ".json"))
    return done
