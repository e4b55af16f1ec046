"""Mixture-of-Depths routers for a dense VideoLLM-online checkpoint, learned from the same dense
model on the user's own UNLABELLED recordings (no labels: the dense model is the teacher).

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli train-routers CHECKPOINT --video FILE [--video FILE ...] \
        --out ADAPTER_DIR [--keep-ratio 0.2] [--from-layer 2] [--steps N] [--minutes M] [--seed S]
    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli router-table CHECKPOINT --train-video A.mp4 --heldout-video B.mp4

The model is built once with the merged weights (weights.build_model, the importer's) and frozen;
the SigLIP + connector embeddings of every frame are computed once. Clips are fed as the runtime
feeds a stream: the start prompt (text), the first frame alone, every later frame after ",". The
teacher is the dense model; the student is the same weights with a Linear(hidden, 1) router on
every layer from --from-layer on, run with the per-frame top-k the runtime uses (k = ceil(r x 10)
vision tokens of each frame go through a routed layer: the frame's last one always, at weight 1,
and the top k - 1 of the others by router score, scaled by sigmoid(score); the separator always
goes through). The loss is KL(teacher || student) of the next-token distribution after each
frame's last token (what the speak/silent decision reads), optionally plus an MSE on the final
hidden states of all tokens. Only the routers train. The forward pass is exactly the runtime's hard
top-k (no soft top-k, no train/inference gap); the choice itself has no gradient, so the routers
learn through the sigmoid weight of the tokens they keep and, by default, a straight-through term
for the tokens they leave out (routed_sequence). Before the keep-last rule, on the tiny checkpoint
(300 steps, 4 seeds) the straight-through term lowered the mean KL on the training recording (0.338
vs 0.353) and on both held-out ones (0.340 vs 0.358, 0.315 vs 0.352); one seed went the other way
on two of the three.

Why the last token is always kept (ModelConfig.route_keep_last, mod_config.json "keep_last"): the
decision is read after a frame's LAST vision token, and a token a routed layer leaves out skips that
layer; routers see content, not the token's place in the frame, and could not learn to keep it
(without the rule, on the tiny checkpoint: untrained routers kept it in 0% of frames, trained ones
in 40-56%; held-out KL 0.37 trained, 0.41 random, 0.09 for keeping the last k). With the rule what
is left to learn is which other k - 1 tokens go through. A token's update in a routed layer reaches
the decision only as a key in a later layer that keeps it (every layer after --from-layer is
routed), so gradients are sparse and the last layer's router gets none: on the tiny checkpoint (4 layers, routed
on 2-3, k = 2) trained routers come out about as good as untrained ones (held-out KL 0.089 vs
0.076 and 0.095 vs 0.088, both far below the 0.37-0.41 without the rule). `router-table` reports
how often the last token went through ("last kept"); its first-k / last-k heuristic rows run as
they always did (first-k without the rule), for comparison.

Output: a copy of the adapter folder (adapter_config.json, adapter_model.safetensors unchanged) plus
routers.safetensors and mod_config.json (with a "training" record), which import-videollm turns into
a MoD package (models/CONTRACT.md "General packages").
"""
from __future__ import annotations

import copy
import json
import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model.model import KibitzModel, gather_tables, rope_tables, router_weight
from .layout import find_layout
from .errors import RouterInputError
from .prompt import FPS, START, SYSTEM_PROMPT, THRESHOLD
from .router_data import ClipLayout, check_video, decode_video, tokenizer_of
from .safetensors_io import write_safetensors
from .specs import MOD_CONFIG, ROUTERS_FILE, ModSpec, read_checkpoint
from .weights import build_model

CLIP_FRAMES = 16          # frames per training clip (8 s at 2 fps) after the start prompt
BATCH = 4                 # clips per step
DEFAULT_STEPS = 300
LR_WIDTH = 0.5            # default Adam learning rate = LR_WIDTH / hidden: a step moves a router's score by about
                          # 0.5 x the mean |x| of its input whatever the width (1e-2 at the tiny 64, 1.2e-4 at 4096)
TEACHER_CACHE_BYTES = 2 << 30   # teacher outputs kept per clip up to this much; recomputed beyond


