"""Find the three folders of a VideoLLM-online checkpoint and tell which is which.

A live1+ checkpoint is three Hugging Face folders: the base LLM (Meta-Llama-3-8B-Instruct:
config.json with model_type "llama", tokenizer, safetensors shards), the PEFT adapter
(videollm-online-8b-v1plus: adapter_config.json + adapter_model.safetensors, the LoRA and the
connector), and the vision tower (siglip-large-patch16-384: config.json with model_type "siglip").
Folders are recognised by their files, never by their names.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import List, Optional

from .errors import LayoutError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
SIGLIP_TYPES = ("siglip", "siglip_vision_model")


@dataclass(frozen=True)
class Layout:
    llm: str
    adapter: str
    vision: str


def read_json(folder: str, name: str, required: bool = True) -> Optional[dict]:
    """A folder's JSON file, or None when it is absent and not required."""
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        if required:
            raise LayoutError(f"{where(folder, name)}: file not found")
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise LayoutError(f"{where(folder, name)}: not valid JSON ({e})") from None


def where(folder: str, name: str) -> str:
    """How errors name a file: its folder's name and the file (the three folders all have a config.json)."""
    return os.path.join(os.path.basename(os.path.normpath(folder)), name)


def model_type(folder: str) -> Optional[str]:
    """config.json's model_type, or None when the folder has no readable config.json."""
    try:
        with open(os.path.join(folder, "config.json")) as f:
            mt = json.load(f).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    return mt if isinstance(mt, str) else None


def kind_of(folder: str) -> Optional[str]:
    """"adapter", "llm", "vision" or None, from the folder's files."""
    if os.path.isfile(os.path.join(folder, ADAPTER_CONFIG)):
        return "adapter"
    mt = model_type(folder)
    return "llm" if mt == "llama" else "vision" if mt in SIGLIP_TYPES else None


def not_siglip(folder: str) -> LayoutError:
    return LayoutError(f"{where(folder, 'config.json')}: model_type {model_type(folder)!r}: the vision tower must be SigLIP "
                       f"(model_type {' or '.join(SIGLIP_TYPES)}, e.g. google/siglip-large-patch16-384)")


def not_llama(folder: str) -> LayoutError:
    return LayoutError(f"{where(folder, 'config.json')}: model_type {model_type(folder)!r}: the LLM must be a Llama "
                       "(model_type llama, e.g. meta-llama/Meta-Llama-3-8B-Instruct)")


def _subfolders(parent: str) -> List[str]:
    return sorted(os.path.join(parent, d) for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d)))


def _pick(candidates: List[str], kind: str, flag: str, looked_in: str) -> str:
    if not candidates:
        what = {"llm": "Llama folder (config.json with model_type llama)",
                "vision": "SigLIP folder (config.json with model_type siglip)",
                "adapter": f"adapter folder ({ADAPTER_CONFIG})"}[kind]
        raise LayoutError(f"{looked_in}: found no {what}; pass it with {flag}")
    if len(candidates) > 1:
        raise LayoutError(f"{looked_in}: several {kind} folders ({', '.join(os.path.basename(c) for c in candidates)}); pass one with {flag}")
    return candidates[0]


def find_layout(checkpoint: str, llm: Optional[str] = None, vision: Optional[str] = None) -> Layout:
    """`checkpoint`: the adapter folder (the LLM and vision folders are then --llm/--vision, or its
    siblings), or a folder holding all three."""
    checkpoint = os.path.abspath(checkpoint)
    if not os.path.isdir(checkpoint):
        raise LayoutError(f"{checkpoint}: not a folder: pass the adapter folder ({ADAPTER_CONFIG}) or the folder holding the three")
    if kind_of(checkpoint) == "adapter":
        adapter, search = checkpoint, os.path.dirname(checkpoint)
    else:
        search = checkpoint
        adapter = _pick([d for d in _subfolders(search) if kind_of(d) == "adapter"], "adapter", "CHECKPOINT", search)
    around = [d for d in _subfolders(search) if d != adapter]
    found = {}
    for kind, given, flag, refuse in (("llm", llm, "--llm", not_llama), ("vision", vision, "--vision", not_siglip)):
        if given is not None:
            if not os.path.isfile(os.path.join(given, "config.json")):
                raise LayoutError(f"{where(given, 'config.json')}: file not found ({flag} must be a Hugging Face model folder)")
            if kind_of(given) != kind:
                raise refuse(given)
            found[kind] = os.path.abspath(given)
            continue
        candidates = [d for d in around if kind_of(d) == kind]
        others = [d for d in around if kind_of(d) is None and model_type(d) is not None]
        if not candidates and kind == "vision" and len(others) == 1:
            raise refuse(others[0])   # the one other model there is the vision tower, and not SigLIP
        found[kind] = _pick(candidates, kind, flag, search)
    return Layout(llm=found["llm"], adapter=adapter, vision=found["vision"])
