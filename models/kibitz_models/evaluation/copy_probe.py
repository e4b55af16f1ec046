"""How well a model copies times: the digits of "when" answers, teacher-forced.

An exact "when" answer needs every digit right, so the evaluator's accuracy stays near zero long
after a model has begun to learn to copy line stamps (dataset.STAMP_TEXT). This probe shows that
progress. It builds `clips` training-format clips from the data, each starting 1-8 frames before a
hit and asking "when" first. Half of the clips put the stream clock far from the HUD's, so only a
copy of the stamp answers them. One forward pass gives the cross-entropy and accuracy of the answer's
digit tokens, and of all text targets. The clips are drawn from `seed`, so checkpoints compare on the same clips.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli copy-probe --checkpoint CKPT [CKPT ...] --data models/.cache/world/in_val
"""
from __future__ import annotations

import random
from typing import List

import torch
import torch.nn.functional as F

from ..data.dataset import FPS, IGNORE, build_clip, collate, load_streams
from ..data.tokenizer import ANSWER
from ..games.catalogue import get as get_game, tokenizer_for
from ..model.checkpoint import load_checkpoint
from ..model.model import KibitzModel, ModelConfig
from ..training.train import CLIP_FRAMES, MAX_CLOCK_S, batch_logits, hit_clip_start

__all__ = ["copy_probe"]


def copy_probe(ckpts: List[str], data_dir: str, clips: int = 16, seed: int = 7, threads: int = 1) -> List[dict]:
    torch.set_num_threads(threads)
    game, tok = get_game("demo"), tokenizer_for("demo")
    V = ModelConfig().tokens_per_frame   # the demo model's frame (every demo checkpoint has it)
    streams = load_streams(data_dir)
    rng = random.Random(seed)
    samples = []
    while len(samples) < clips:
        s, fr = streams[rng.randrange(len(streams))]
        world = game.load(data_dir, s, fr.shape[0] / FPS)
        hits = [e for e in world.events if e.kind == "hit"]
        if not hits or fr.shape[0] < CLIP_FRAMES:
            continue
        start = hit_clip_start(hits, fr.shape[0], rng)
        offset = 0 if len(samples) % 2 == 0 else rng.randint(1, MAX_CLOCK_S)
        samples.append(build_clip(world, fr, start, CLIP_FRAMES, V, tok, rng, n_questions=5, prefer="when_hit",
                                  clock_offset=offset, stamp=True, game=game))
    batch = collate(samples, V)
    targets = batch[1]
    at, seconds = tok.vocab["at"], tok.vocab["seconds"]
    digits = torch.zeros_like(targets, dtype=torch.bool)   # targets inside "at N seconds" answers
    for b, smp in enumerate(samples):
        for i in range(len(smp.ids) - 1):
            if smp.ids[i] == ANSWER and smp.targets[i] == at:
                j = i + 1
                while smp.targets[j] not in (IGNORE, seconds):
                    digits[b, j] = True
                    j += 1
    out = []
    for ckpt in ckpts:
        model, _ = load_checkpoint(ckpt)
        if not model.cfg.line_stamp:   # the same weights, fed stamps (a model that never saw one)
            stamped = KibitzModel(ModelConfig.from_dict({**model.cfg.to_dict(), "line_stamp": True}))
            stamped.load_state_dict(model.state_dict())
            model = stamped
        model.eval()
        with torch.no_grad():
            logits = batch_logits(model, batch)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).clamp(min=0), reduction="none").view(targets.shape)
        hit = logits.argmax(-1) == targets
        text = targets != IGNORE
        out.append({"checkpoint": ckpt, "digit_targets": int(digits.sum()), "digit_ce": round(float(ce[digits].mean()), 3),
                    "digit_accuracy": round(float(hit[digits].float().mean()), 3), "text_ce": round(float(ce[text].mean()), 3)})
    return out

