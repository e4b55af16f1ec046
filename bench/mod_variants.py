#!/usr/bin/env python3
"""Mixture-of-Depths variants of the SAME weights, for step latency and training-step time.

    PYTHONPATH=models /usr/bin/python3 bench/mod_variants.py --size demo  --out /tmp/kibitz-variants
    PYTHONPATH=models /usr/bin/python3 bench/mod_variants.py --size large --out /tmp/kibitz-variants
    PYTHONPATH=models /usr/bin/python3 bench/mod_variants.py --train-step --checkpoint CKPT --data DIR   # JSON

Export mode writes <out>/<size>-<variant> for each of `kibitz_models/model/variants.py` (interleaved,
deep, deep-r0.12, dense). Weights are random unless --checkpoint is given: step latency does not
depend on what the weights learned. The large size is ~0.37B parameters.

--train-step times training steps (forward + backward + AdamW, batch 8 clips of 16 frames, the
frozen-encoder recipe, or the decoder-only one with --fixed-vision) of every variant on the same batches, interleaved round by round so load
on the machine hits all of them alike; prints {variant: {p50_s, p95_s, n}} as JSON.
"""
import argparse
import json
import os
import random
import sys
import time

import torch

from kibitz_models.model.checkpoint import load_checkpoint
from kibitz_models.export.package import export_package
from kibitz_models.model.model import KibitzModel, ModelConfig
from kibitz_models.model.variants import VARIANTS, variant

SIZES = {
    "demo": {},
    # Llama-ish proportions; ~0.37B parameters, under protobuf's 2 GB per graph in float32.
    "large": dict(d_model=1024, n_layers=24, n_heads=16, n_kv_heads=4, mlp_hidden=4096,
                  routed_layers=list(range(1, 24, 2))),
}


def train_steps(base: KibitzModel, data: str, rounds: int, fixed_vision: bool = False) -> dict:
    from kibitz_models.data.dataset import FPS, collate, load_streams, build_clip
    from kibitz_models.games.catalogue import get as get_game, of_data, tokenizer_for
    from kibitz_models.training.train import BATCH, CLIP_FRAMES, batch_loss
    rng = random.Random(0)
    streams = load_streams(data)[:8]
    game = get_game(of_data(data))   # the demo world or a recorded game: clips as `cli train` builds them
    tok = tokenizer_for(game.name)
    cfg = base.cfg
    samples = []
    for s, fr in streams[:BATCH]:
        w = game.load(data, s, fr.shape[0] / FPS)
        samples.append(build_clip(w, fr, rng.randrange(0, fr.shape[0] - CLIP_FRAMES + 1), CLIP_FRAMES, cfg.tokens_per_frame, tok, rng,
                                  n_questions=4, p_summary=0.5, grid=(cfg.grid_h, cfg.grid_w), game=game, stamp=cfg.line_stamp))
    batch = collate(samples, base.cfg.tokens_per_frame)
    models = {name: variant(base, name).train() for name in VARIANTS}
    opts = {}
    for name, m in models.items():
        for n, p in m.vision.named_parameters():
            p.requires_grad_(n.startswith("proj."))
        opts[name] = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-5)
    times = {name: [] for name in models}
    for r in range(rounds + 1):
        for name, m in models.items():
            t0 = time.perf_counter()
            loss = batch_loss(m, batch, 3.0, freeze_vision=True, fixed_vision=fixed_vision)
            opts[name].zero_grad(set_to_none=True)
            loss.backward()
            opts[name].step()
            if r > 0:   # round 0 warms up allocators
                times[name].append(time.perf_counter() - t0)
    q = lambda xs, p: sorted(xs)[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]
    return {name: {"p50_s": round(q(ts, 50), 3), "p95_s": round(q(ts, 95), 3), "n": len(ts)} for name, ts in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="demo")
    ap.add_argument("--out", default="/tmp/kibitz-variants")
    ap.add_argument("--checkpoint", default=None, help="start from these weights (demo size only)")
    ap.add_argument("--train-step", action="store_true", help="time training steps instead of exporting")
    ap.add_argument("--data", default="models/.cache/data")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--fixed-vision", action="store_true", help="time the `cli train --fixed-vision` recipe (decoder only)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.checkpoint:
        base, _ = load_checkpoint(a.checkpoint)
    else:
        base = KibitzModel(ModelConfig(**SIZES[a.size]).validate())
    if a.train_step:
        print(json.dumps(train_steps(base, a.data, a.rounds, a.fixed_vision)))
        return 0
    params = sum(p.numel() for p in base.parameters())
    print(f"{a.size}: {params / 1e6:.1f}M parameters", file=sys.stderr)
    for name in VARIANTS:
        out = os.path.join(a.out, f"{a.size}-{name}")
        export_package(variant(base, name).eval(), out, f"kibitz-{a.size}-{name}", {"training": {"note": "benchmark variant"}}, check_parity=(a.size == "demo"))
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
