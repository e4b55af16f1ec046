"""P(silent) per frame on validation streams, split by whether the frame shows a new event, and
the decision threshold that maximises frame-level F1 there (what `cli export --threshold` takes).
Validation only: choosing a threshold on held-out data would make it validation.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.evaluation.decision_probe CKPT DATA_DIR
"""
from __future__ import annotations

import json
import sys

import numpy as np
import torch

from ..data.dataset import FPS, frame_events, load_streams
from ..games.catalogue import get as get_game
from ..model.checkpoint import load_checkpoint, window_frames
from .evaluate import Streamer


def probe(ckpt: str, data_dir: str, threads: int = 2) -> dict:
    torch.set_num_threads(threads)
    model, meta = load_checkpoint(ckpt)
    game = get_game(model.cfg.game)
    p_ev, p_quiet = [], []
    with torch.no_grad():
        for sid, frames in load_streams(data_dir):
            world = game.load(data_dir, sid, frames.shape[0] / FPS)
            st = Streamer(model, window_frames(meta))
            for i in range(frames.shape[0]):
                vis = model.vision(torch.from_numpy(np.ascontiguousarray(frames[i:i + 1])))[0]
                p = st.frame(vis)
                (p_ev if frame_events(world, i) else p_quiet).append(p)
    p_ev, p_quiet = np.array(p_ev), np.array(p_quiet)
    best = (0.0, 0.5)
    for thr in np.linspace(0.05, 0.95, 91):
        tp, fp = (p_ev < thr).sum(), (p_quiet < thr).sum()
        prec, rec = tp / max(1, tp + fp), tp / max(1, len(p_ev))
        f1 = 2 * prec * rec / max(1e-9, prec + rec)
        best = max(best, (float(f1), float(round(thr, 2))))
    q = lambda a: [round(float(x), 3) for x in np.quantile(a, [0.1, 0.25, 0.5, 0.75, 0.9])]
    return {"event_frames": len(p_ev), "quiet_frames": len(p_quiet), "p_silent_event_q10_25_50_75_90": q(p_ev),
            "p_silent_quiet_q10_25_50_75_90": q(p_quiet), "best_frame_f1": round(best[0], 3), "threshold": best[1]}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2), indent=1))
