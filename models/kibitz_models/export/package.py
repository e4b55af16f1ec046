"""Export a checkpoint to a kibitz model package (see models/CONTRACT.md, models/README.md).

    /usr/bin/python3 -m kibitz_models.cli export --checkpoint CKPT --out models/kibitz-demo

Writes vision.onnx, decoder_frame.onnx, decoder_text.onnx (both reading decoder_weights.bin), embed_tokens.bin, tokenizer.json,
manifest.json and fixtures/*.json (inputs + PyTorch outputs), then runs onnxruntime-node on the
fixtures (models/scripts/parity.mjs) and refuses the package (deletes the graphs, exits non-zero)
when any output differs by more than the tolerance.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn

from ..data.dataset import STAMP_TEXT
from ..data.temporal import TemporalConfig
from ..data.tokenizer import SPECIAL_IDS
from ..games.catalogue import tokenizer_for
from ..model.checkpoint import TEXT_TOKENS, load_checkpoint, window_frames
from ..model.model import KibitzModel
from .onnx_io import onnx_export
from .shared_weights import WEIGHTS_FILE, share_decoder_weights

OPSET = 17
PARITY_TOL = 1e-3
MODELS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # models/
PARITY_SCRIPT = os.path.join(MODELS_DIR, "scripts", "parity.mjs")


class ExportError(RuntimeError):
    pass



# ----------------------------------------------------------------------------- graph wrappers

class VisionGraph(nn.Module):
    def __init__(self, model: KibitzModel):
        super().__init__()
        self.vision = model.vision

    def forward(self, frames):
        return self.vision(frames)


def _past(flat, n_layers):
    return [tuple(flat[4 * l: 4 * l + 4]) for l in range(n_layers)]


class FrameGraph(nn.Module):
    """decoder_frame.onnx. `rotated`: past keys in and new keys out are rotated at their positions
    (manifest decoder.pastKeys "rotated", what export writes); False: pre-RoPE (packages before)."""
    def __init__(self, model: KibitzModel, rotated: bool = True):
        super().__init__()
        self.model = model
        self.rotated = rotated

    def forward(self, inputs_embeds, positions, *flat_past):
        return self.step(inputs_embeds, positions, flat_past)

    def step(self, inputs_embeds, positions, flat_past, vision_tokens=None):
        """frame_step's outputs flattened in frame_io's order: logits, then per layer key, value, index."""
        logits, out = self.model.frame_step(inputs_embeds, positions, _past(flat_past, self.model.cfg.n_layers), self.rotated, vision_tokens)
        res = [logits]
        for k, v, idx in out:
            res += [k, v, idx]
        return tuple(res)


class TextGraph(nn.Module):
    """decoder_text.onnx; `rotated` as FrameGraph."""
    def __init__(self, model: KibitzModel, rotated: bool = True):
        super().__init__()
        self.model = model
        self.rotated = rotated

    def forward(self, inputs_embeds, positions, *flat_past):
        logits, out = self.model.text_step(inputs_embeds, positions, _past(flat_past, self.model.cfg.n_layers), self.rotated)
        res = [logits]
        for k, v in out:
            res += [k, v]
        return tuple(res)


def past_names(n_layers: int) -> List[str]:
    names = []
    for l in range(n_layers):
        names += [f"past_key.{l}", f"past_value.{l}", f"past_pos.{l}", f"past_valid.{l}"]
    return names


def past_axes(n_layers: int) -> Dict[str, Dict[int, str]]:
    axes = {}
    for l in range(n_layers):
        axes[f"past_key.{l}"] = {0: "batch", 2: f"past_len_{l}"}
        axes[f"past_value.{l}"] = {0: "batch", 2: f"past_len_{l}"}
        axes[f"past_pos.{l}"] = {0: "batch", 1: f"past_len_{l}"}
        axes[f"past_valid.{l}"] = {0: "batch", 1: f"past_len_{l}"}
    return axes


def frame_io(n_layers: int):
    """decoder_frame.onnx's output names and the dynamic axes of all its inputs and outputs: a
    dynamic token axis n (the temporal drop feeds 1..V tokens, a frame prefix V + p; routed layers
    return min(k, n) entries)."""
    L = n_layers
    onames = ["logits"] + sum([[f"new_key.{l}", f"new_value.{l}", f"new_index.{l}"] for l in range(L)], [])
    axes = {"inputs_embeds": {0: "batch", 1: "n"}, "positions": {0: "batch", 1: "n"}, "logits": {0: "batch"}}
    axes.update(past_axes(L))
    for l in range(L):
        axes[f"new_key.{l}"] = {0: "batch", 2: f"new_len_{l}"}
        axes[f"new_value.{l}"] = {0: "batch", 2: f"new_len_{l}"}
        axes[f"new_index.{l}"] = {0: "batch", 1: f"new_len_{l}"}
    return onames, axes


def text_io(n_layers: int):
    """decoder_text.onnx's output names and the dynamic axes of all its inputs and outputs."""
    L = n_layers
    tonames = ["logits"] + sum([[f"new_key.{l}", f"new_value.{l}"] for l in range(L)], [])
    taxes = {"inputs_embeds": {0: "batch", 1: "t"}, "positions": {0: "batch", 1: "t"}, "logits": {0: "batch", 1: "t"}}
    taxes.update(past_axes(L))
    for l in range(L):
        taxes[f"new_key.{l}"] = {0: "batch", 2: "t"}
        taxes[f"new_value.{l}"] = {0: "batch", 2: "t"}
    return tonames, taxes