def check_options(keep_ratio: float, from_layer: int, n_layers: int, steps: Optional[int] = None,
                  minutes: Optional[float] = None, clip_frames: int = CLIP_FRAMES, batch: int = BATCH) -> List[int]:
    """The routed layers (from_layer .. n_layers - 1), or one line saying what is wrong."""
    if clip_frames < 1 or batch < 1:
        raise RouterInputError(f"--clip-frames {clip_frames} / --batch {batch}: both must be at least 1")
    if not (isinstance(keep_ratio, (int, float)) and 0 < keep_ratio < 1):
        why = " (at 1 every token goes through every layer: there is nothing to route)" if keep_ratio == 1 else ""
        raise RouterInputError(f"--keep-ratio {keep_ratio}: must be in (0, 1){why}; k = ceil(r x 10) vision tokens of each frame go through a routed layer")
    if n_layers < 2 or not 1 <= from_layer <= n_layers - 1:
        raise RouterInputError(f"--from-layer {from_layer}: must be in 1..{n_layers - 1} (the LLM has {n_layers} layers; "
                               "layer 0 is never routed, routers go on every layer from this one on)")
    if steps is not None and steps < 1:
        raise RouterInputError(f"--steps {steps}: must be at least 1")
    if minutes is not None and not minutes > 0:
        raise RouterInputError(f"--minutes {minutes}: must be more than 0")
    return list(range(from_layer, n_layers))


def check_clips(d: "Distiller", clip_frames: int, batch: int) -> None:
    if clip_frames < 1 or batch < 1:
        raise RouterInputError(f"--clip-frames {clip_frames} / --batch {batch}: both must be at least 1")
    n = d.layout(clip_frames).length
    if n > d.model.cfg.max_positions:
        raise RouterInputError(f"--clip-frames {clip_frames}: a clip of {n} tokens (start prompt + frames) is longer than the "
                               f"LLM's {d.model.cfg.max_positions} positions")


# ----------------------------------------------------------------------------- routers

class RouterSet(nn.Module):
    """A Linear(hidden, 1) router per routed layer, KibitzModel's own init (weight N(0, 0.02), bias 0)."""

    def __init__(self, hidden: int, layers: Sequence[int], keep_ratio: float, seed: int = 0, keep_last: bool = True):
        super().__init__()
        self.layers, self.keep_ratio, self.keep_last = list(layers), float(keep_ratio), bool(keep_last)
        g = torch.Generator().manual_seed(seed)
        self.routers = nn.ModuleDict()
        for l in self.layers:
            r = nn.Linear(hidden, 1)
            with torch.no_grad():
                r.weight.copy_(torch.randn(1, hidden, generator=g) * 0.02)
                r.bias.zero_()
            self.routers[str(l)] = r

    def router(self, layer: int) -> nn.Module:
        return self.routers[str(layer)]

    def tensors(self) -> Dict[str, torch.Tensor]:
        """routers.safetensors: model.layers.{l}.router.weight [1, hidden] and .bias [1], float32."""
        out = {}
        for l in self.layers:
            r = self.router(l)
            out[f"model.layers.{l}.router.weight"] = r.weight.detach().float().cpu().contiguous()
            out[f"model.layers.{l}.router.bias"] = r.bias.detach().float().cpu().contiguous()
        return out


