"""Rebuild a trainable checkpoint from a model package, so training can continue from what ships
(the checkpoints themselves are not in git). Named initializers (norms, router biases) map by
name; the MatMul weights torch.onnx stored anonymously map by their order in the graph, which
is the order the model applies them; every result is checked against the package's own parity
fixtures, so a wrong mapping cannot pass silently.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli import --package models/kibitz-demo --out ckpt.pt
"""
from __future__ import annotations

import base64
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from ..export.shared_weights import WEIGHTS_FILE
from ..model.model import ConfigError, KibitzModel, ModelConfig
from .inworld import vision_from_package


class ImportError_(ValueError):
    pass


def _inits(path: str) -> List[tuple]:
    return [(i.name, torch.from_numpy(numpy_helper.to_array(i).copy())) for i in onnx.load(path).graph.initializer]


def config_from_manifest(man: dict) -> ModelConfig:
    d = man["decoder"]
    return ModelConfig(frame_width=man["frame"]["width"], frame_height=man["frame"]["height"],
                       d_model=d["dModel"], n_layers=d["layers"], n_heads=d["heads"], n_kv_heads=d["kvHeads"],
                       mlp_hidden=d["mlpHidden"], vocab_size=d["vocab"], keep_ratio=d["keepRatio"],
                       routed_layers=list(d["routedLayers"]), rope_theta=float(d["ropeTheta"]), max_positions=d["maxPositions"],
                       time_digits=man.get("clock", {}).get("digits", 0),
                       clock_text=bool(man.get("clock", {}).get("text", False)),
                       game=man.get("game", "demo"), line_stamp="stamp" in man,
                       view=tuple(man["frame"]["view"]) if man["frame"].get("view") is not None else None).validate()


def _manifest(pkg_dir: str) -> dict:
    with open(os.path.join(pkg_dir, "manifest.json")) as f:
        return json.load(f)


def streaming_meta(pkg_dir: str) -> Dict[str, int]:
    """The checkpoint meta a rebuilt model needs to be run as the runtime runs the package: its
    frame rate and streaming window (checkpoint.window_frames reads it)."""
    man = _manifest(pkg_dir)
    return {"fps": man["frame"]["fps"], "window_frames": man.get("cache", {}).get("windowFrames")}


def package_cost(pkg_dir: str, context_per_layer: Optional[List[int]] = None) -> Dict[str, int]:
    """Multiply-accumulates of one frame step of the package's shape (KibitzModel.decoder_cost_per_frame),
    each layer attending over `context_per_layer` cached slots: what arithmetic alone would make its step
    cost, for comparing with a measured step (bench/mod_table.ts passes the runtime's slot counts)."""
    cfg = config_from_manifest(_manifest(pkg_dir))
    if context_per_layer is not None and len(context_per_layer) != cfg.n_layers:
        raise ConfigError(f"{pkg_dir}: {len(context_per_layer)} context sizes for {cfg.n_layers} layers: give one per layer")
    return KibitzModel(cfg).decoder_cost_per_frame(context_per_layer)


def model_from_package(pkg_dir: str) -> KibitzModel:
    man = _manifest(pkg_dir)
    cfg = config_from_manifest(man)
    model = KibitzModel(cfg)
    sd = model.state_dict()
    new: Dict[str, torch.Tensor] = {}
    # vision: the same rebuild the in-world head uses
    for k, v in vision_from_package(pkg_dir).state_dict().items():
        new[f"vision.{k}"] = v
    # token embeddings
    emb = np.fromfile(os.path.join(pkg_dir, "embed_tokens.bin"), dtype="<f4").reshape(cfg.vocab_size, cfg.d_model)
    new["embed.weight"] = torch.from_numpy(emb.copy())
    if cfg.time_digits:   # the stream clock table (export.clock_manifest)
        clk = np.fromfile(os.path.join(pkg_dir, man["clock"]["file"]), dtype="<f4").reshape(cfg.time_digits, 10, cfg.d_model)
        new["time_embed"] = torch.from_numpy(clk.copy())
    frame = _inits(os.path.join(pkg_dir, "decoder_frame.onnx"))
    for name, t in frame:
        if name.startswith("model.") and name[len("model."):] in sd:
            new[name[len("model."):]] = t
    mats = [t for name, t in frame if name.startswith("onnx::MatMul")]
    # per layer, in the order the block applies them: [router (routed layers)], wq, wk, wv, wo, w1, w3, w2
    i = 0
    for l in range(cfg.n_layers):
        if cfg.is_routed(l):
            new[f"layers.{l}.router.weight"] = mats[i].t().contiguous()
            i += 1
        for w in ("wq", "wk", "wv", "wo", "w1", "w3", "w2"):
            new[f"layers.{l}.{w}.weight"] = mats[i].t().contiguous()
            i += 1
    if len(mats) != i + 1:
        raise ImportError_(f"{pkg_dir}: decoder_frame.onnx has {len(mats)} weight matrices, the toolkit's model {i + 1}")
    new["lm_head.weight"] = mats[i].t().contiguous()
    missing = [k for k in sd if k not in new or new[k].shape != sd[k].shape]
    if missing:
        raise ImportError_(f"{pkg_dir}: cannot map {missing[:6]} onto the toolkit's model")
    model.load_state_dict(new)
    return model.eval()


