"""Events after a still picture: does a model still report them?

With the temporal token drop, a picture that stops (a paused or static stream) feeds only the
summary token, and the first frame after it only the cells that changed. This probe streams, for
each event of a stream that stands alone (nothing in the 2 s before it, nothing in the 1 s after),
`context` real frames, then the last frame before the event `still` more times, then the event's
frame and three more, and counts the events the model names within 2 s of its frame (the
evaluator's rule). The same probe with and without the drop says what the drop costs there.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli still --checkpoint CKPT --data models/.cache/world/in_val
"""
from __future__ import annotations

import json
import math
from collections import Counter
from typing import Optional

import numpy as np
import torch

from ..data.dataset import FPS, load_streams
from ..data.temporal import TokenDrop, rule_for
from ..data.tokenizer import COMMENTARY, Tokenizer
from ..data.world import World
from ..model.checkpoint import load_checkpoint, window_frames
from .evaluate import CATCH_S, Streamer


def still_probe(ckpt: str, data_dir: str, out: Optional[str] = None, max_streams: Optional[int] = None,
                threads: int = 2, temporal: str = "auto", still: int = 6, context: int = 12,
                threshold: Optional[float] = None) -> dict:
    torch.set_num_threads(threads)
    model, meta = load_checkpoint(ckpt)
    cfg = model.cfg
    thr = threshold if threshold is not None else meta.get("threshold", 0.5)
    window = window_frames(meta)
    rule = rule_for(meta, temporal)
    tok = Tokenizer()
    n, hit = Counter(), Counter()
    misses = []
    with torch.no_grad():
        for seed, frames in load_streams(data_dir)[:max_streams]:
            world = World(seed, frames.shape[0] / FPS)
            vis_all = torch.cat([model.vision(torch.from_numpy(np.ascontiguousarray(frames[i:i + 32])))
                                 for i in range(0, frames.shape[0], 32)])          # (N, V, d)
            ev = world.events
            for k, e in enumerate(ev):
                alone = k > 0 and e.t - ev[k - 1].t >= 2.0 and (k + 1 == len(ev) or ev[k + 1].t - e.t >= 1.0)
                first = math.ceil(e.t * FPS - 1e-9)   # the first frame that shows it
                if not alone or first < context or first + 3 >= frames.shape[0]:
                    continue
                seq = list(range(first - context, first)) + [first - 1] * still + list(range(first, first + 4))
                st = Streamer(model, window)
                drop = rule and TokenDrop(rule, cfg.frame_height, cfg.frame_width, cfg.grid_h, cfg.grid_w)
                lines = []
                for pos, i in enumerate(seq):
                    vis = vis_all[i] + model.clock(torch.tensor(pos // FPS))     # stream time runs on
                    st.seconds = pos // FPS
                    if drop:
                        vis = vis[torch.from_numpy(drop.step(np.asarray(frames[i])))]
                    if st.frame(vis) < thr:
                        lines.append((pos / FPS, tok.decode(st.generate([COMMENTARY]))))
                t_event = (context + still) / FPS
                said = [p.strip() for t, line in lines if t_event - 1e-6 <= t <= t_event + CATCH_S + 1e-6 for p in line.split(" and ")]
                n[e.kind] += 1
                if e.text in said:
                    hit[e.kind] += 1
                elif len(misses) < 30:
                    misses.append({"seed": seed, "t": e.t, "event": e.text, "said": [l for t, l in lines if t >= t_event]})
            print(f"still: seed {seed} done, {sum(n.values())} events so far", flush=True)
    res = {"checkpoint": ckpt, "data": data_dir, "still_frames": still, "context_frames": context, "threshold": thr,
           "temporal": rule.to_dict() if rule else None, "events": sum(n.values()), "reported": sum(hit.values()),
           "rate": round(sum(hit.values()) / max(1, sum(n.values())), 3),
           "by_kind": {k: {"reported": hit[k], "n": n[k]} for k in sorted(n)}}
    if out:
        with open(out, "w") as f:
            json.dump({"result": res, "misses": misses}, f, indent=1)
    return res
