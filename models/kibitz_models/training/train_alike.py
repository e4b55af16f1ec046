"""Mixture-of-Depths variants trained alike: one start, one batch stream, one schedule.

    cli train-alike --data DIR --resume START.pt --variants dense,interleaved,deep --out-dir OUT
                    [--steps N] [--minutes M] [--batch 32] [--workers 8] [--device auto]

Every variant (`variants.py`) is reshaped from the same start and takes its optimizer step on the
SAME batch at every step, so "same data, same steps, same seed" holds by construction rather than
by matching seeds across separate runs. Clips are drawn by `train.ClipDrawer` (the recipe `cli
train` uses) in `--workers` loader processes, each with its own seeded random stream, and come back
in a fixed order: a run is repeatable for a given (seed, workers, batch).

`--steps` is the schedule's length; `--minutes` caps the wall clock. With both, the steps are
fixed once, after PROBE_STEPS, to what the measured pace fits in the budget (never more than
`--steps`), and the cosine runs over that count: every variant still ends at the same step with a
fully decayed rate, however fast the machine turned out to be.

Writes OUT/<variant>.pt (a `cli train` checkpoint: export, evaluate and resume it like any other;
meta.training.alike names the runs it was trained beside) and OUT/alike.log.jsonl. Each variant's
time for its own update (forward, backward, AdamW) is measured every `log_every` steps with the
device synchronised, so the other steps run unsynchronised.
"""
from __future__ import annotations

import json
import os
import random
import time
from typing import Dict, List, Optional

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..data.dataset import collate, load_streams
from ..games.catalogue import get as get_game, of_data, view_of_data
from ..model.checkpoint import load_checkpoint
from ..model.model import ConfigError
from ..model.variants import VARIANTS, variant
from .train import ClipDrawer, _hardware, _save, batch_loss, freeze_vision_of, load_teacher, make_optimizer, pick_device, set_lr

PROBE_STEPS = 20     # steps timed before the schedule's length is fixed from the wall-clock budget
PACE_FROM = 5        # the first steps (allocator, loader start-up) are left out of the pace


class _Batches(IterableDataset):
    """Endless collated batches; loader worker w draws with random.Random(f"{seed}/{w}")."""

    def __init__(self, drawer: ClipDrawer, seed: int, batch: int):
        self.drawer, self.seed, self.batch = drawer, seed, batch

    def __iter__(self):
        info = get_worker_info()
        rng = random.Random(f"{self.seed}/{info.id if info else 0}")
        while True:
            yield collate(self.drawer.batch(rng, self.batch), self.drawer.cfg.tokens_per_frame)


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)


def fit_steps(steps: Optional[int], budget_s: Optional[float], done: int, elapsed_s: float, pace_s: float) -> int:
    """The schedule's length once the pace is known: what the rest of the budget holds at `pace_s`
    per step (5% kept for saving), never more than `steps`. One of steps / budget_s must be given."""
    if budget_s is None:
        if steps is None:
            raise ConfigError("train-alike needs --steps or --minutes")
        return steps
    fits = done + int(max(0.0, budget_s - elapsed_s) * 0.95 / max(pace_s, 1e-6))
    return max(done + 1, min(steps, fits) if steps is not None else fits)


