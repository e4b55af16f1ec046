"""Training/eval data: render each seeded world, encode H.264, decode with the service's filter
chain at the model fps, cache frames as uint8 .npy; build interleaved training sequences.

Sequence of one clip (CONTRACT.md "Sequence format"): <bos>, then per frame its V vision
tokens; the target after a frame's last token is <silent> or <commentary> (then the line and
<eos>); questions `<question> q <answer>` + answer + <eos>; an optional summary at the end.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass
from multiprocessing import Pool
from typing import List, Optional, Tuple

import numpy as np

from .render import decode, encode
from .temporal import TemporalConfig, keep_masks
from .tokenizer import ANSWER, BOS, COMMENTARY, EOS, QUESTION, SILENT, SUMMARY, Tokenizer
from .world import World

FPS = 2
FRAME_W, FRAME_H = 256, 144
IGNORE = -100
# A model with line stamps (ModelConfig.line_stamp) is fed this right after each commentary line
# it says (after its <eos>), with the stream's whole second then: the exact words a "when" answer
# uses, so telling when something was said is a copy of the stamp that follows the line. After, not
# before: a stamp's tokens can see the line they close, so they can be found by what it said.
# Exported as the manifest's stamp.text (the runtime's one source).
STAMP_TEXT = "at {seconds} seconds"


def stamp_text(seconds: int) -> str:
    return STAMP_TEXT.format(seconds=int(seconds))


def _one(args) -> str:
    out_dir, seed, seconds, src_w, src_h, src_fps = args
    npy = os.path.join(out_dir, f"{seed}.npy")
    if os.path.exists(npy):
        return npy
    world = World(seed, seconds)
    with tempfile.TemporaryDirectory() as td:
        mp4 = os.path.join(td, "s.mp4")
        encode(world, mp4, src_w, src_h, src_fps)
        frames = decode(mp4, FRAME_W, FRAME_H, FPS)
    np.save(npy + ".tmp.npy", frames)
    os.replace(npy + ".tmp.npy", npy)
    with open(os.path.join(out_dir, f"{seed}.json"), "w") as f:
        json.dump(world.ground_truth(), f)
    return npy


def build_dataset(out_dir: str, seeds: List[int], seconds: float, jobs: int = 2,
                  src_w: int = 640, src_h: int = 360, src_fps: int = 4) -> None:
    """Training streams are rendered at 640x360, 4 fps (cheaper than 720p30; both go through
    libx264 and the same decode chain); evaluation streams use 1280x720 at 30 fps."""
    os.makedirs(out_dir, exist_ok=True)
    work = [(out_dir, s, seconds, src_w, src_h, src_fps) for s in seeds]
    with Pool(jobs) as pool:
        for i, p in enumerate(pool.imap_unordered(_one, work)):
            if (i + 1) % 20 == 0:
                print(f"data: {i + 1}/{len(seeds)}", flush=True)


def load_streams(data_dir: str) -> List[Tuple[int, np.ndarray]]:
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"data directory not found: {data_dir} (build it with `cli data --out {data_dir}`)")
    # <seed>.npy only (not .tmp.npy, not the in-world head's .emb-*.npy caches)
    seeds = sorted(int(f[:-4]) for f in os.listdir(data_dir) if f.endswith(".npy") and f[:-4].isdigit())
    if not seeds:
        raise FileNotFoundError(f"no streams (*.npy) in {data_dir}")
    return [(s, np.load(os.path.join(data_dir, f"{s}.npy"), mmap_mode="r")) for s in seeds]


@dataclass
class Sample:
    ids: List[int]          # token id per position, -1 = vision token
    targets: List[int]      # next-token target per position, IGNORE = no loss
    frame_starts: List[int] # sequence index of each frame's first vision token
    frames: np.ndarray      # (F, H, W, 3) uint8
    seconds: List[int]      # stream clock of each frame, whole seconds (model.clock)
    present: Optional[np.ndarray] = None  # (F, V) bool: tokens the temporal drop feeds (None = all)


def frame_events(world: World, i: int):
    """Events first visible in frame i (time i/FPS): those in ((i-1)/FPS, i/FPS]."""
    return world.events_between((i - 1) / FPS, i / FPS)


def commentary_line(events) -> str:
    return " and ".join(e.text for e in events)


def build_clip(world: World, frames: np.ndarray, start: int, n_frames: int, V: int, tok: Tokenizer,
               rng: random.Random, game, n_questions: int = 2, p_summary: float = 0.35, prefer: Optional[str] = None,
               clock_offset: int = 0, temporal: Optional[TemporalConfig] = None, grid: Tuple[int, int] = (3, 8),
               freeze: Optional[Tuple[int, int]] = None, stamp: bool = False) -> Sample:
    """`prefer`: a question kind asked first whenever it is answerable at a question frame (more
    practice on a kind that is rarely answerable, such as when_hit). `clock_offset`: whole seconds
    added to the world's time for the stream clock (answers that tell a time use it, so a model
    learns to tell time from the clock, not from the HUD, which a real stream does not have).
    `temporal`: the temporal token drop (temporal.py) decides which of each frame's tokens are
    present; its state starts 0..refresh_frames frames before the clip (clamped to the stream's
    start), as in a window of a running stream whose oldest frames are partial. A frame's decision
    target sits on its last present token (what the runtime reads after the last fed token).
    `freeze` (p, k): the picture stops for k frames after clip position p-1 (that frame repeated,
    as a paused or static stream shows it; the stream clock runs on, nothing happens on screen),
    then the world goes on from where it stopped. Time questions are not asked in such a clip:
    the HUD clock stood still while the stream's ran. `game` (games.catalogue.Game: `get("demo")` for the demo world)
    gives the questions, their answers and the summary; `world` is that game's ground truth.
    `stamp`: each commentary line's <eos> is followed by its stamp (stamp_text of the frame's stream
    second, given, never a target); a time question then asks only about events said in the clip
    (not those already on its first frame, which has no line)."""
    ids, tg, starts = [BOS], [IGNORE], []
    src = list(range(start, start + n_frames))      # the world frame shown at each clip position
    if freeze is not None:
        p, k = freeze
        if not (1 <= p and k >= 1 and p + k <= n_frames):
            raise ValueError(f"freeze {freeze} does not fit a clip of {n_frames} frames")
        src = src[:p] + [start + p - 1] * k + list(range(start + p, start + n_frames - k))
    shown = np.asarray(frames[start:start + n_frames]) if freeze is None else np.asarray(frames[src])
    present = None
    if temporal is not None:
        if 1 + grid[0] * grid[1] != V:
            raise ValueError(f"grid {grid} does not give {V} tokens per frame")
        warm = min(start, rng.randint(0, temporal.refresh_frames))
        present = keep_masks(temporal, np.concatenate([np.asarray(frames[start - warm:start]), shown]), grid[0], grid[1], warm)

    def text(tokens: List[int], loss_from: int) -> None:
        # tokens appended; the target of position j is tokens[j+1] when j+1 >= loss_from
        for j, t in enumerate(tokens):
            ids.append(t)
            tg.append(tokens[j + 1] if j + 1 < len(tokens) and j + 1 >= loss_from else IGNORE)

    q_pos = set(rng.sample(range(2, n_frames), k=min(n_questions, n_frames - 2)))
    t0 = start / FPS
    seconds = [clock_offset + int(i // FPS) for i in range(start, start + n_frames)]   # the stream's clock runs on
    for j, i in enumerate(src):
        starts.append(len(ids))
        ids.extend([-1] * V)
        tg.extend([IGNORE] * V)
        ev = frame_events(world, i) if j == 0 or src[j - 1] != i else []
        last = len(ids) - 1 if present is None else starts[-1] + int(np.flatnonzero(present[j])[-1])
        if j == 0:
            pass  # no context yet: no decision loss on the clip's first frame
        elif ev:
            tg[last] = COMMENTARY
            text([COMMENTARY] + tok.encode(commentary_line(ev)) + [EOS], loss_from=1)
            if stamp:
                given = tok.encode(stamp_text(seconds[j]))
                text(given, loss_from=len(given) + 1)   # fed by the runtime: no loss on it
        else:
            tg[last] = SILENT
        if j in q_pos:
            kinds = [k for k in game.questions if freeze is None or k not in game.time_questions]
            rng.shuffle(kinds)
            if prefer in kinds:
                kinds.remove(prefer)
                kinds.insert(0, prefer)
            for kind in kinds:
                since = t0 + 1e-6 if stamp and kind in game.time_questions else t0
                a = game.answer(world, kind, i / FPS, since, FPS, clock_offset)
                if a is not None:
                    q = tok.encode(rng.choice(game.questions[kind]))
                    seq = [QUESTION] + q + [ANSWER] + tok.encode(a) + [EOS]
                    text(seq, loss_from=len(q) + 2)
                    break
    if rng.random() < p_summary:
        end = src[-1] / FPS
        s = game.summary_text(world.events_between(t0, end))
        text([SUMMARY, ANSWER] + tok.encode(s) + [EOS], loss_from=2)
    return Sample(ids, tg, starts, shown, seconds, present)


def collate(samples: List[Sample], V: int):
    """-> ids (B,T) int64 (vision = 0), targets, pos, valid, frame_index (B,F,V), frames, seconds (B,F).

    A token the temporal drop left out is not valid, and positions count only the tokens that are
    there (the runtime numbers what it feeds), so the model never sees a gap."""
    import torch
    B, T = len(samples), max(len(s.ids) for s in samples)
    F = len(samples[0].frame_starts)
    ids = torch.zeros(B, T, dtype=torch.long)
    targets = torch.full((B, T), IGNORE, dtype=torch.long)
    valid = torch.zeros(B, T, dtype=torch.bool)
    fidx = torch.zeros(B, F, V, dtype=torch.long)
    for b, s in enumerate(samples):
        n = len(s.ids)
        ids[b, :n] = torch.tensor([max(0, x) for x in s.ids])
        targets[b, :n] = torch.tensor(s.targets)
        valid[b, :n] = True
        fidx[b] = torch.tensor(s.frame_starts).unsqueeze(1) + torch.arange(V)
        if s.present is not None:
            valid[b, fidx[b][~torch.from_numpy(s.present)]] = False
    dropped = ~valid
    for b, s in enumerate(samples):
        dropped[b, len(s.ids):] = False              # padding keeps counting (it is never attended)
    pos = (torch.cumsum((~dropped).long(), dim=1) - 1).clamp(min=0)
    frames = torch.from_numpy(np.stack([s.frames for s in samples]))   # (B, F, H, W, 3) uint8
    seconds = torch.tensor([s.seconds for s in samples], dtype=torch.long)
    return ids, targets, pos, valid, fidx, frames, seconds
