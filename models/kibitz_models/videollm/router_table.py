"""`cli router-table`: routers trained on one recording beside untrained ones and the first-k /
last-k heuristics, each compared with the dense model after every frame of other recordings, with
a near-copy check between the training and held-out frames (models/EXPERIMENTS.md "Routers by
distillation"). Training itself is routers.py."""
from __future__ import annotations

import math
import os
import numpy as np
import torch
import torch.nn.functional as F
from typing import Callable, Dict, Optional, Sequence, Tuple

from .errors import RouterInputError
from .prompt import FPS, THRESHOLD
from .router_data import check_video
from .layout import find_layout
from .specs import read_checkpoint
from .routers import BATCH, decisions, CLIP_FRAMES, Distiller, FixedKSet, Video, check_options, clip_starts, kl_per_frame, routed, train_routers_on


def median_silent(d: Distiller, video: Video, clip_frames: int = CLIP_FRAMES) -> float:
    """The dense teacher's median P(",") after a frame of `video`."""
    return float(np.median(decisions(d, video, {"teacher": None}, clip_frames)["teacher"]["p_teacher"]))


def agreement(m: Dict[str, np.ndarray], thresholds: Sequence[float]) -> dict:
    out = {"frames": int(m["kl"].size), "kl": float(m["kl"].mean()), "top1": float(m["top1"].mean()),
           "last_kept": float(m["last_kept"].mean())}
    out["decision"] = [float(((m["p_teacher"] >= t) == (m["p_student"] >= t)).mean()) for t in thresholds]
    return out


def near_copy(train: Video, held: Video) -> dict:
    """How close the held-out frames come to the training frames: cosine of the pooled vision
    embeddings (the mean of a frame's 10 tokens) and the mean absolute pixel difference of
    subsampled frames, nearest training frame per held-out frame; for scale, the same of the
    training frames to training frames at least 5 s away."""
    def pooled(v: Video) -> torch.Tensor:
        return F.normalize(v.embeds.mean(1).float().cpu(), dim=-1)
    a, b = pooled(held), pooled(train)
    cos = a @ b.T                                             # (held, train)
    tt = b @ b.T
    far = (torch.arange(train.frames).view(-1, 1) - torch.arange(train.frames).view(1, -1)).abs() >= 5 * FPS
    tt_near = tt.masked_fill(~far, -2).max(1).values
    tt_near = tt_near[tt_near > -2]
    ht, tr = held.thumbs.reshape(held.frames, -1).astype(np.float32), train.thumbs.reshape(train.frames, -1).astype(np.float32)
    mad = np.stack([np.abs(tr - h).mean(1) for h in ht])      # (held, train)
    tmad = np.stack([np.abs(tr - t).mean(1) for t in tr])
    tmad[~far.numpy()] = np.inf
    t_near = tmad.min(1)
    t_near = t_near[np.isfinite(t_near)]
    return {"cos_max": float(cos.max()), "cos_nearest_mean": float(cos.max(1).values.mean()),
            "train_far_cos_nearest_mean": float(tt_near.mean()) if tt_near.numel() else float("nan"),
            "pixel_mad_min": float(mad.min()), "pixel_mad_nearest_mean": float(mad.min(1).mean()),
            "train_far_pixel_mad_nearest_mean": float(t_near.mean()) if t_near.size else float("nan"),
            "exact_copies": int((mad.min(1) == 0).sum())}