def train_alike(data_dir: str, out_dir: str, resume: str, names: List[str], steps: Optional[int] = None,
                minutes: Optional[float] = None, batch: int = 32, workers: int = 8, seed: int = 21, lr_max: float = 6e-4,
                warmup: int = 30, decision_weight: float = 3.0, device: str = "auto", save_every_s: float = 120.0,
                log_every: int = 10, threads: int = 1, teacher: Optional[str] = None, distill: float = 1.0) -> Dict[str, dict]:
    """`teacher`: a checkpoint of the same game whose outputs every variant also learns (train.batch_loss
    `distill`); its forward pass runs once per variant per step."""
    unknown = [n for n in names if n not in VARIANTS]
    if not names or unknown:
        raise ConfigError(f"train-alike: unknown variants {unknown}: choose from {', '.join(VARIANTS)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"train-alike: a variant is named twice in {names}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    base, base_meta = load_checkpoint(resume)
    step0 = base_meta.get("training", {}).get("steps", 0)     # the saved count goes on from the start's, as `cli train` does
    game_name, data_view = of_data(data_dir), view_of_data(data_dir)
    if base.cfg.game != game_name or base.cfg.view != data_view:
        raise ConfigError(f"train-alike: {resume} was taught {base.cfg.game!r} looking at {base.cfg.view or 'the whole frame'}, "
                          f"the data in {data_dir} is {game_name!r} at {data_view or 'the whole frame'}: start from a model of the same game and view")
    streams = load_streams(data_dir)
    drawer = ClipDrawer(data_dir, streams, base.cfg, get_game(game_name))
    dev = pick_device(device)
    # the loader's processes start before CUDA is touched in this one
    loader = DataLoader(_Batches(drawer, seed, batch), batch_size=None, num_workers=workers, worker_init_fn=_one_thread,
                        pin_memory=dev.type == "cuda", **({"prefetch_factor": 4, "persistent_workers": True} if workers else {}))
    batches = iter(loader)
    first = next(batches)
    teacher_model = load_teacher(teacher, base.cfg, dev) if teacher else None
    runs = {}
    for name in names:
        m = variant(base, name)
        freeze_vision_of(m, fixed_vision=True)   # decoder only: vision_embeds (and the in-world head on them) stay valid
        m = m.to(dev).train()
        runs[name] = {"model": m, "opt": make_optimizer(m), "ema": None, "ms": [], "acc": 0.0, "n": 0}
    os.makedirs(out_dir, exist_ok=True)
    log_path = os.path.join(out_dir, "alike.log.jsonl")
    budget = minutes * 60.0 if minutes is not None else None
    horizon = steps if budget is None else None
    print(f"train-alike: {', '.join(names)} from {resume} on {dev}; {len(streams)} streams, batch {batch}, "
          f"{workers} loader workers, steps {steps}, budget {minutes} min", flush=True)
    t_start, last_save, t_pace = time.time(), time.time(), None

    def save(step: int) -> None:
        for name, r in runs.items():
            _save(os.path.join(out_dir, f"{name}.pt"), r["model"], step0 + step, t_start, data_dir, len(streams), r["ema"],
                  minutes or 0.0, resume, decision_weight, None, seed, fixed_vision=True, batch=batch,
                  extra={"variant": name, "alike": names, "alike_steps": step, "lr_max": lr_max, "warmup": warmup, "workers": workers,
                         "update_ms_p50": _p50(r["ms"]), **({"teacher": teacher, "distill": distill} if teacher else {})})

    step = 0
    while True:
        if step == PACE_FROM:
            t_pace = time.time()
        if horizon is None and step == PROBE_STEPS:
            horizon = fit_steps(steps, budget, step, time.time() - t_start, (time.time() - t_pace) / (PROBE_STEPS - PACE_FROM))
            print(f"train-alike: the schedule runs {horizon} steps", flush=True)
        if horizon is not None and step >= horizon:
            break
        if horizon is None and budget is not None and time.time() - t_start >= budget:   # probe outran the budget
            break
        cpu_batch = first if step == 0 else next(batches)
        b = tuple(t.to(dev, non_blocking=True) for t in cpu_batch)
        timed = step % log_every == 0
        frac = step / horizon if horizon else 0.0
        for name, r in runs.items():
            m, opt = r["model"], r["opt"]
            if timed:
                _sync(dev)
                t0 = time.perf_counter()
            lr = set_lr(opt, lr_max, step, warmup, frac)
            loss = batch_loss(m, b, decision_weight, False, True, teacher_model, distill)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            r["acc"], r["n"] = r["acc"] + loss.detach(), r["n"] + 1     # read back only when logged (no sync per step)
            if timed:
                _sync(dev)
                r["ms"].append((time.perf_counter() - t0) * 1000)
        step += 1
        if step % log_every == 0:
            for r in runs.values():
                r["loss"] = float(r["acc"]) / r["n"]          # mean over the steps since the last record
                r["ema"] = r["loss"] if r["ema"] is None else 0.6 * r["ema"] + 0.4 * r["loss"]
                r["acc"], r["n"] = 0.0, 0
            rec = {"step": step, "elapsed_s": round(time.time() - t_start, 1), "lr": lr,
                   **{n: {"loss": round(r["loss"], 4), "ema": round(r["ema"], 4), "update_ms": _p50(r["ms"][-10:])} for n, r in runs.items()}}
            print(json.dumps(rec), flush=True)
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if time.time() - last_save > save_every_s:
            save(step)
            last_save = time.time()
    save(step)
    summary = {n: {"steps": step, "final_loss_ema": r["ema"], "update_ms_p50": _p50(r["ms"]), "out": os.path.join(out_dir, f"{n}.pt")}
               for n, r in runs.items()}
    print(json.dumps({"done_s": round(time.time() - t_start), "hardware": _hardware(next(iter(runs.values()))["model"]), **summary}), flush=True)
    return summary


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _p50(xs: List[float]) -> Optional[float]:
    return round(sorted(xs)[len(xs) // 2], 1) if xs else None
