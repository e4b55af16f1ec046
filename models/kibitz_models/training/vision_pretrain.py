"""Stage 1 of the recipe: teach the vision encoder to see, before the decoder learns to talk.

VideoLLM-online and VideoLLM-MoD start from a pretrained image encoder (SigLIP/CLIP). kibitz has no
such encoder to ship (nothing may be downloaded), so it makes one: the conv encoder is trained on
single decoded frames to predict what is on screen, from the world's ground truth at that frame's
time: the HUD digits (score, level, lives, clock), how many enemies and gems are visible, and
which cues are showing (points popups by colour, "!" spawn markers, the HIT border, banners).
The heads read the 25 pre-projector tokens through one linear layer each, so whatever they need
must be linearly present in the tokens the decoder later sees. The heads are dropped afterwards;
only the encoder's weights go on (`cli train --vision CKPT`).

Why: learning to read digits and spot one-frame cues through the language-model loss alone took
~500 CPU steps and still answered from priors (models/EXPERIMENTS.md). Per-frame supervision is
~100x cheaper per sample (no decoder) and gives the encoder a dense signal for every frame.
"""
from __future__ import annotations

import json
import math
import time
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.dataset import FPS, load_streams
from ..data.world import World
from ..model.checkpoint import save_checkpoint
from ..model.model import KibitzModel, ModelConfig

# target name -> number of classes (values are clipped into range)
HEADS: Dict[str, int] = {
    "score_100s": 10, "score_10s": 10, "score_1000s": 3,
    "level": 12, "lives": 4, "clock_10s": 10, "clock_1s": 10,
    "enemies": 8, "gems": 8,
    "pop_red": 2, "pop_green": 2, "pop_blue": 2, "pop_yellow": 2,
    "spawn_marks": 4, "hit": 2, "banner": 4, "player": 2,
}
BANNERS = {"level": 1, "game_over": 2, "new_game": 3}


def frame_targets(world: World, t: float) -> List[int]:
    st = world.state_at(t)
    clip = lambda v, n: int(min(max(v, 0), n - 1))
    kinds = {p.kind for p in st.popups}
    colours = {p.colour for p in st.popups if p.kind == "points"}
    banner = max((BANNERS.get(k, 0) for k in kinds), default=0)
    secs = int(t)
    vals = {
        "score_100s": (st.score // 100) % 10, "score_10s": (st.score // 10) % 10, "score_1000s": st.score // 1000,
        "level": st.level, "lives": st.lives, "clock_10s": (secs // 10) % 10, "clock_1s": secs % 10,
        "enemies": world.visible_enemies(t), "gems": len(st.gems),
        "pop_red": "red" in colours, "pop_green": "green" in colours, "pop_blue": "blue" in colours,
        "pop_yellow": "yellow" in colours,
        "spawn_marks": sum(1 for p in st.popups if p.kind == "spawn"), "hit": "hit" in kinds,
        "banner": banner, "player": not st.over,
    }
    return [clip(int(vals[k]), n) for k, n in HEADS.items()]


def build_targets(streams) -> Tuple[np.ndarray, np.ndarray]:
    """-> (index (N, 2) [stream, frame], targets (N, len(HEADS)))."""
    idx, tg = [], []
    for si, (seed, fr) in enumerate(streams):
        world = World(seed, fr.shape[0] / FPS)
        for i in range(fr.shape[0]):
            idx.append((si, i))
            tg.append(frame_targets(world, i / FPS))
    return np.asarray(idx, dtype=np.int64), np.asarray(tg, dtype=np.int64)


class VisionProbe(nn.Module):
    """The encoder's pre-projector tokens -> one linear head per target."""

    def __init__(self, model: KibitzModel):
        super().__init__()
        self.enc = model.vision
        c = model.cfg.vision_channels[-1] * model.cfg.tokens_per_frame
        self.heads = nn.ModuleDict({k: nn.Linear(c, n) for k, n in HEADS.items()})

    def forward(self, frames: torch.Tensor) -> Dict[str, torch.Tensor]:
        tok = self.enc.tokens(frames).flatten(1)
        return {k: h(tok) for k, h in self.heads.items()}


def _batch(streams, idx, rows):
    return torch.from_numpy(np.stack([np.asarray(streams[idx[r, 0]][1][idx[r, 1]]) for r in rows]))


def evaluate_probe(probe: VisionProbe, streams, idx, tg, limit: int = 720) -> Dict[str, float]:
    probe.eval()
    rows = np.arange(min(limit, len(idx)))
    correct = {k: 0 for k in HEADS}
    with torch.no_grad():
        for s in range(0, len(rows), 120):
            r = rows[s:s + 120]
            out = probe(_batch(streams, idx, r))
            for j, k in enumerate(HEADS):
                correct[k] += int((out[k].argmax(-1).numpy() == tg[r, j]).sum())
    probe.train()
    return {k: round(v / len(rows), 3) for k, v in correct.items()}


def pretrain_vision(data_dir: str, out: str, minutes: float, eval_dir: str = None, batch: int = 96,
                    lr_max: float = 2e-3, seed: int = 0, threads: int = 2, keep_ratio: float = 0.2) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    streams = load_streams(data_dir)
    t0 = time.time()
    idx, tg = build_targets(streams)
    print(f"vision: {len(idx)} frames from {len(streams)} streams, targets in {time.time() - t0:.0f} s", flush=True)
    ev = None
    if eval_dir:
        es = load_streams(eval_dir)
        eidx, etg = build_targets(es)
        ev = (es, eidx, etg)
    model = KibitzModel(ModelConfig(keep_ratio=keep_ratio))
    probe = VisionProbe(model).train()
    opt = torch.optim.AdamW(probe.parameters(), lr=lr_max, weight_decay=0.01)
    tgt = torch.from_numpy(tg)
    budget, start, step, ema = minutes * 60.0, time.time(), 0, None
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        lr = lr_max * min(1.0, (step + 1) / 30) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        rows = rng.integers(0, len(idx), batch)
        pred = probe(_batch(streams, idx, rows))
        loss = sum(F.cross_entropy(pred[k], tgt[rows, j]) for j, k in enumerate(HEADS)) / len(HEADS)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 50 == 0:
            print(json.dumps({"step": step, "s": round(time.time() - start), "loss": round(ema, 4), "lr": round(lr, 5)}), flush=True)
        if ev and step % 400 == 0:
            print("vision eval:", json.dumps(evaluate_probe(probe, *ev)), flush=True)
    acc = evaluate_probe(probe, *ev) if ev else {}
    meta = {"vision_pretrain": {"steps": step, "wall_s": round(time.time() - start), "batch": batch,
                                "frames": int(len(idx)), "final_loss_ema": ema, "heldout_accuracy": acc}}
    save_checkpoint(out, model, meta)
    torch.save(probe.heads.state_dict(), out + ".heads.pt")   # for diagnosis only; not needed later
    print(f"vision: done, {step} steps -> {out}; held-out accuracy {json.dumps(acc)}", flush=True)
    return acc