class FixedK(nn.Module):
    """A fixed heuristic in router form: each frame's chosen k vision tokens score +30 (weight
    sigmoid = 1), its other vision tokens -30."""

    def __init__(self, offsets: torch.Tensor, k: int, last: bool):
        super().__init__()
        place = torch.where(offsets >= 0, offsets.max() - offsets, offsets) if last else offsets
        self.register_buffer("scores", torch.where((place >= 0) & (place < k), 30.0, -30.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores[: x.shape[1]].to(x.dtype).view(1, -1, 1).expand(x.shape[0], -1, 1)


class FixedKSet:
    """FixedK on the same layers: the first k tokens of each frame (the SigLIP pooler token, then the
    grid's top row), or with `last` its last k (ending with the token the decision is read after).
    Run without the keep-last rule (keep_last False): first-k keeps exactly the first k."""

    keep_last = False

    def __init__(self, layers: Sequence[int], keep_ratio: float, last: bool = False):
        self.layers, self.keep_ratio, self.last = list(layers), keep_ratio, last
        self.module: Optional[FixedK] = None

    def for_layout(self, layout: ClipLayout, k: int, device) -> None:
        self.module = FixedK(layout.offset_in_frame(), k, self.last).to(device)

    def router(self, layer: int) -> nn.Module:
        return self.module


@contextmanager
def routed(model: KibitzModel, routers) -> Iterator[None]:
    """The model with `routers` (RouterSet / FixedKSet) on their layers at their keep ratio and
    keep-last rule; None: dense (the teacher). The weights are shared: only the router modules, the
    ratio and the rule change."""
    cfg = model.cfg
    saved = (list(cfg.routed_layers), cfg.keep_ratio, [layer.router for layer in model.layers], cfg.route_keep_last)
    try:
        if routers is None:
            cfg.routed_layers, cfg.keep_ratio, cfg.route_keep_last = [], 1.0, False
            for layer in model.layers:
                layer.router = None
        else:
            cfg.routed_layers, cfg.keep_ratio = list(routers.layers), routers.keep_ratio
            cfg.route_keep_last = bool(routers.keep_last)
            for i, layer in enumerate(model.layers):
                layer.router = routers.router(i) if i in routers.layers else None
        yield
    finally:
        cfg.routed_layers, cfg.keep_ratio, cfg.route_keep_last = saved[0], saved[1], saved[3]
        for layer, r in zip(model.layers, saved[2]):
            layer.router = r


# ----------------------------------------------------------------------------- data

@dataclass
class Video:
    name: str
    embeds: torch.Tensor                    # (N, V, d) SigLIP + connector, frozen
    thumbs: Optional[np.ndarray] = None     # (N, s, s, 3) uint8, subsampled frames (the near-copy check)

    @property
    def frames(self) -> int:
        return self.embeds.shape[0]


class Distiller:
    """The dense model built once with the merged weights and frozen, the start prompt's and the
    separator's embeddings, and the clips fed through it with or without routers."""

    def __init__(self, checkpoint: str, llm: Optional[str] = None, vision: Optional[str] = None,
                 device: str = "cpu", log: Callable[[str], None] = print):
        ck = read_checkpoint(find_layout(checkpoint, llm, vision))
        self.source_mod = ck.mod
        self.ck = replace(ck, mod=None)       # the teacher is the dense model, whatever routers the adapter has
        self.device = torch.device(device)
        self.log = log
        t0 = time.time()
        self.model = build_model(self.ck).to(self.device)
        for p in self.model.parameters():
            p.requires_grad_(False)
        log(f"model built with the merged weights in {time.time() - t0:.1f} s ({self.model.cfg.n_layers} layers, hidden {self.model.cfg.d_model})")
        self.prompt_ids = tokenizer_of(self.ck.layout.llm).encode(START.format(system=SYSTEM_PROMPT))
        self.silent = self.ck.tokens.silent
        with torch.no_grad():
            ids = torch.tensor(self.prompt_ids + [self.silent], device=self.device)
            e = self.model.embed(ids)
        self.prompt_embeds, self.sep_embed = e[:-1], e[-1]
        self.V = self.model.cfg.tokens_per_frame

    @property
    def size(self) -> int:
        return self.model.cfg.frame_width

    @property
    def n_layers(self) -> int:
        return self.model.cfg.n_layers

    # --- frames
    @torch.no_grad()
    def embed_frames(self, chunks, name: str, thumbs: bool = False) -> Video:
        out, th = [], []
        for frames in chunks:
            out.append(self.model.vision(torch.from_numpy(np.array(frames)).to(self.device)))
            if thumbs:
                step = max(1, frames.shape[1] // 32)
                th.append(np.ascontiguousarray(frames[:, ::step, ::step]))
        if not out:
            raise RouterInputError(f"{name}: no frames")
        return Video(name, torch.cat(out), np.concatenate(th) if thumbs else None)

    def embed_video(self, path: str, thumbs: bool = False, max_seconds: Optional[float] = None) -> Video:
        t0 = time.time()
        v = self.embed_frames(decode_video(path, self.size, FPS, max_seconds=max_seconds), path, thumbs)
        self.log(f"{path}: {v.frames} frames at {FPS} fps, {self.size}x{self.size} bicubic letterbox, embedded in {time.time() - t0:.1f} s")
        return v

    # --- clips
    def layout(self, frames: int) -> ClipLayout:
        return ClipLayout(len(self.prompt_ids), frames, self.V)

    def batch(self, video: Video, starts: Sequence[int], frames: int):
        """embeds (B, T, d), pos, valid, frame_index (B, C, V) for clips of `frames` frames at `starts`."""
        lay = self.layout(frames)
        B, T, d = len(starts), lay.length, self.prompt_embeds.shape[1]
        x = torch.empty(B, T, d, device=self.device)
        x[:, : lay.prompt] = self.prompt_embeds
        x[:, lay.separators()] = self.sep_embed
        fi = lay.frame_index().to(self.device)
        for b, s in enumerate(starts):
            x[b, fi.reshape(-1)] = video.embeds[s: s + frames].reshape(frames * self.V, d)
        pos = torch.arange(T, device=self.device).unsqueeze(0).expand(B, T)
        valid = torch.ones(B, T, dtype=torch.bool, device=self.device)
        return x, pos, valid, fi.unsqueeze(0).expand(B, -1, -1), lay

    def run(self, batch, routers, straight_through: bool = False, last_kept: bool = False):
        """(log-probs after each frame's last token (B, C, vocab), final hidden states (B, T, d)).
        The forward is model.forward_sequence's (the routed top-k of the runtime); with
        `straight_through` the same values come from routed_sequence, which also gives the routers a
        gradient for the tokens they leave out. `last_kept`: also (B, C) the share of routed layers
        each frame's last vision token went through (1 when dense)."""
        x, pos, valid, fi, lay = batch
        if isinstance(routers, FixedKSet):
            routers.for_layout(lay, max(1, math.ceil(routers.keep_ratio * self.V - 1e-9)), self.device)
        routing = []
        with routed(self.model, routers):
            if straight_through and routers is not None:
                h = routed_sequence(self.model, x, pos, fi, lay)
            else:
                h, routing = self.model.forward_sequence(x, pos, valid, fi, return_routing=True)
        dec = lay.decisions().to(self.device)
        logp = F.log_softmax(self.model.lm_head(h[:, dec]).float(), dim=-1)
        if not last_kept:
            return logp, h
        share = (torch.stack([r[:, dec] for r in routing]).float().mean(0) if routing
                 else torch.ones(x.shape[0], dec.numel(), device=self.device))
        return logp, h, share


def routed_sequence(model: KibitzModel, embeds: torch.Tensor, pos: torch.Tensor, frame_index: torch.Tensor,
                    layout: ClipLayout) -> torch.Tensor:
    """model.forward_sequence for these clips (every token valid, the same layout in every row), the
    same values, plus a straight-through term for the routers: the top-k choice has no gradient, so a
    token a router leaves out never tells it that keeping it would have helped. Here, in a routed
    layer, each left-out vision token i also gets (sigmoid(s_i) - sigmoid(s_i).detach()) x dx_i,
    where dx_i is the layer's update of i run densely (no gradient through it): zero in the forward
    pass, and in the backward the same signal a kept token gets through its weight, sigmoid'(s_i)
    <dL/dx_i, dx_i>. Above all it reaches the frame's last token, which the decision reads and which
    skips every routed layer that does not keep it (unless the keep-last rule keeps it: then it is
    like the separator, weight 1 and no router gradient)."""
    cfg = model.cfg
    B, T, d = embeds.shape
    Fn, V = frame_index.shape[1], frame_index.shape[2]
    is_vision = torch.zeros(T, dtype=torch.bool, device=embeds.device)
    is_vision[frame_index[0].reshape(-1)] = True
    text_idx = (~is_vision).nonzero().squeeze(1).unsqueeze(0).expand(B, -1)
    ones_t = torch.ones(B, text_idx.shape[1], device=embeds.device)
    valid = torch.ones(B, T, dtype=torch.bool, device=embeds.device)
    empty_k = embeds.new_zeros(B, cfg.n_kv_heads, 0, cfg.head_dim)
    empty_p, empty_v = pos.new_zeros(B, 0), valid.new_zeros(B, 0)
    tables = rope_tables(pos, cfg.head_dim, cfg.rope_theta)
    x = embeds
    for layer in model.layers:
        if layer.router is None:
            x = x + layer.delta(x, pos, valid, empty_k, empty_k, empty_p, empty_v, tables)[0]
            continue
        scores = layer.router(x).squeeze(-1)                                  # (B, T)
        fs = torch.gather(scores, 1, frame_index.reshape(B, Fn * V)).view(B, Fn, V)
        if cfg.route_keep_last:   # as forward_sequence: the frame's last token always, at weight 1
            is_last = torch.zeros_like(fs, dtype=torch.bool)
            is_last[..., -1] = True
            fs = fs.masked_fill(is_last, float("inf"))
        top = torch.topk(fs, cfg.kept_per_frame, dim=-1).indices
        kept = torch.gather(frame_index, 2, top).view(B, -1)                  # (B, F*k)
        act = torch.cat([text_idx, kept], dim=1)
        wk = router_weight(torch.gather(scores, 1, kept))
        if cfg.route_keep_last:
            wk = torch.where(torch.gather(is_last, 2, top).view(B, -1), torch.ones_like(wk), wk)
        w = torch.cat([ones_t, wk], dim=1)
        gidx = act.unsqueeze(-1).expand(B, act.shape[1], d)
        xs = torch.gather(x, 1, gidx)
        dx = layer.delta(xs, torch.gather(pos, 1, act), torch.ones_like(act, dtype=torch.bool), empty_k, empty_k,
                         empty_p, empty_v, gather_tables(tables, act))[0]
        out = x.scatter_add(1, gidx, w.unsqueeze(-1) * dx)
        with torch.no_grad():
            dense = layer.delta(x, pos, valid, empty_k, empty_k, empty_p, empty_v, tables)[0]
        left = is_vision.unsqueeze(0).expand(B, T).clone()
        left.scatter_(1, kept, False)                                         # vision tokens this layer leaves out
        g = router_weight(scores)
        x = out + ((g - g.detach()) * left).unsqueeze(-1) * dense             # + 0 in the forward pass
    return model.norm(x)


def clip_starts(n: int, frames: int, stride: int) -> List[int]:
    """Starts of clips of `frames` frames (fewer when the video is shorter) covering 0..n-1."""
    c = min(frames, n)
    starts = list(range(0, n - c + 1, stride))
    if starts[-1] != n - c:
        starts.append(n - c)
    return starts


def kl_per_frame(logp_t: torch.Tensor, logp_s: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of each decision, (..., vocab) -> (...)."""
    return (logp_t.exp() * (logp_t - logp_s)).sum(-1)


# ----------------------------------------------------------------------------- training

@dataclass
class TrainResult:
    routers: RouterSet
    initial: RouterSet
    record: dict = field(default_factory=dict)


def train_routers_on(d: Distiller, videos: List[Video], keep_ratio: float = 0.2, from_layer: int = 2,
                     steps: Optional[int] = None, minutes: Optional[float] = None, seed: int = 0,
                     clip_frames: int = CLIP_FRAMES, batch: int = BATCH, lr: Optional[float] = None, hidden_weight: float = 0.0,
                     straight_through: bool = True, keep_last: bool = True, log: Callable[[str], None] = print) -> TrainResult:
    """Routers on `videos` (embedded) distilled from the dense model. Stops after `steps` or
    `minutes`, whichever comes first (DEFAULT_STEPS when neither is given); the learning rate
    follows a cosine over the larger of the two fractions done. `keep_last`: the routed layers
    always keep each frame's last vision token (what import-videollm builds; False only to compare)."""
    layers = check_options(keep_ratio, from_layer, d.n_layers, steps, minutes)
    if steps is None and minutes is None:
        steps = DEFAULT_STEPS
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lr = lr if lr is not None else LR_WIDTH / d.model.cfg.d_model
    check_clips(d, clip_frames, batch)
    routers = RouterSet(d.model.cfg.d_model, layers, keep_ratio, seed, keep_last).to(d.device)
    initial = copy.deepcopy(routers)
    # clips: every video cut into clips of clip_frames (half overlapping); a shorter video is one clip
    groups: Dict[int, List[Tuple[int, int]]] = {}
    for vi, v in enumerate(videos):
        for s in clip_starts(v.frames, clip_frames, max(1, clip_frames // 2)):
            groups.setdefault(min(clip_frames, v.frames), []).append((vi, s))
    sizes = sorted(groups)
    weights = np.array([len(groups[c]) * c for c in sizes], dtype=np.float64)
    cache: Dict[Tuple[int, int], Tuple[torch.Tensor, Optional[torch.Tensor]]] = {}
    cached_bytes = [0]

    @torch.no_grad()
    def teacher(vi: int, s: int, c: int):
        key = (vi, s)
        if key in cache:
            return cache[key]
        logp, h = d.run(d.batch(videos[vi], [s], c), None)
        out = (logp[0], h[0] if hidden_weight else None)
        size = sum(t.numel() * t.element_size() for t in out if t is not None)
        if cached_bytes[0] + size <= TEACHER_CACHE_BYTES:
            cache[key] = out
            cached_bytes[0] += size
        return out

    opt = torch.optim.Adam(routers.parameters(), lr=lr)
    budget = minutes * 60 if minutes is not None else None
    t0, step, recent = time.time(), 0, []
    n_clips = sum(len(g) for g in groups.values())
    log(f"training routers on layers {layers} at keep ratio {keep_ratio} (k = {math.ceil(keep_ratio * d.V - 1e-9)} of {d.V}): "
        f"{n_clips} clips of up to {clip_frames} frames from {len(videos)} video(s), batch {batch}")
    while True:
        done = max(step / steps if steps else 0.0, (time.time() - t0) / budget if budget else 0.0)
        if done >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(done, 1.0))))
        c = sizes[int(rng.choice(len(sizes), p=weights / weights.sum()))]
        pick = [groups[c][i] for i in rng.choice(len(groups[c]), size=min(batch, len(groups[c])), replace=False)]
        # rows may come from different videos: each is laid out alone, then stacked (same length c)
        ts = [teacher(vi, s, c) for vi, s in pick]
        logp_t = torch.stack([t[0] for t in ts])
        xs = [d.batch(videos[vi], [s], c) for vi, s in pick]
        bt = (torch.cat([b[0] for b in xs]), torch.cat([b[1] for b in xs]), torch.cat([b[2] for b in xs]),
              torch.cat([b[3] for b in xs]), xs[0][4])
        logp_s, h = d.run(bt, routers, straight_through)
        kl = kl_per_frame(logp_t, logp_s).mean()
        loss = kl
        if hidden_weight:
            loss = loss + hidden_weight * F.mse_loss(h, torch.stack([t[1] for t in ts]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        recent.append(float(kl))
        if step == 1 or step % 50 == 0:
            log(f"step {step}: KL {np.mean(recent[-50:]):.5f} ({time.time() - t0:.0f} s)")
    seconds = time.time() - t0
    record = {"steps": step, "seconds": round(seconds, 1), "clip_frames": clip_frames, "batch": batch, "lr": lr,
              "seed": seed, "hidden_mse_weight": hidden_weight, "straight_through": straight_through, "keep_last": keep_last,
              "train_kl_last_steps": round(float(np.mean(recent[-max(1, min(20, len(recent))):])), 6)}
    return TrainResult(routers, initial, record)


@torch.no_grad()
def decisions(d: Distiller, video: Video, sets: Dict[str, object], clip_frames: int = CLIP_FRAMES) -> Dict[str, Dict[str, np.ndarray]]:
    """Per frame of `video` (clips of clip_frames after the start prompt, each frame counted once),
    for each router set: KL(teacher || student), whether the top-1 next token agrees, P(",") of the
    teacher and of the student, and the share of routed layers the frame's last vision token went
    through. The teacher is run once per clip."""
    n = video.frames
    c = min(clip_frames, n)
    acc: Dict[str, Dict[str, list]] = {name: {"kl": [], "top1": [], "p_teacher": [], "p_student": [], "last_kept": []} for name in sets}
    covered = 0
    for s in clip_starts(n, clip_frames, clip_frames):
        new = torch.arange(c, device=d.device) >= covered - s     # the last clip is aligned to the end: overlap counted once
        covered = s + c
        b = d.batch(video, [s], c)
        lt = d.run(b, None)[0][0][new]
        for name, rs in sets.items():
            if rs is None:
                ls, lk = lt, torch.ones(int(new.sum()), device=d.device)
            else:
                ls, _, lk = d.run(b, rs, last_kept=True)
                ls, lk = ls[0][new], lk[0][new]
            a = acc[name]
            a["last_kept"].append(lk)
            a["kl"].append(kl_per_frame(lt, ls))
            a["top1"].append(lt.argmax(-1) == ls.argmax(-1))
            a["p_teacher"].append(lt[:, d.silent].exp())
            a["p_student"].append(ls[:, d.silent].exp())
    return {name: {k: torch.cat(v).cpu().numpy() for k, v in a.items()} for name, a in acc.items()}


# ----------------------------------------------------------------------------- train-routers

def _check_out(out: str, adapter: str) -> None:
    if os.path.realpath(out) == os.path.realpath(adapter):
        raise RouterInputError(f"--out {out}: is the checkpoint's adapter folder; the routers go into a copy, pass another folder")
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise RouterInputError(f"--out {out}: exists and is not an empty folder; pass a new folder (it becomes a copy of the adapter folder)")


def write_adapter(d: Distiller, routers: RouterSet, out: str, record: dict) -> dict:
    """A copy of the adapter folder at `out` (its files unchanged; earlier routers left out) plus
    routers.safetensors and mod_config.json. Returns mod_config.json."""
    src = d.ck.layout.adapter
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        if os.path.isfile(p) and name not in (ROUTERS_FILE, MOD_CONFIG):
            shutil.copy2(p, os.path.join(out, name))
    write_safetensors(os.path.join(out, ROUTERS_FILE), routers.tensors(), {"format": "pt"})
    mod = {"keep_ratio": routers.keep_ratio, "routed_layers": routers.layers, "keep_last": routers.keep_last, "training": record}
    text = json.dumps(mod, indent=2)
    with open(os.path.join(out, MOD_CONFIG), "w") as f:
        f.write(text + "\n")
    ModSpec.read(out, d.n_layers)     # what import-videollm reads: refused here, not there
    return mod


def train_routers(checkpoint: str, videos: Sequence[str], out: str, keep_ratio: float = 0.2, from_layer: int = 2,
                  steps: Optional[int] = None, minutes: Optional[float] = None, seed: int = 0,
                  clip_frames: int = CLIP_FRAMES, batch: int = BATCH, lr: Optional[float] = None, hidden_weight: float = 0.0,
                  llm: Optional[str] = None, vision: Optional[str] = None, device: str = "cpu",
                  max_seconds: Optional[float] = None, straight_through: bool = True, log: Callable[[str], None] = print) -> dict:
    """`cli train-routers`: returns the written mod_config.json. Everything that can be refused is
    refused before the model is built (the video files: before training)."""
    if not videos:
        raise RouterInputError("train-routers: no --video given (pass at least one recording)")
    layout = find_layout(checkpoint, llm, vision)
    _check_out(out, layout.adapter)
    ck = read_checkpoint(layout)
    check_options(keep_ratio, from_layer, ck.llama.layers, steps, minutes, clip_frames, batch)
    for v in videos:
        check_video(v)
    d = Distiller(checkpoint, llm, vision, device, log)
    if d.source_mod:
        log(f"{d.ck.layout.adapter} has routers already (layers {d.source_mod.routed_layers}); the teacher is its dense model, "
            "the new routers replace them in the copy")
    vids = [d.embed_video(v, max_seconds=max_seconds) for v in videos]
    res = train_routers_on(d, vids, keep_ratio, from_layer, steps, minutes, seed, clip_frames=clip_frames, batch=batch, lr=lr,
                           hidden_weight=hidden_weight, straight_through=straight_through, log=log)
    # the record's KL: every training clip (not overlapping) with the routers before and after
    per = [decisions(d, v, {"before": res.initial, "after": res.routers}, clip_frames) for v in vids]
    before = np.concatenate([p["before"]["kl"] for p in per])
    after = np.concatenate([p["after"]["kl"] for p in per])
    record = {"method": "distilled from the dense model: KL(teacher || student) of the next token after each frame's last token"
                        + (f" + {hidden_weight} x MSE of the final hidden states" if hidden_weight else ""),
              "videos": [{"file": os.path.basename(p), "frames": v.frames} for p, v in zip(videos, vids)],
              "from_layer": from_layer, **res.record,
              "initial_kl": round(float(before.mean()), 6), "final_kl": round(float(after.mean()), 6)}
    mod = write_adapter(d, res.routers, out, record)
    log(f"wrote {out}: routers on layers {res.routers.layers}, KL after each frame {record['initial_kl']:.5f} (untrained) -> "
        f"{record['final_kl']:.5f}; import with: import-videollm {out} --llm {d.ck.layout.llm} --vision {d.ck.layout.vision} --out PKG")
    return mod
