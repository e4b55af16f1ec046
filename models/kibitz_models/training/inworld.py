"""The in-world score: does this frame belong to the world the model was trained on?

A small head reads the vision encoder's output (the same `vision_embeds` the decoder gets) and
gives P(in world) per frame. It is trained on frames of the model's own world (positives) and
on out-of-world clips (outworld.py, `train` families; negatives), its threshold is chosen on
the `val` families plus in-world validation seeds, and it is exported as `world.onnx` next to
the package's other graphs, with the threshold in the manifest's `world` block. The runtime
(src/model/world_watch.ts) keeps silent on frames under the threshold and tells the streamer
when a stream stays outside the world.

The encoder is frozen: the head learns nothing the decoder would see differently, and any
package can gain a head without retraining its decoder.
"""
from __future__ import annotations

import glob
import json
import os
import time
from typing import Dict, List, Tuple

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from ..export.onnx_io import onnx_export
from ..model.model import ModelConfig, VisionEncoder

WORLD_FILE = "world.onnx"


class WorldHead(nn.Module):
    """vision_embeds (N, V, d) -> logit of P(in world) (N,).

    Inputs are standardised with the in-world training frames' per-channel mean/std (fixed
    buffers), so content unlike the world shows up as large values rather than being normalised
    away. The head sees where each token is (a world has its HUD in one place), not only a pool."""

    def __init__(self, d_model: int, hidden: int = 64, tokens: int = 25, per_token: int = 8):
        super().__init__()
        self.register_buffer("mu", torch.zeros(d_model))
        self.register_buffer("sd", torch.ones(d_model))
        self.tok = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.where = nn.Linear(hidden, per_token)
        self.out = nn.Sequential(nn.Linear(2 * hidden + tokens * per_token, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        x = (embeds - self.mu) / self.sd                                      # (N, V, d)
        x = self.tok(x.clamp(-20, 20))                                        # (N, V, h)
        z = torch.cat([x.mean(dim=1), x.amax(dim=1), self.where(x).flatten(1)], dim=-1)  # (N, 2h + V*p)
        return self.out(z).squeeze(-1)                                        # (N,)


class WorldGraph(nn.Module):
    """What world.onnx computes: P(in world) per frame."""

    def __init__(self, head: WorldHead):
        super().__init__()
        self.head = head

    def forward(self, vision_embeds):
        return torch.sigmoid(self.head(vision_embeds))


def vision_from_package(pkg_dir: str) -> VisionEncoder:
    """Rebuilds the package's vision encoder in PyTorch from vision.onnx's initializers (the
    projector's weights are stored transposed as MatMul inputs)."""
    with open(os.path.join(pkg_dir, "manifest.json")) as f:
        man = json.load(f)
    cfg = ModelConfig(d_model=man["decoder"]["dModel"])
    enc = VisionEncoder(cfg)
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(os.path.join(pkg_dir, "vision.onnx")).graph.initializer}
    sd = enc.state_dict()
    loaded = {}
    for k in sd:
        if f"vision.{k}" in inits:
            loaded[k] = inits[f"vision.{k}"]
    # projector weights: unnamed MatMul initializers, in graph order, transposed
    mats = [v for n, v in inits.items() if n.startswith("onnx::MatMul")]
    for k, w in zip(["proj.0.weight", "proj.2.weight"], mats):
        loaded[k] = w.t().contiguous()
    missing = [k for k in sd if k not in loaded or loaded[k].shape != sd[k].shape]
    if missing:
        raise ValueError(f"{pkg_dir}/vision.onnx: cannot map {missing} onto the toolkit's VisionEncoder")
    enc.load_state_dict(loaded)
    import hashlib
    with open(os.path.join(pkg_dir, "vision.onnx"), "rb") as f:
        enc.cache_tag = hashlib.sha1(f.read()).hexdigest()[:10]
    return enc.eval()


@torch.no_grad()
def embed_frames(enc: VisionEncoder, frames: np.ndarray, batch: int = 128) -> torch.Tensor:
    out = [enc(torch.from_numpy(np.ascontiguousarray(frames[i:i + batch]))) for i in range(0, len(frames), batch)]
    return torch.cat(out) if out else torch.zeros(0)


def _load_frames(pattern_dirs: List[str], every: int = 1) -> np.ndarray:
    arrs = []
    for d in pattern_dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.npy"))):
            if p.endswith(".tmp.npy") or ".emb-" in p:
                continue
            arrs.append(np.load(p)[::every])
    if not arrs:
        raise FileNotFoundError(f"no .npy frames under {pattern_dirs}")
    return np.concatenate(arrs)


def _embed_split(enc, dirs: List[str], every: int = 1) -> torch.Tensor:
    """Embeddings of every clip under `dirs`, cached next to each clip (`.emb-<encoder>.npy`,
    float16) so retraining the head does not re-run the encoder."""
    tag = getattr(enc, "cache_tag", None)
    out = []
    for d in dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.npy"))):
            if p.endswith(".tmp.npy") or ".emb-" in p:
                continue
            cache = f"{p[:-4]}.emb-{tag}.npy" if tag else None
            if cache and os.path.exists(cache):
                e = torch.from_numpy(np.load(cache).astype(np.float32))
            else:
                e = embed_frames(enc, np.load(p))
                if cache:
                    np.save(cache, e.numpy().astype(np.float16))
            out.append(e[::every])
    if not out:
        raise FileNotFoundError(f"no .npy frames under {dirs}")
    return torch.cat(out)


def choose_threshold(p_in: np.ndarray, p_out: np.ndarray, min_in_recall: float) -> float:
    """Halfway (in logit space) between the in-world frames' `1 - min_in_recall` quantile and
    the out-of-world frames' 99th percentile: a margin on both sides for content that differs a
    little from validation (another encoder, another bitrate). When the two overlap, the
    in-world quantile wins: the model's own world stays (nearly) untouched."""
    logit = lambda p: float(np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6))))
    lo_in = logit(np.quantile(p_in, 1.0 - min_in_recall))
    hi_out = logit(np.quantile(p_out, 0.99))
    z = (lo_in + hi_out) / 2 if lo_in > hi_out else lo_in
    return float(min(0.99, max(0.01, 1 / (1 + np.exp(-z)))))


