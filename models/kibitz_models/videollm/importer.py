"""Import a VideoLLM-online (live1+) checkpoint into a kibitz model package.

    PYTHONPATH=models /usr/bin/python3 -m kibitz_models.cli import-videollm CHECKPOINT --out PKG

CHECKPOINT is the adapter folder (the LLM and SigLIP folders are --llm/--vision or its siblings) or
a folder holding all three. The LoRA is merged into the weights, the graphs are exported with the
exporter's wrappers (graphs.py) and checked against PyTorch in onnxruntime-node (export.run_parity).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from typing import Optional

import onnx
import torch

from ..export.package import run_parity
from .errors import LayoutError
from .graphs import export_graphs
from .layout import find_layout
from .manifest import manifest_for, window_frames
from .specs import read_checkpoint
from .tiny_tokenizer import bytes_to_unicode
from .weights import build_model, model_config

DTYPES = ("fp32",)


def _text_ids(tokenizer: dict, text: str, fallback: int) -> list:
    """Ids for the text fixture: the byte-level vocab entry of each byte of `text` (parity needs
    some ids; these are at least the prompt's characters)."""
    vocab, b2u = tokenizer["model"]["vocab"], bytes_to_unicode()
    ids = [vocab[b2u[b]] for b in text.encode("utf-8") if b2u[b] in vocab]
    return ids or [fallback]


def import_videollm(checkpoint: str, out: str, llm: Optional[str] = None, vision: Optional[str] = None,
                    name: str = "videollm-online", dtype: str = "fp32", window: Optional[int] = None,
                    check_parity: bool = True, dense: bool = False) -> dict:
    """Writes the package into `out` and returns its manifest (with the parity report when checked).
    `dense`: leave a MoD checkpoint's routers out (every layer sees every token).
    Raises LayoutError for a checkpoint it does not reproduce exactly, ExportError on a parity failure."""
    if dtype not in DTYPES:
        raise LayoutError(f"--dtype {dtype}: not supported yet; only fp32 packages can be written for now")
    ck = read_checkpoint(find_layout(checkpoint, llm, vision))
    if dense:
        ck = replace(ck, mod=None)
    win = window_frames(model_config(ck), window)   # refused before minutes of loading, not after
    model = build_model(ck)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(ck.layout.llm, "tokenizer.json")) as f:
        tokenizer = json.load(f)
    # the exact-byte copy, not the parsed one: the runtime tokenizes with the LLM's own file
    shutil.copyfile(os.path.join(ck.layout.llm, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    export_graphs(model, out, ck.tokens.silent, _text_ids(tokenizer, "]\nAssistant:", ck.tokens.silent))
    with torch.no_grad():
        model.embed.weight.detach().numpy().astype("<f4").tofile(os.path.join(out, "embed_tokens.bin"))
    manifest = manifest_for(ck, model.cfg, name, win)
    for g in ("vision.onnx", "decoder_frame.onnx", "decoder_text.onnx"):
        onnx.checker.check_model(os.path.join(out, g))
    if check_parity:
        manifest["parity"] = run_parity(out)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest
