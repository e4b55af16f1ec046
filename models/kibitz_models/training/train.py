"""CPU training recipe with a wall-clock budget (the LR schedule is a function of elapsed time).

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli train --data models/.cache/data \
        --out models/.cache/mod.pt --minutes 40
"""
from __future__ import annotations

import json
import math
import os
import random
import time
from typing import Optional

import torch
import torch.nn.functional as F

from ..data.dataset import FPS, IGNORE, build_clip, collate, load_streams
from ..data.temporal import TemporalConfig
from ..games.catalogue import get as get_game, of_data, tokenizer_for, view_of_data
from ..model.checkpoint import TRAIN_WINDOW_FRAMES, load_checkpoint, save_checkpoint
from ..model.model import ConfigError, KibitzModel, ModelConfig

CLIP_FRAMES = TRAIN_WINDOW_FRAMES   # checkpoint.py owns the number (the runtime window is the same)
BATCH = 8
LR = 1.5e-3
WARMUP_STEPS = 60
# The speak/stay-silent targets (one per frame) are the only ones that need the pixels to change;
# the templated text tokens are easy and otherwise dominate the loss. 1.0 = plain mean.
DECISION_WEIGHT = 1.0
# Questions per 16-frame clip and the chance of a closing summary. More answers per clip = more
# QA signal per (expensive) decoder pass; recipe v2 raised these from 2-5 and 0.35.
QUESTIONS_PER_CLIP = (3, 4, 5, 6)
P_SUMMARY = 0.5
# Stream clocks a model with a clock trains on: the world's own (HUD) time in this share of clips,
# else a random start up to this many seconds, so that telling a time means reading the clock.
CLOCK_AS_HUD = 0.3
MAX_CLOCK_S = 6 * 3600
CLOCK_LR_SCALE = 10.0
# A still picture (a paused or static stream) lasts this many frames in a freeze clip (--freeze-clips):
# with the temporal drop, such frames feed only the summary token, which random game clips never show.
FREEZE_FRAMES = (2, 10)


def hit_clip_start(hits, n_frames: int, rng: random.Random) -> int:
    """First frame of a clip of CLIP_FRAMES that starts 1-8 frames before one of `hits` (when_hit practice)."""
    hit_frame = int(math.ceil(rng.choice(hits).t * FPS - 1e-9))
    return min(max(0, hit_frame - rng.randint(1, 8)), n_frames - CLIP_FRAMES)


class ClipDrawer:
    """Draws training clips the one way every trainer does (`train`, `train_alike`): a stream
    uniformly, a window of CLIP_FRAMES in it (or one starting just before a hit, `hit_clips`), a
    stream clock for a model that tells time, an optional still stretch (`freeze_clips`), 3-6
    questions and a summary with P_SUMMARY. All randomness comes from the `rng` passed in."""

    def __init__(self, data_dir: str, streams, cfg: ModelConfig, game, hit_clips: float = 0.0,
                 prefer_question: Optional[str] = None, temporal: Optional[TemporalConfig] = None, freeze_clips: float = 0.0,
                 temporal_share: float = 1.0):
        self.data_dir, self.streams, self.cfg, self.game = data_dir, streams, cfg, game
        self.tok = tokenizer_for(game.name)
        self.hit_clips, self.prefer, self.temporal, self.freeze_clips = hit_clips, prefer_question, temporal, freeze_clips
        self.temporal_share = temporal_share
        self.seconds = {s: fr.shape[0] / FPS for s, fr in streams}
        self.worlds, self.hits_of = {}, {}

    def clip(self, rng: random.Random):
        cfg = self.cfg
        s, fr = self.streams[rng.randrange(len(self.streams))]
        if s not in self.worlds:
            self.worlds[s] = self.game.load(self.data_dir, s, self.seconds[s])
            self.hits_of[s] = [e for e in self.worlds[s].events if e.kind == "hit"]
        start = rng.randrange(0, fr.shape[0] - CLIP_FRAMES + 1)
        hits = self.hits_of[s] if self.hit_clips > 0 else []
        if hits and rng.random() < self.hit_clips:
            start = hit_clip_start(hits, fr.shape[0], rng)
        tells_time = cfg.time_digits > 0 or cfg.line_stamp
        offset = 0 if not tells_time or rng.random() < CLOCK_AS_HUD else rng.randint(1, MAX_CLOCK_S)
        freeze = None
        if self.freeze_clips > 0 and rng.random() < self.freeze_clips:
            k = rng.randint(*FREEZE_FRAMES)
            freeze = (rng.randint(2, CLIP_FRAMES - k), k)
        temporal = self.temporal
        if temporal is not None and self.temporal_share < 1.0 and rng.random() >= self.temporal_share:
            temporal = None   # this clip feeds every token: one set of weights for serving with the drop and without
        return build_clip(self.worlds[s], fr, start, CLIP_FRAMES, cfg.tokens_per_frame, self.tok, rng,
                          n_questions=rng.choice(QUESTIONS_PER_CLIP), p_summary=P_SUMMARY, prefer=self.prefer,
                          clock_offset=offset, temporal=temporal, grid=(cfg.grid_h, cfg.grid_w), freeze=freeze,
                          game=self.game, stamp=cfg.line_stamp)

    def batch(self, rng: random.Random, n: int):
        return [self.clip(rng) for _ in range(n)]


def make_optimizer(model: KibitzModel) -> torch.optim.Optimizer:
    """AdamW over the parameters that learn; the clock table (zero in a trained model) learns at
    CLOCK_LR_SCALE x the rate (set_lr applies each group's scale)."""
    clock = [model.time_embed] if model.time_embed is not None else []
    rest = [p for p in model.parameters() if p.requires_grad and all(p is not c for c in clock)]
    return torch.optim.AdamW([{"params": rest, "scale": 1.0}, {"params": clock, "scale": CLOCK_LR_SCALE}],
                             lr=LR, betas=(0.9, 0.95), weight_decay=0.05)


def set_lr(opt: torch.optim.Optimizer, lr_max: float, i: int, warmup: int, frac: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine from lr_max to 0.1 x lr_max as `frac` (the
    share of the budget spent) goes 0 -> 1. Returns the rate set."""
    lr = lr_max * min(1.0, (i + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    for g in opt.param_groups:
        g["lr"] = lr * g["scale"]
    return lr


def pick_device(device: str) -> torch.device:
    """"auto" = cuda when torch sees one, else cpu; anything else as named."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def freeze_vision_of(model: KibitzModel, fixed_vision: bool) -> None:
    """Keeps the vision encoder fixed; its projector still learns unless `fixed_vision` (then
    vision_embeds stay bit-identical and a package's in-world head on them stays valid)."""
    for name, p in model.vision.named_parameters():
        p.requires_grad_(name.startswith("proj.") and not fixed_vision)


def load_teacher(path: str, cfg: ModelConfig, dev: torch.device) -> KibitzModel:
    """A frozen teacher for distillation (batch_loss `distill`): it must speak the same game's words."""
    teacher, _ = load_checkpoint(path)
    if teacher.cfg.game != cfg.game or teacher.cfg.vocab_size != cfg.vocab_size:
        raise ConfigError(f"teacher {path} was taught {teacher.cfg.game!r}, the model {cfg.game!r}: "
                          "a teacher must speak the same game's words")
    teacher = teacher.eval().to(dev)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def batch_logits(model: KibitzModel, batch, freeze_vision: bool = False, fixed_vision: bool = False) -> torch.Tensor:
    """(B, T, vocab) next-token logits of a collated batch (dataset.collate), as training sees them."""
    ids, _, pos, valid, fidx, frames, seconds = batch
    B, Fn = frames.shape[:2]
    V = model.cfg.tokens_per_frame
    flat = frames.view(B * Fn, *frames.shape[2:])
    if fixed_vision:    # the package's vision_embeds stay as they are (its in-world head reads them)
        with torch.no_grad():
            vis = model.vision(flat).view(B, Fn * V, -1)
    elif freeze_vision:   # pretrained encoder (stage 1) kept fixed: only its projector learns here
        with torch.no_grad():
            tok = model.vision.tokens(flat)
        vis = model.vision.proj(tok).view(B, Fn * V, -1)
    else:
        vis = model.vision(flat).view(B, Fn * V, -1)                                    # (B, F*V, d)
    if model.time_embed is not None:   # every vision token of a frame carries its stream time
        vis = vis + model.clock(seconds).unsqueeze(2).expand(B, Fn, V, -1).reshape(B, Fn * V, -1)
    emb = model.embed(ids)                                                           # (B, T, d)
    if model.cfg.clock_text:
        emb = emb + text_clock(model, fidx, seconds, emb.shape[1])
    emb = emb.scatter(1, fidx.view(B, Fn * V, 1).expand(-1, -1, emb.shape[-1]), vis)
    return model.logits(model.forward_sequence(emb, pos, valid, fidx))


def batch_loss(model: KibitzModel, batch, decision_weight: float = DECISION_WEIGHT, freeze_vision: bool = False,
               fixed_vision: bool = False, teacher: Optional[KibitzModel] = None, distill: float = 0.0):
    """Cross-entropy on the batch's targets (each frame's decision weighted by decision_weight);
    with a `teacher`, plus `distill` x KL(teacher || model) over the same positions and weights:
    the teacher's whole distribution (how sure it is to stay silent, which words it nearly said)
    teaches a reshaped model (variants.py) more per step than the targets alone."""
    logits = batch_logits(model, batch, freeze_vision, fixed_vision)
    _, targets, _, valid, fidx, frames, _ = batch
    B = frames.shape[0]
    tflat = targets.view(-1)
    per = F.cross_entropy(logits.view(-1, logits.shape[-1]), tflat, ignore_index=IGNORE, reduction="none")
    w = (tflat != IGNORE).to(per.dtype)
    if decision_weight != 1.0:
        is_decision = torch.zeros_like(w, dtype=torch.bool)
        is_decision.view(B, -1).scatter_(1, last_present(fidx, valid), True)   # each frame's decision token
        w = torch.where(is_decision & (tflat != IGNORE), w * decision_weight, w)
    loss = (per * w).sum() / w.sum()
    if teacher is not None and distill > 0:
        with torch.no_grad():
            t = F.log_softmax(batch_logits(teacher, batch, freeze_vision, fixed_vision), dim=-1)
        kl = (t.exp() * (t - F.log_softmax(logits, dim=-1))).sum(-1).view(-1)
        loss = loss + distill * (kl * w).sum() / w.sum()
    return loss


def text_clock(model: KibitzModel, fidx: torch.Tensor, seconds: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T, d): each position gets the clock of the latest frame that starts before it (bos,
    before any frame, gets none). Vision positions are overwritten by the caller."""
    B = fidx.shape[0]
    starts = fidx[:, :, 0].contiguous()                                               # (B, F)
    at = torch.arange(T, device=fidx.device).unsqueeze(0).expand(B, T).contiguous()
    f = torch.searchsorted(starts, at, right=True) - 1                                # (B, T), -1 = before any frame
    sec = torch.gather(seconds, 1, f.clamp(min=0))
    return model.clock(sec) * (f >= 0).unsqueeze(-1).to(torch.float32)


def last_present(fidx: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, F) sequence index of each frame's last token that is there (the temporal drop may leave
    out its last ones; token 0 always is)."""
    B, Fn, V = fidx.shape
    present = torch.gather(valid, 1, fidx.view(B, Fn * V)).view(B, Fn, V)
    last = V - 1 - torch.argmax(present.flip(-1).to(torch.int8), dim=-1)                   # (B, F)
    return torch.gather(fidx, 2, last.unsqueeze(-1)).squeeze(-1)


def train(data_dir: str, out: str, minutes: float, keep_ratio: float = 0.2, seed: int = 0, resume=None,
          log_every: int = 10, threads: int = 2, lr_max: float = LR, warmup: int = WARMUP_STEPS,
          decision_weight: float = DECISION_WEIGHT, vision: str = None, freeze_vision: bool = False,
          prefer_question: str = None, steps: int = None, variant_name: str = None, hit_clips: float = 0.0,
          time_digits: int = 0, fixed_vision: bool = False, clock_text: Optional[bool] = None, temporal: TemporalConfig = None,
          freeze_clips: float = 0.0, game: Optional[str] = None, line_stamp: Optional[bool] = None,
          device: str = "cpu", teacher: Optional[str] = None, distill: float = 1.0, temporal_share: float = 1.0) -> None:
    """`steps`: stop after this many steps and run the LR schedule over them (not the wall clock), so
    runs on a loaded machine still get equal budgets. `variant_name`: reshape the resumed model
    first (`variants.py`: interleaved, deep, deep-r0.12, deep-r0.3, deep2, dense). `hit_clips`: this share of clips
    starts 1-8 frames before a hit, so "when was the player last hit" (rarely answerable in a
    random clip) gets asked in most of them; the rest are drawn uniformly as before. `time_digits`:
    give the model a stream clock of that many digits (model.clock) if it has none yet.
    `clock_text`: True/False switches stamping text tokens with the clock on/off (a config switch,
    no new weights); None keeps what the resumed model has.
    `fixed_vision`: train the decoder only; vision_embeds stay bit-identical, so the package's
    in-world head (world.onnx, trained on them) and its threshold stay valid. `temporal`: train
    with the temporal token drop on (temporal.py; saved in the checkpoint, exported to the manifest).
    `freeze_clips`: this share of clips shows a still picture for FREEZE_FRAMES frames somewhere
    (dataset.build_clip `freeze`), so a model with the drop learns that an event after a still
    stretch is still an event. `temporal_share`: with `temporal`, only this share of clips is built
    with the drop and the rest feed every token, so one set of weights serves either way (the
    runtime's `model.temporal` switch). `game`: what the data holds (games/catalogue.py; default: what the data's
    <id>.json say); a model resumed from another game's weights is re-labelled with it and keeps
    every shared word's embedding (the game's own words take unused vocabulary rows).
    `line_stamp`: True/False switches line stamps on/off (ModelConfig.line_stamp; a config switch, no
    new weights); None keeps what the resumed model has. A model with stamps (or a clock) trains on
    stream clocks that mostly differ from the HUD's, so a time is told from the stamp, not the HUD.
    `device`: "cpu", "cuda" or "auto" (cuda when torch sees one); clips are built on the CPU and
    moved there per step; checkpoints are always saved with CPU tensors. `teacher`: a checkpoint
    of the same game whose outputs the model also learns (batch_loss `distill`, its weight); for a
    variant reshaped from the teacher, which must relearn what its skipped layers did."""
    if not 0.0 < temporal_share <= 1.0:
        raise ConfigError(f"--temporal-share {temporal_share}: give a share in (0, 1]")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    streams = load_streams(data_dir)
    if resume:
        model, meta = load_checkpoint(resume)
        if variant_name:
            from ..model.variants import variant
            model = variant(model, variant_name)
        model.train()
        step0 = meta.get("training", {}).get("steps", 0)
    elif vision:   # stage 2: start from the pretrained vision encoder (cli vision), fresh decoder
        model, _ = load_checkpoint(vision)
        if model.cfg.keep_ratio != keep_ratio:
            model = _with_keep_ratio(model, keep_ratio)
        model.train()
        step0 = 0
    else:
        model = KibitzModel(ModelConfig(keep_ratio=keep_ratio)).train()
        step0 = 0
    if time_digits and model.cfg.time_digits != time_digits:
        model = with_clock(model, time_digits).train()
    if clock_text is not None and clock_text != model.cfg.clock_text:
        model = _reconfigured(model, clock_text=clock_text).train()
    if line_stamp is not None and line_stamp != model.cfg.line_stamp:
        model = _reconfigured(model, line_stamp=line_stamp).train()
    if freeze_vision or fixed_vision:
        freeze_vision_of(model, fixed_vision)
    game_name = game or of_data(data_dir)
    data_view = view_of_data(data_dir)
    if model.cfg.game != game_name or model.cfg.view != data_view:
        if model.cfg.view != data_view:
            print(f"train: the model looked at {model.cfg.view or 'the whole frame'}, its data at {data_view or 'the whole frame'}:"
                  " it learns the data's view", flush=True)
        model = _reconfigured(model, game=game_name, view=data_view).train()
        if freeze_vision or fixed_vision:
            freeze_vision_of(model, fixed_vision)
    dev = pick_device(device)
    model = model.to(dev)
    teacher_model = load_teacher(teacher, model.cfg, dev) if teacher else None
    cfg = model.cfg
    the_game = get_game(game_name)
    drawer = ClipDrawer(data_dir, streams, cfg, the_game, hit_clips=hit_clips, prefer_question=prefer_question,
                        temporal=temporal, freeze_clips=freeze_clips, temporal_share=temporal_share)
    opt = make_optimizer(model)
    budget = minutes * 60.0
    t_start = time.time()
    step, ema, last_save = step0, None, time.time()

    def save() -> None:   # the same record at every periodic save and at the end
        _save(out, model, step, t_start, data_dir, len(streams), ema, minutes, resume, decision_weight, vision, seed, prefer_question, hit_clips,
              fixed_vision, temporal, freeze_clips, (teacher, distill) if teacher else None,
              extra={"temporal_share": temporal_share} if temporal and temporal_share < 1.0 else None)
    log_path = out + ".log.jsonl"
    print(f"train: {len(streams)} streams, cfg keep_ratio={cfg.keep_ratio}, budget {minutes} min, on {dev}", flush=True)
    while True:
        elapsed = time.time() - t_start
        if (steps is None and elapsed >= budget) or (steps is not None and step - step0 >= steps):
            break
        frac = (step - step0) / steps if steps is not None else elapsed / budget
        lr = set_lr(opt, lr_max, step - step0, warmup, frac)
        samples = drawer.batch(rng, BATCH)
        batch = tuple(t.to(dev, non_blocking=True) for t in collate(samples, cfg.tokens_per_frame))
        loss = batch_loss(model, batch, decision_weight, freeze_vision, fixed_vision, teacher_model, distill)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % log_every == 0:
            rec = {"step": step, "elapsed_s": round(time.time() - t_start, 1), "loss": round(loss.item(), 4),
                   "ema": round(ema, 4), "lr": lr}
            print(json.dumps(rec), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if time.time() - last_save > 300:
            save()
            last_save = time.time()
    save()
    print(f"train: done, {step} steps in {time.time() - t_start:.0f} s -> {out}", flush=True)


def _reconfigured(model: KibitzModel, **changes) -> KibitzModel:
    m = KibitzModel(ModelConfig.from_dict({**model.cfg.to_dict(), **changes}))
    m.load_state_dict(model.state_dict())
    return m


def with_clock(model: KibitzModel, digits: int) -> KibitzModel:
    """The same model with a stream clock of `digits` digits (a zero table: it says what it said
    before until training teaches it the clock). Any existing clock rows are kept."""
    m = KibitzModel(ModelConfig.from_dict({**model.cfg.to_dict(), "time_digits": digits}))
    state = {k: v for k, v in model.state_dict().items() if k != "time_embed"}
    res = m.load_state_dict(state, strict=False)
    bad = [k for k in res.missing_keys if k != "time_embed"] + list(res.unexpected_keys)
    if bad:
        raise RuntimeError(f"with_clock: weights do not carry over: {bad[:5]}")
    if model.time_embed is not None:
        n = min(digits, model.cfg.time_digits)
        with torch.no_grad():
            m.time_embed[:n] = model.time_embed[:n]
    return m


def _with_keep_ratio(model: KibitzModel, keep_ratio: float) -> KibitzModel:
    cfg = ModelConfig.from_dict({**model.cfg.to_dict(), "keep_ratio": keep_ratio})
    m = KibitzModel(cfg)
    m.vision.load_state_dict(model.vision.state_dict())
    return m


def _hardware(model: KibitzModel) -> str:
    p = next(model.parameters())
    if p.is_cuda:
        return f"GPU {torch.cuda.get_device_name(p.device)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores), torch {torch.__version__}, {torch.get_num_threads()} threads"


def _save(out, model, step, t_start, data_dir, n_streams, ema, minutes, resume=None, decision_weight=1.0, vision=None,
          seed=None, prefer_question=None, hit_clips=0.0, fixed_vision=False, temporal=None, freeze_clips=0.0, teacher=None,
          batch: int = BATCH, extra: Optional[dict] = None):
    meta = {"fps": FPS, "window_frames": CLIP_FRAMES, **({"temporal": temporal.to_dict()} if temporal else {}),
            "training": {"steps": step, "wall_s": round(time.time() - t_start), "budget_min": minutes,
                         "resumed_from": resume, "vision_from": vision, "decision_weight": decision_weight, "batch": batch, "clip_frames": CLIP_FRAMES, "streams": n_streams, "data": data_dir,
                         "final_loss_ema": ema, "seed": seed, "prefer_question": prefer_question, "hit_clips": hit_clips,
                         **({"freeze_clips": freeze_clips, "freeze_frames": list(FREEZE_FRAMES)} if freeze_clips else {}),
                         **({"teacher": teacher[0], "distill": teacher[1]} if teacher else {}),
                         "fixed_vision": fixed_vision, "clock": {"digits": model.cfg.time_digits, "as_hud": CLOCK_AS_HUD, "max_s": MAX_CLOCK_S} if model.cfg.time_digits else None,
                         "line_stamp": {"as_hud": CLOCK_AS_HUD, "max_s": MAX_CLOCK_S} if model.cfg.line_stamp else None, "hardware": _hardware(model),
                         **(extra or {})}}
    save_checkpoint(out, model, meta)
