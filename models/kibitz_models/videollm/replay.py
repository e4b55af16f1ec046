"""Replay a runtime trace (reference.py's format) through an imported KibitzModel the way the runtime
drives its graphs: frame_step / text_step with an explicit per-layer cache of the kept serials,
numbered by rank (keys before RoPE, renumbered after every eviction: the CONTRACT's form without
pastKeys, whose outputs equal the rotated form's). For checking the merged, exported-form model
against reference.py."""
from __future__ import annotations

import base64
from typing import List

import numpy as np
import torch

from ..model.model import KibitzModel


@torch.no_grad()
def replay_model(model: KibitzModel, trace: dict) -> List[torch.Tensor]:
    cfg = model.cfg
    cache = [dict() for _ in range(cfg.n_layers)]    # per layer: serial -> (k (KH, hd) before RoPE, v)
    serial, out = 0, []
    for step in trace["steps"]:
        kept = step["kept"]
        rank = {s: i for i, s in enumerate(kept)}
        past = []
        for l in range(cfg.n_layers):
            ss = [s for s in kept if s in cache[l]]
            k = torch.stack([cache[l][s][0] for s in ss], dim=1).unsqueeze(0) if ss else torch.zeros(1, cfg.n_kv_heads, 0, cfg.head_dim)
            v = torch.stack([cache[l][s][1] for s in ss], dim=1).unsqueeze(0) if ss else torch.zeros(1, cfg.n_kv_heads, 0, cfg.head_dim)
            past.append((k, v, torch.tensor([[rank[s] for s in ss]], dtype=torch.long).view(1, -1),
                         torch.ones(1, len(ss), dtype=torch.bool)))
        if step["kind"] == "text":
            emb = model.embed(torch.tensor([step["ids"]]))
        else:
            raw = np.frombuffer(base64.b64decode(step["rgb_b64"]), dtype=np.uint8).copy()
            frame = torch.from_numpy(raw).view(1, step["height"], step["width"], 3)
            vis = model.vision(frame)
            prefix = step.get("prefix", [])
            emb = torch.cat([model.embed(torch.tensor([prefix])), vis], dim=1) if prefix else vis
        T = emb.shape[1]
        pos = torch.arange(len(kept), len(kept) + T).unsqueeze(0)
        if step["kind"] == "text":
            logits, new = model.text_step(emb, pos, past)
            logits = logits[:, -1]
            new = [(k, v, torch.arange(T).unsqueeze(0)) for k, v in new]
        else:
            logits, new = model.frame_step(emb, pos, past)
        keep = set(kept)
        for l, (k, v, idx) in enumerate(new):
            cache[l] = {s: e for s, e in cache[l].items() if s in keep}
            for j, i in enumerate(idx[0].tolist()):
                cache[l][serial + i] = (k[0, :, j], v[0, :, j])
        serial += T
        out.append(logits[0])
    return out
