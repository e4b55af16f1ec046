"""The Mixture-of-Depths variants compared in the "MoD, proven" table, built from ONE set of weights.

    interleaved   routed layers 1, 3, 5, r = 0.2 (the recipe the demo package was first trained with)
    deep          every layer but the first routed, r = 0.2
    deep-r0.12    every layer but the first routed, r = 0.12 (3 of 25 vision tokens kept)
    deep-r0.3     every layer but the first routed, r = 0.3 (8 of 25 kept)
    deep2         the first two layers dense, the other four routed, r = 0.2
    dense         no routing (r = 1): every vision token through every layer; routers unused

`variant(base, name)` copies every tensor the new shape shares with `base`; a router the base
does not have starts as a copy of the base's nearest router below it (same layer width, so the
copy is a trained scorer rather than noise); from a dense base (no routers) they start fresh. Used by `cli train --variant` (train each variant
from the same start) and by `bench/mod_variants.py` (step latency of each shape).
"""
from __future__ import annotations

import copy
from typing import Dict

from .model import ConfigError, KibitzModel


def variant_changes(name: str, n_layers: int) -> Dict[str, object]:
    table = {
        "interleaved": {"routed_layers": list(range(1, n_layers, 2)), "keep_ratio": 0.2},
        "deep": {"routed_layers": list(range(1, n_layers)), "keep_ratio": 0.2},
        "deep-r0.12": {"routed_layers": list(range(1, n_layers)), "keep_ratio": 0.12},
        "deep-r0.3": {"routed_layers": list(range(1, n_layers)), "keep_ratio": 0.3},
        "deep2": {"routed_layers": list(range(2, n_layers)), "keep_ratio": 0.2},
        "dense": {"keep_ratio": 1.0},
    }
    if name not in table:
        raise ConfigError(f"unknown variant {name!r}: choose one of {', '.join(table)}")
    return table[name]


VARIANTS = ("interleaved", "deep", "deep-r0.12", "deep-r0.3", "deep2", "dense")


def variant(base: KibitzModel, name: str) -> KibitzModel:
    cfg = copy.deepcopy(base.cfg)
    for k, v in variant_changes(name, cfg.n_layers).items():
        setattr(cfg, k, v)
    m = KibitzModel(cfg.validate())
    src = base.state_dict()
    missing, _ = m.load_state_dict(src, strict=False)
    for k in missing:
        if ".router." not in k:
            raise ConfigError(f"variant {name} is missing weights {k}: not the same model")
        layer = int(k.split(".")[1])           # decoder.<layer>.router.<param>
        suffix = k.split(".router.")[1]
        donors = sorted((int(s.split(".")[1]), s) for s in src if s.endswith(".router." + suffix) and s.split(".")[0] == k.split(".")[0])
        if not donors:   # a dense base has no routers: the new ones keep their fresh initialisation
            continue
        below = [d for d in donors if d[0] <= layer]
        m.state_dict()[k].copy_(src[(below[-1] if below else donors[0])[1]])
    return m