def rates(p_in: np.ndarray, p_out: np.ndarray, thr: float) -> Dict[str, float]:
    return {"inWorldAccepted": float((p_in >= thr).mean()), "outWorldRejected": float((p_out < thr).mean()),
            "inFrames": int(len(p_in)), "outFrames": int(len(p_out))}


def paint_over_rows(frames: np.ndarray, rows: int) -> np.ndarray:
    """The frames with their top `rows` painted in the colour just below: the world without its
    HUD, a negative the world itself provides (a stream cropped, or another game on the same
    kind of background)."""
    out = frames.copy()
    out[:, :rows] = out[:, rows + 10:rows + 11]
    return out


def train_world_head(pkg_dir: str, in_train: str, out_train: str, in_val: str, out_val: str,
                     minutes: float = 5.0, seed: int = 0, min_in_recall: float = 0.995,
                     hidden: int = 64, hud_rows: int = 0) -> Tuple[WorldHead, dict]:
    torch.manual_seed(seed)
    enc = vision_from_package(pkg_dir)
    t0 = time.time()
    e_in = _embed_split(enc, [in_train])
    e_out = _embed_split(enc, [out_train])
    if hud_rows > 0:
        e_out = torch.cat([e_out, embed_frames(enc, paint_over_rows(_load_frames([in_train], 4), hud_rows))])
    print(f"world: embedded {len(e_in)} in-world and {len(e_out)} out-of-world training frames in {time.time() - t0:.0f} s", flush=True)
    head = WorldHead(e_in.shape[-1], hidden, tokens=e_in.shape[1])
    head.mu.copy_(e_in.mean(dim=(0, 1)))
    head.sd.copy_(e_in.std(dim=(0, 1)).clamp_min(1e-3))
    x = torch.cat([e_in, e_out])
    y = torch.cat([torch.ones(len(e_in)), torch.zeros(len(e_out))])
    # classes weighted equally, whatever their frame counts
    w = torch.cat([torch.full((len(e_in),), 0.5 / len(e_in)), torch.full((len(e_out),), 0.5 / len(e_out))]) * len(y)
    opt = torch.optim.AdamW(head.parameters(), lr=2e-3, weight_decay=1e-2)
    steps, t1 = 0, time.time()
    while time.time() - t1 < minutes * 60:
        idx = torch.randint(0, len(y), (256,))
        xb = x[idx] + 0.05 * torch.randn_like(x[idx]) * head.sd  # a little noise: smoother boundary
        loss = (nn.functional.binary_cross_entropy_with_logits(head(xb), y[idx], reduction="none") * w[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
        if steps % 500 == 0:
            print(f"world: step {steps} loss {loss.item():.4f}", flush=True)
    head.eval()
    with torch.no_grad():
        pv_in = torch.sigmoid(head(_embed_split(enc, [in_val]))).numpy()
        pv_out = torch.sigmoid(head(_embed_split(enc, [out_val]))).numpy()
    thr = choose_threshold(pv_in, pv_out, min_in_recall)
    q = lambda a: [round(float(x), 4) for x in np.quantile(a, [0.001, 0.005, 0.01, 0.5, 0.99, 0.999])]
    print(f"world: validation quantiles (0.1%, 0.5%, 1%, 50%, 99%, 99.9%) in-world {q(pv_in)} out-of-world {q(pv_out)}", flush=True)
    meta = {"steps": steps, "train_s": round(time.time() - t1), "threshold": thr, "hudRows": hud_rows,
            "val": rates(pv_in, pv_out, thr), "trainFrames": {"in": len(e_in), "out": len(e_out)}, "minInRecall": min_in_recall}
    print(f"world: threshold {thr:.4f}; validation {json.dumps(meta['val'])}", flush=True)
    return head, meta


def export_world(head: WorldHead, pkg_dir: str, meta: dict) -> None:
    """Writes world.onnx and the manifest's `world` block; checks ORT-free parity by re-reading
    the graph with onnx.checker (runtime parity: models/scripts/parity.mjs via fixtures)."""
    with open(os.path.join(pkg_dir, "manifest.json")) as f:
        man = json.load(f)
    V, d = man["vision"]["tokensPerFrame"], man["decoder"]["dModel"]
    path = os.path.join(pkg_dir, WORLD_FILE)
    ex = torch.randn(2, V, d)
    onnx_export(WorldGraph(head), (ex,), path, input_names=["vision_embeds"], output_names=["in_world"],
                      opset_version=17, dynamic_axes={"vision_embeds": {0: "N"}, "in_world": {0: "N"}})
    onnx.checker.check_model(onnx.load(path))
    from ..export.package import t2j
    fx = os.path.join(pkg_dir, "fixtures", "world.json")
    os.makedirs(os.path.dirname(fx), exist_ok=True)
    with torch.no_grad():
        y = WorldGraph(head)(ex)
    with open(fx, "w") as f:
        json.dump({"graph": WORLD_FILE, "note": "random vision_embeds -> P(in world)", "tolerance": 1e-4,
                   "inputs": {"vision_embeds": t2j(ex)}, "outputs": {"in_world": t2j(y)}}, f)
    man.setdefault("files", {})["world"] = WORLD_FILE
    man["world"] = {
        "score": "P(frame belongs to the world this package was trained on), from world.onnx on vision_embeds",
        "input": "vision_embeds", "output": "in_world",
        "threshold": round(meta["threshold"], 4),
        "training": {k: meta[k] for k in ("steps", "train_s", "trainFrames", "minInRecall", "hudRows", "val") if k in meta},
    }
    with open(os.path.join(pkg_dir, "manifest.json"), "w") as f:
        json.dump(man, f, indent=2)