# ----------------------------------------------------------------------------- example inputs

def example_past(model: KibitzModel, batch: int, lens: List[int], gen: torch.Generator, pad_every: int = 4):
    """Random past per layer; every `pad_every`-th entry of row 1 is padding (valid = false)."""
    cfg = model.cfg
    flat = []
    for l in range(cfg.n_layers):
        P = lens[l]
        k = torch.randn(batch, cfg.n_kv_heads, P, cfg.head_dim, generator=gen)
        v = torch.randn(batch, cfg.n_kv_heads, P, cfg.head_dim, generator=gen)
        pos = torch.arange(P).unsqueeze(0).repeat(batch, 1)
        valid = torch.ones(batch, P, dtype=torch.bool)
        if batch > 1:
            valid[1, ::pad_every] = False
        flat += [k, v, pos, valid]
    return flat


def past_lens(model: KibitzModel, frames: int, text: int) -> List[int]:
    cfg = model.cfg
    return [frames * (cfg.kept_per_frame if cfg.is_routed(l) else cfg.tokens_per_frame) + text
            for l in range(cfg.n_layers)]


# ----------------------------------------------------------------------------- fixtures

def t2j(t) -> dict:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
        dt = "bool"
    else:
        dt = {np.dtype("float32"): "float32", np.dtype("int64"): "int64", np.dtype("uint8"): "uint8"}[a.dtype]
    return {"dtype": dt, "shape": list(a.shape),
            "data_b64": base64.b64encode(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def write_fixture(path: str, graph: str, inputs: Dict[str, torch.Tensor], outputs: Dict[str, torch.Tensor], note: str):
    with open(path, "w") as f:
        json.dump({"graph": graph, "note": note, "tolerance": PARITY_TOL,
                   "inputs": {k: t2j(v) for k, v in inputs.items()},
                   "outputs": {k: t2j(v) for k, v in outputs.items()}}, f)


# ----------------------------------------------------------------------------- export

def manifest_for(model: KibitzModel, name: str, meta: dict) -> dict:
    cfg = model.cfg
    return {
        "format": "kibitz-mod/1",
        "name": name,
        "game": cfg.game,   # what it was taught (models/kibitz_models/games/catalogue.py); the runtime does not read it
        "frame": {"width": cfg.frame_width, "height": cfg.frame_height, "fps": meta.get("fps", 2),
                  "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "layout": "NHWC uint8 RGB",
                  **({"view": list(cfg.view)} if cfg.view is not None else {})},
        "vision": {"tokensPerFrame": cfg.tokens_per_frame, "summaryTokens": 1, "grid": [cfg.grid_h, cfg.grid_w]},
        "decoder": {"dModel": cfg.d_model, "layers": cfg.n_layers, "heads": cfg.n_heads, "kvHeads": cfg.n_kv_heads,
                    "headDim": cfg.head_dim, "mlpHidden": cfg.mlp_hidden, "vocab": cfg.vocab_size,
                    "routedLayers": [l for l in range(cfg.n_layers) if cfg.is_routed(l)],
                    "keepRatio": cfg.keep_ratio, "keptPerFrame": cfg.kept_per_frame,
                    "ropeTheta": cfg.rope_theta, "maxPositions": cfg.max_positions},
        "tokens": dict(SPECIAL_IDS),
        "decision": {"threshold": meta.get("threshold", 0.5)},
        "generation": {"maxNewTokens": 64},
        "cache": {"sinkTokens": 1, "windowFrames": window_frames(meta), "textTokens": TEXT_TOKENS},
        "files": {"vision": "vision.onnx", "decoderFrame": "decoder_frame.onnx", "decoderText": "decoder_text.onnx", "decoderWeights": WEIGHTS_FILE,
                  "embedTokens": "embed_tokens.bin", "tokenizer": "tokenizer.json"},
        "training": meta.get("training", {}),
        **({"clock": clock_manifest(cfg)} if cfg.time_digits else {}),
        **({"stamp": stamp_manifest()} if cfg.line_stamp else {}),
        **({"recall": recall_manifest(cfg.game)} if game_recall(cfg.game) else {}),
        **({"temporal": TemporalConfig.from_dict(meta["temporal"]).to_manifest(meta.get("temporal_default"))} if meta.get("temporal") else {}),
    }


def stamp_manifest() -> dict:
    """Line stamps (ModelConfig.line_stamp): what the runtime feeds right after the eos of every commentary line."""
    return {"text": STAMP_TEXT, "unit": "second",
            "describe": "after the model has written a commentary line about a frame, the runtime feeds the line's eos "
                        "and then this text with {seconds} = floor(stream time of that frame in ms / 1000), tokenized; "
                        "the stamp is never said; 'when' answers copy it"}


def game_recall(game: str):
    """The game's memory-question rules (games.catalogue.Game.recall); empty when it has none."""
    from ..games.catalogue import get
    return list(get(game).recall)


def recall_manifest(game: str) -> dict:
    """Memory questions the runtime answers from what the stream's commentary said (src/model/recall.ts)."""
    return {"rules": game_recall(game),
            "describe": "a question of a rule's kind (the kind the package's question classifier gives it) is answered from "
                        "the stream's said lines, newest phrase first (lines split at ' and '): the first phrase matching "
                        "`line` ({name} = one or more words, {line} = any phrase) said within `withinS` seconds (absent = "
                        "any time) gives `answer` ({seconds} = floor(stream ms / 1000) of the line); none matches: `none`, "
                        "or the model answers when there is no `none`"}


def set_recall(pkg_dir: str) -> dict:
    """Writes the recall block of the package's game into its manifest (a package exported before recall existed)."""
    path = os.path.join(pkg_dir, "manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    game = manifest.get("game", "demo")
    if not game_recall(game):
        raise ExportError(f"game {game!r} has no recall rules (games/catalogue.py)")
    manifest["recall"] = recall_manifest(game)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, path)
    return manifest["recall"]


def clock_manifest(cfg) -> dict:
    """The stream clock (model.clock): the runtime adds it to every vision token of a frame."""
    return {"file": "time_embed.bin", "digits": cfg.time_digits, "unit": "second", "text": cfg.clock_text,
            "describe": "float32 [digits, 10, dModel], little-endian; a frame at stream time t ms gets "
                        "sum over p < digits of row [p, floor(t / 1000 / 10^p) mod 10] added to each of its "
                        "vision tokens before decoder_frame; with text = true every text token fed after a "
                        "frame gets that frame's clock too"}


def _refuse_unfaithful(model: KibitzModel) -> None:
    cfg = model.cfg
    tok = tokenizer_for(cfg.game)
    if len(tok.vocab) != cfg.vocab_size:
        raise ExportError(f"tokenizer has {len(tok.vocab)} tokens but the model's vocab_size is {cfg.vocab_size}")
    for p in model.parameters():
        if not torch.isfinite(p).all():
            raise ExportError("checkpoint has non-finite weights; refusing to export")


def export_package(model: KibitzModel, out_dir: str, name: str, meta: Optional[dict] = None,
                   check_parity: bool = True) -> dict:
    """The decoder graphs take and return keys rotated at their positions (manifest
    decoder.pastKeys "rotated"; each step rotates only its new tokens), the only form the runtime reads."""
    meta = meta or {}
    model = model.eval()
    cfg = model.cfg
    _refuse_unfaithful(model)
    os.makedirs(os.path.join(out_dir, "fixtures"), exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    L = cfg.n_layers
    V = cfg.tokens_per_frame
    with torch.no_grad():
        # vision
        frames = torch.randint(0, 256, (2, cfg.frame_height, cfg.frame_width, 3), generator=gen, dtype=torch.uint8)
        frames[1, :, :, :] = (frames[1] // 4) + torch.arange(cfg.frame_width, dtype=torch.uint8).view(1, -1, 1) // 2
        onnx_export(VisionGraph(model), (frames,), os.path.join(out_dir, "vision.onnx"),
                          input_names=["frames"], output_names=["vision_embeds"], opset_version=OPSET,
                          dynamic_axes={"frames": {0: "n"}, "vision_embeds": {0: "n"}}, do_constant_folding=True)
        vis = model.vision(frames)
        write_fixture(os.path.join(out_dir, "fixtures", "vision.json"), "vision.onnx",
                      {"frames": frames}, {"vision_embeds": vis}, "two frames: noise, and a noisy gradient")

        # frame step: batch 2, non-empty past, row 1 has padding entries
        B = 2
        emb = vis.clone()
        pos = torch.arange(V).unsqueeze(0).repeat(B, 1) + 40
        flat = example_past(model, B, past_lens(model, 1, 15), gen)
        fnames = past_names(L)
        onames, axes = frame_io(L)
        onnx_export(FrameGraph(model), (emb, pos, *flat), os.path.join(out_dir, "decoder_frame.onnx"),
                          input_names=["inputs_embeds", "positions"] + fnames, output_names=onames,
                          opset_version=OPSET, dynamic_axes=axes, do_constant_folding=True)
        outs = FrameGraph(model)(emb, pos, *flat)
        write_fixture(os.path.join(out_dir, "fixtures", "decoder_frame.json"), "decoder_frame.onnx",
                      dict(zip(["inputs_embeds", "positions"] + fnames, [emb, pos] + flat)),
                      dict(zip(onames, outs)), "batch 2, one frame + 15 text tokens of past; row 1 has padding")
        # frame step with an empty cache (first frame of a stream)
        flat0 = example_past(model, 1, [0] * L, gen)
        outs0 = FrameGraph(model)(emb[:1], pos[:1] - 40, *flat0)
        write_fixture(os.path.join(out_dir, "fixtures", "decoder_frame_empty.json"), "decoder_frame.onnx",
                      dict(zip(["inputs_embeds", "positions"] + fnames, [emb[:1], pos[:1] - 40] + flat0)),
                      dict(zip(onames, outs0)), "batch 1, empty past (P=0 in every layer)")
        # partial frames (the temporal drop): n = 1 (summary only) and n = 7 (< V, > keptPerFrame)
        for n, pick in ((1, [0]), (7, [0, 2, 3, 9, 10, 17, 24])):
            idx = torch.tensor(pick)
            flatn = example_past(model, B, past_lens(model, 1, 9), gen)
            posn = torch.arange(n).unsqueeze(0).repeat(B, 1) + 40
            outsn = FrameGraph(model)(emb[:, idx], posn, *flatn)
            write_fixture(os.path.join(out_dir, "fixtures", f"decoder_frame_n{n}.json"), "decoder_frame.onnx",
                          dict(zip(["inputs_embeds", "positions"] + fnames, [emb[:, idx], posn] + flatn)),
                          dict(zip(onames, outsn)), f"batch 2, a frame of {n} fed tokens (temporal drop); row 1 has padding")

        # text step
        T = 4
        ids = torch.tensor([[SPECIAL_IDS["question"], 20, 30, SPECIAL_IDS["answer"]]] * B)
        temb = model.embed(ids)
        tpos = torch.arange(T).unsqueeze(0).repeat(B, 1) + 40 + V
        flatt = example_past(model, B, past_lens(model, 2, 5), gen)
        tonames, taxes = text_io(L)
        onnx_export(TextGraph(model), (temb, tpos, *flatt), os.path.join(out_dir, "decoder_text.onnx"),
                          input_names=["inputs_embeds", "positions"] + fnames, output_names=tonames,
                          opset_version=OPSET, dynamic_axes=taxes, do_constant_folding=True)
        touts = TextGraph(model)(temb, tpos, *flatt)
        write_fixture(os.path.join(out_dir, "fixtures", "decoder_text.json"), "decoder_text.onnx",
                      dict(zip(["inputs_embeds", "positions"] + fnames, [temb, tpos] + flatt)),
                      dict(zip(tonames, touts)), "batch 2, T=4 (question w w answer), 2 frames + 5 text of past; row 1 has padding")

        model.embed.weight.detach().cpu().numpy().astype("<f4").tofile(os.path.join(out_dir, "embed_tokens.bin"))
        if cfg.time_digits:
            model.time_embed.detach().cpu().numpy().astype("<f4").tofile(os.path.join(out_dir, "time_embed.bin"))
            secs = torch.tensor([0, 7, 59, 600, 3599, 12345, 10 ** cfg.time_digits + 42])
            with open(os.path.join(out_dir, "fixtures", "clock.json"), "w") as f:   # no graph: checks the runtime's own sum
                json.dump({"graph": None, "note": "stream seconds -> model.clock (what the runtime adds to each vision token)",
                           "tolerance": PARITY_TOL, "seconds": secs.tolist(), "clock": t2j(model.clock(secs))}, f)
    tokenizer_for(cfg.game).save(os.path.join(out_dir, "tokenizer.json"))
    manifest = manifest_for(model, name, meta)
    manifest["decoder"]["pastKeys"] = "rotated"
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)

    share_decoder_weights(out_dir)   # both decoder graphs point into one decoder_weights.bin
    import onnx
    for g in ("vision.onnx", "decoder_frame.onnx", "decoder_text.onnx"):
        onnx.checker.check_model(os.path.join(out_dir, g))   # by path: reads the shared weights too
    if check_parity:
        report = run_parity(out_dir)
        manifest["parity"] = report
        with open(os.path.join(out_dir, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
    return manifest


def run_parity(pkg_dir: str) -> dict:
    """Run onnxruntime-node on the fixtures; refuse (delete graphs, raise) on a mismatch."""
    node = shutil.which("node")
    if node is None:
        raise ExportError("node is not on PATH: cannot check ONNX parity with onnxruntime-node; "
                          "install Node 20 + `npm install`, or pass --no-parity (the package is then unchecked)")
    res = subprocess.run([node, PARITY_SCRIPT, pkg_dir], capture_output=True, text=True)
    if res.returncode != 0:
        for g in ("vision.onnx", "decoder_frame.onnx", "decoder_text.onnx", WEIGHTS_FILE):
            p = os.path.join(pkg_dir, g)
            if os.path.exists(p):
                os.remove(p)
        raise ExportError("ONNX parity check failed; graphs removed.\n" + res.stdout[-3000:] + res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def export_checkpoint(ckpt_path: str, out_dir: str, name: str, check_parity: bool = True,
                      threshold: Optional[float] = None, temporal_default: Optional[str] = None) -> dict:
    """`temporal_default` ("on"/"off"): for a checkpoint trained with the temporal drop, the manifest's
    `temporal.default`, what the runtime does when its config says `auto`."""
    model, meta = load_checkpoint(ckpt_path)
    if threshold is not None:
        meta = dict(meta, threshold=threshold)
    if temporal_default is not None:
        if not meta.get("temporal"):
            raise ExportError(f"{ckpt_path} was not trained with the temporal drop: --temporal-default needs one that was (cli train --temporal)")
        meta = dict(meta, temporal_default=temporal_default)
    return export_package(model, out_dir, name, meta, check_parity)
