#!/usr/bin/env python3
"""Export Mixture-of-Depths and dense variants of the SAME weights, for `bench/model.ts --mode step`.

    PYTHONPATH=models /usr/bin/python3 bench/mod_variants.py --size demo  --out /tmp/kibitz-variants
    PYTHONPATH=models /usr/bin/python3 bench/mod_variants.py --size large --out /tmp/kibitz-variants

Writes <out>/<size>-mod (routed layers interleaved, r = 0.2, the shipped recipe),
<out>/<size>-mod-deep (every layer but the first routed) and <out>/<size>-dense (routing off:
r = 1, same tensors; routers unused). Weights are random unless --checkpoint is given: step
latency does not depend on what the weights learned. The large size is ~0.37B parameters.
"""
import argparse
import copy
import os
import sys

import torch

from kibitz_models.checkpoint import load_checkpoint
from kibitz_models.export import export_package
from kibitz_models.model import KibitzModel, ModelConfig

SIZES = {
    "demo": {},
    # Llama-ish proportions; ~0.37B parameters, under protobuf's 2 GB per graph in float32.
    "large": dict(d_model=1024, n_layers=24, n_heads=16, n_kv_heads=4, mlp_hidden=4096,
                  routed_layers=list(range(1, 24, 2))),
}


def variant(base: KibitzModel, **changes) -> KibitzModel:
    cfg = copy.deepcopy(base.cfg)
    for k, v in changes.items():
        setattr(cfg, k, v)
    m = KibitzModel(cfg.validate())
    missing, _ = m.load_state_dict(base.state_dict(), strict=False)
    # a variant may add routers (deeper routing): those start from the base's first router
    first_router = next((k for k in base.state_dict() if ".router." in k), None)
    for k in missing:
        if ".router." not in k or first_router is None:
            raise SystemExit(f"variant is missing weights {k}: not the same model")
        suffix = k.split(".router.")[1]
        src = [s for s in base.state_dict() if s.endswith(".router." + suffix)][0]
        m.state_dict()[k].copy_(base.state_dict()[src])
    return m.eval()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=sorted(SIZES), default="demo")
    ap.add_argument("--out", default="/tmp/kibitz-variants")
    ap.add_argument("--checkpoint", default=None, help="start from these weights (demo size only)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    if a.checkpoint:
        base, _ = load_checkpoint(a.checkpoint)
    else:
        base = KibitzModel(ModelConfig(**SIZES[a.size]).validate())
    params = sum(p.numel() for p in base.parameters())
    print(f"{a.size}: {params / 1e6:.1f}M parameters", file=sys.stderr)
    L = base.cfg.n_layers
    variants = {
        "mod": base.eval(),
        "mod-deep": variant(base, routed_layers=list(range(1, L))),
        "dense": variant(base, keep_ratio=1.0),
    }
    for name, model in variants.items():
        out = os.path.join(a.out, f"{a.size}-{name}")
        export_package(model, out, f"kibitz-{a.size}-{name}", {"training": {"note": "benchmark variant"}}, check_parity=(a.size == "demo"))
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