def checked_model(pkg_dir: str, tol: float = 1e-3) -> Tuple[KibitzModel, Dict[str, float]]:
    """model_from_package, refused unless it reproduces the package's own decoder fixtures."""
    model = model_from_package(pkg_dir)
    diffs = check_against_fixtures(model, pkg_dir)
    if not diffs or max(diffs.values()) > tol:
        raise ImportError_(f"{pkg_dir}: the rebuilt model does not reproduce the package's fixtures: {diffs}")
    return model, diffs


def _t(x: dict) -> torch.Tensor:
    dt = {"float32": np.float32, "int64": np.int64, "uint8": np.uint8, "bool": np.uint8}[x["dtype"]]
    a = np.frombuffer(base64.b64decode(x["data_b64"]), dtype=dt).reshape(x["shape"])
    t = torch.from_numpy(a.copy())
    return t.bool() if x["dtype"] == "bool" else t


@torch.no_grad()
def check_against_fixtures(model: KibitzModel, pkg_dir: str) -> Dict[str, float]:
    """Max abs difference of the rebuilt model against each decoder fixture of the package."""
    from ..export.package import FrameGraph, TextGraph, past_names
    out = {}
    rotated = _manifest(pkg_dir)["decoder"].get("pastKeys") == "rotated"
    for fx_name, graph, per in (("decoder_frame.json", FrameGraph(model, rotated), 3), ("decoder_frame_empty.json", FrameGraph(model, rotated), 3),
                                ("decoder_text.json", TextGraph(model, rotated), 2)):
        path = os.path.join(pkg_dir, "fixtures", fx_name)
        if not os.path.exists(path):
            continue
        fx = json.load(open(path))
        ins = [_t(fx["inputs"]["inputs_embeds"]), _t(fx["inputs"]["positions"])] + [_t(fx["inputs"][n]) for n in past_names(model.cfg.n_layers)]
        got = graph(*ins)
        worst = 0.0
        for name, ref in fx["outputs"].items():
            if not name.startswith(("logits", "new_key", "new_value")):
                continue
            idx = _output_index(name, per)
            worst = max(worst, float((got[idx].float() - _t(ref).float()).abs().max()))
        out[fx_name] = worst
    clock_fx = os.path.join(pkg_dir, "fixtures", "clock.json")
    if model.time_embed is not None and os.path.exists(clock_fx):
        fx = json.load(open(clock_fx))
        out["clock.json"] = float((model.clock(torch.tensor(fx["seconds"])) - _t(fx["clock"])).abs().max())
    return out


def _output_index(name: str, per: int) -> int:
    """Position of an output in FrameGraph (logits, then k, v, index per layer) / TextGraph (k, v)."""
    if name == "logits":
        return 0
    kind, l = name.split(".")
    return 1 + int(l) * per + (0 if kind == "new_key" else 1)


def regraph_package(pkg_dir: str) -> Dict[str, object]:
    """Rewrites a package's decoder graphs in the current form (manifest decoder.pastKeys
    "rotated": past keys stored rotated, each step rotates only its new tokens; reshapes to constant
    shapes, model.onnx_reshape; both graphs reading one decoder_weights.bin, shared_weights.py)
    from the package's own weights, keeping everything else as it is:
    vision encoder, in-world head, threshold, guards, memory questions. The rebuilt model must
    reproduce the old fixtures first, and the new graphs must pass parity in onnxruntime-node
    before they replace the old ones. Graphs already in the current form (the same operators in
    the same order) are left alone, without a parity run."""
    import shutil
    import tempfile
    from ..export.package import export_package, run_parity
    man_path = os.path.join(pkg_dir, "manifest.json")
    man = _manifest(pkg_dir)
    model, before = checked_model(pkg_dir)
    tmp = tempfile.mkdtemp()
    graphs = ("decoder_frame.onnx", "decoder_text.onnx")

    def ops(path: str) -> List[str]:
        return [n.op_type for n in onnx.load(path, load_external_data=False).graph.node]   # the operators, not the weights
    try:
        new = export_package(model, tmp, man["name"], check_parity=False)
        if man["decoder"].get("pastKeys") == "rotated" and os.path.exists(os.path.join(pkg_dir, WEIGHTS_FILE)) and all(
                ops(os.path.join(tmp, g)) == ops(os.path.join(pkg_dir, g)) for g in graphs):
            return {"package": pkg_dir, "changed": False}
        new["parity"] = run_parity(tmp)   # refuses (raises) before anything is copied
        for g in (WEIGHTS_FILE,) + graphs:   # the weights first: the new graphs point into them
            shutil.copyfile(os.path.join(tmp, g), os.path.join(pkg_dir, g))
        for fx in os.listdir(os.path.join(tmp, "fixtures")):
            if fx.startswith("decoder_"):
                shutil.copyfile(os.path.join(tmp, "fixtures", fx), os.path.join(pkg_dir, "fixtures", fx))
    finally:
        shutil.rmtree(tmp)
    man["decoder"]["pastKeys"] = "rotated"
    man.setdefault("files", {})["decoderWeights"] = WEIGHTS_FILE
    man["decoder"].setdefault("ropeTheta", new["decoder"]["ropeTheta"])
    man["parity"] = new["parity"]   # the same graphs, checked in onnxruntime-node before they were copied
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
    return {"package": pkg_dir, "changed": True, "fixtures_before": before, "parity": man["parity"]}