def router_table(checkpoint: str, train_video: str, heldout_videos: Sequence[str], keep_ratio: float = 0.2,
                 from_layer: int = 2, steps: Optional[int] = None, minutes: Optional[float] = None, seed: int = 0,
                 clip_frames: int = CLIP_FRAMES, batch: int = BATCH, lr: Optional[float] = None, hidden_weight: float = 0.0,
                 llm: Optional[str] = None, vision: Optional[str] = None, device: str = "cpu",
                 heuristic: bool = True, straight_through: bool = True, keep_last: bool = True,
                 log: Callable[[str], None] = print) -> Tuple[str, dict]:
    """Routers trained on `train_video` against the dense teacher on each held-out video, beside
    random routers (the trained ones' own init, untrained) and the first-k / last-k heuristics, all at
    the same keep ratio. The routers run with the keep-last rule (`keep_last`), the heuristics without
    it. Returns (Markdown, the numbers)."""
    for hv in heldout_videos:
        if os.path.abspath(hv) == os.path.abspath(train_video):
            raise RouterInputError(f"{hv}: the held-out video is the training video; pass a different recording")
    ck = read_checkpoint(find_layout(checkpoint, llm, vision))
    check_options(keep_ratio, from_layer, ck.llama.layers, steps, minutes, clip_frames, batch)
    for v in [train_video, *heldout_videos]:
        check_video(v)
    d = Distiller(checkpoint, llm, vision, device, log)
    tv = d.embed_video(train_video, thumbs=True)
    held = [d.embed_video(h, thumbs=True) for h in heldout_videos]
    res = train_routers_on(d, [tv], keep_ratio, from_layer, steps, minutes, seed, clip_frames=clip_frames, batch=batch, lr=lr,
                           hidden_weight=hidden_weight, straight_through=straight_through, keep_last=keep_last, log=log)
    t_train = median_silent(d, tv, clip_frames)
    thresholds = [THRESHOLD, t_train]
    sets = [("trained routers", res.routers), ("random routers (same init, untrained)", res.initial)]
    if heuristic:
        sets += [("first-k heuristic (weight 1)", FixedKSet(res.routers.layers, keep_ratio)),
                 ("last-k heuristic (weight 1)", FixedKSet(res.routers.layers, keep_ratio, last=True))]
    k = math.ceil(keep_ratio * d.V - 1e-9)
    numbers = {"checkpoint": checkpoint, "train_video": train_video, "keep_ratio": keep_ratio, "k": k,
               "routed_layers": res.routers.layers, "training": res.record, "thresholds": thresholds, "heldout": {}}
    lines = [f"Routers at keep ratio {keep_ratio} (k = {k} of {d.V} vision tokens per frame) on layers {res.routers.layers}, "
             f"trained {res.record['steps']} steps ({res.record['seconds']} s) on {os.path.basename(train_video)} ({tv.frames} frames); "
             "compared with the dense teacher after every frame of each held-out video. "
             + ("The routed layers always keep each frame's last vision token (one of the k, weight 1); the heuristics run without "
                "that rule. " if keep_last else "Routers run without the keep-last rule. ")
             + "last kept = share of (frame, routed layer) pairs where the frame's last vision token went through.",
             f"Decision = P(\",\") >= t (silent). t = {THRESHOLD} is the package default; t = {t_train:.4g} is the dense teacher's "
             f"median P(\",\") on the TRAINING video {os.path.basename(train_video)} (chosen on training data, not on the held-out video).", ""]
    table = ["| held-out video | routers | frames | mean KL(teacher‖student) | top-1 agree | decision agree @ t=0.725 | "
             f"decision agree @ t={t_train:.4g} (train median) | last kept |", "|---|---|---|---|---|---|---|---|"]
    copies = []
    for hv, h in zip(heldout_videos, held):
        per = decisions(d, h, dict(sets), clip_frames)
        teacher = per[sets[0][0]]["p_teacher"]
        entry = {"frames": h.frames, "teacher_silent_share": [float((teacher >= t).mean()) for t in thresholds],
                 "near_copy": near_copy(tv, h), "rows": {}}
        for name, _ in sets:
            a = agreement(per[name], thresholds)
            entry["rows"][name] = a
            table.append(f"| {os.path.basename(os.path.dirname(hv))}/{os.path.basename(hv)} | {name} | {a['frames']} | {a['kl']:.5f} | "
                         f"{a['top1']:.1%} | {a['decision'][0]:.1%} | {a['decision'][1]:.1%} | {a['last_kept']:.1%} |")
        numbers["heldout"][hv] = entry
        nc, share = entry["near_copy"], entry["teacher_silent_share"]
        copies.append(f"- {hv}: the dense teacher is silent after {share[0]:.1%} of its frames at t = {THRESHOLD} and "
                      f"{share[1]:.1%} at t = {t_train:.4g}. Near-copy check against the training frames: pooled vision "
                      f"embedding cosine to the nearest training frame max {nc['cos_max']:.4f}, mean {nc['cos_nearest_mean']:.4f} "
                      f"(training frames to training frames >= 5 s apart: mean {nc['train_far_cos_nearest_mean']:.4f}); mean "
                      f"absolute pixel difference to the nearest training frame min {nc['pixel_mad_min']:.2f}, mean "
                      f"{nc['pixel_mad_nearest_mean']:.2f} of 255 (training to training >= 5 s apart: mean "
                      f"{nc['train_far_pixel_mad_nearest_mean']:.2f}); exact pixel copies: {nc['exact_copies']}.")
    md = "\n".join(lines + table + [""] + copies)
    return md, numbers
