"""Carry a package's in-world head over to a re-export of the same vision encoder.

world.onnx reads `vision_embeds`; a decoder-only fine-tune (`cli train --fixed-vision`) leaves
them bit-identical, so the head and its calibrated threshold stay valid. This is checked, not
assumed: both packages' vision fixtures (the same seeded frames) must give the same embeddings,
or the head is refused and must be retrained with `cli world`.
"""
from __future__ import annotations

import base64
import json
import os
import shutil

import numpy as np

# float32 CPU kernels of two exports of the same weights agree to ~1e-7; any retraining moves them >1e-3
SAME_VISION_TOL = 1e-5


class CarryError(RuntimeError):
    pass


def _vision_out(pkg: str) -> np.ndarray:
    path = os.path.join(pkg, "fixtures", "vision.json")
    if not os.path.exists(path):
        raise CarryError(f"{path} is missing: export the package with the toolkit (cli export)")
    with open(path) as f:
        ref = json.load(f)["outputs"]["vision_embeds"]
    return np.frombuffer(base64.b64decode(ref["data_b64"]), dtype="<f4").reshape(ref["shape"])


def carry_world(src: str, dst: str) -> float:
    """Copies world.onnx and the manifest's `world` block from package `src` into `dst`; returns
    the max abs difference of the two packages' vision embeddings."""
    with open(os.path.join(src, "manifest.json")) as f:
        world = json.load(f).get("world")
    if not world:
        raise CarryError(f"{src} has no in-world head (no `world` in its manifest) to carry")
    a, b = _vision_out(src), _vision_out(dst)
    diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
    if not diff <= SAME_VISION_TOL:
        raise CarryError(f"the vision encoders of {src} and {dst} differ (max abs diff {diff:.3g} > {SAME_VISION_TOL}): "
                         f"the in-world head does not carry over; train one for {dst} with `cli world --package {dst}`")
    shutil.copyfile(os.path.join(src, "world.onnx"), os.path.join(dst, "world.onnx"))
    fixture = os.path.join(src, "fixtures", "world.json")   # its parity fixture travels with it (parity.mjs)
    if os.path.exists(fixture):
        os.makedirs(os.path.join(dst, "fixtures"), exist_ok=True)
        shutil.copyfile(fixture, os.path.join(dst, "fixtures", "world.json"))
    path = os.path.join(dst, "manifest.json")
    with open(path) as f:
        man = json.load(f)
    man["world"] = dict(world, carriedFrom=os.path.basename(os.path.normpath(src)), visionMaxAbsDiff=diff)
    man.setdefault("files", {})["world"] = "world.onnx"
    with open(path, "w") as f:
        json.dump(man, f, indent=2)
    return diff
