"""Build the imported model without random init and fill it tensor by tensor, merging the LoRA
into each weight as it is read (at 8B the model is in memory once, plus one tensor)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

import torch
import torch.nn as nn

from ..model.model import KibitzModel, ModelConfig
from .errors import LayoutError
from .layout import where
from .lora import AdapterWeights
from .prompt import GRID
from .safetensors_io import SafetensorsFile, ShardedCheckpoint
from .siglip import VideoLLMVision
from .specs import ROUTERS_FILE, Checkpoint

# Hugging Face Llama names -> KibitzModel names (model.py Block)
LLAMA_TO_KIBITZ = {"self_attn.q_proj": "wq", "self_attn.k_proj": "wk", "self_attn.v_proj": "wv", "self_attn.o_proj": "wo",
                   "mlp.gate_proj": "w1", "mlp.up_proj": "w3", "mlp.down_proj": "w2",
                   "input_layernorm": "attn_norm", "post_attention_layernorm": "mlp_norm"}
_INITS = ("uniform_", "normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
          "trunc_normal_", "constant_", "zeros_", "ones_")


@contextmanager
def no_init() -> Iterator[None]:
    """Modules built inside get uninitialised storage instead of random values (torch 1.13 has no
    meta-device construction for modules that do not take a device): every value is loaded after,
    and Loader.finish checks that none was left out."""
    saved = {n: getattr(nn.init, n) for n in _INITS}
    try:
        for n in _INITS:
            setattr(nn.init, n, lambda t, *a, **k: t)
        yield
    finally:
        for n, f in saved.items():
            setattr(nn.init, n, f)


class Loader:
    """Copies tensors into a module's parameters by name, checking shapes, and knows what is left."""

    def __init__(self, module: nn.Module):
        self.params: Dict[str, torch.Tensor] = dict(module.named_parameters())
        self.done = set()

    def set(self, name: str, value: torch.Tensor, file: str, source: str) -> None:
        p = self.params[name]
        if list(value.shape) != list(p.shape):
            raise LayoutError(f"{file}: tensor {source} has shape {list(value.shape)}, expected {list(p.shape)}")
        with torch.no_grad():
            p.copy_(value)
        self.done.add(name)

    def finish(self) -> None:
        left = sorted(set(self.params) - self.done)
        if left:   # a bug in the mapping, not in the checkpoint: never ship uninitialised memory
            raise RuntimeError(f"parameters not loaded: {left[:8]}")


def model_config(ck: Checkpoint) -> ModelConfig:
    L, s = ck.llama, ck.siglip
    return ModelConfig(frame_width=s.image_size, frame_height=s.image_size, grid_h=GRID[0], grid_w=GRID[1],
                       vocab_size=L.vocab, d_model=L.hidden, n_layers=L.layers, n_heads=L.heads, n_kv_heads=L.kv_heads,
                       mlp_hidden=L.intermediate, rope_theta=L.rope_theta, max_positions=L.max_positions, norm_eps=L.norm_eps,
                       routed_layers=list(ck.mod.routed_layers) if ck.mod else [],
                       keep_ratio=ck.mod.keep_ratio if ck.mod else 1.0, frame_prefix=1,
                       route_keep_last=bool(ck.mod and ck.mod.keep_last))


def open_llm(ck: Checkpoint) -> ShardedCheckpoint:
    return ShardedCheckpoint(ck.layout.llm)


def stored_name(llm: ShardedCheckpoint, ck: Checkpoint, name: str) -> str:
    """The name a base weight is stored under: a tied lm_head is the embedding table."""
    if name == "lm_head.weight" and name not in llm and ck.llama.tie_embeddings:
        return "model.embed_tokens.weight"
    return name


def base_shape(llm: ShardedCheckpoint, ck: Checkpoint):
    """[out, in] of a base linear layer, from the shard headers; a missing one is refused, naming it."""
    return lambda module: llm.shape(stored_name(llm, ck, module + ".weight"))


def load_vision(ck: Checkpoint, adapter: AdapterWeights) -> VideoLLMVision:
    """The SigLIP tower from the vision folder and the connector from the adapter."""
    files = ShardedCheckpoint(ck.layout.vision)
    with no_init():
        vision = VideoLLMVision(ck.siglip, ck.llama.hidden)
    load = Loader(vision)
    for key in vision.tower.state_dict():
        src = "vision_model." + key
        load.set("tower." + key, files.tensor(src), where(ck.layout.vision, files.file_of(src)), src)
    for key, t in adapter.connector().items():
        load.set(key, t, adapter.where, "base_model.model." + key)
    load.finish()
    return vision.eval()


def open_adapter(ck: Checkpoint, llm: Optional[ShardedCheckpoint] = None) -> AdapterWeights:
    return AdapterWeights(ck.layout.adapter, ck.adapter, ck.llama, base_shape(llm or open_llm(ck), ck))


def build_model(ck: Checkpoint) -> KibitzModel:
    """KibitzModel with the SigLIP vision, the LoRA merged into every targeted weight (W + alpha/r B A)
    and, for a MoD checkpoint, the routers."""
    llm = open_llm(ck)
    adapter = open_adapter(ck, llm)
    vision = load_vision(ck, adapter)
    with no_init():
        model = KibitzModel(model_config(ck), vision=vision)
    load = Loader(model)
    for key in vision.state_dict():
        load.done.add("vision." + key)

    def put(kibitz: str, hf: str, lora_module: Optional[str] = None) -> None:
        hf = stored_name(llm, ck, hf)
        t = llm.tensor(hf)                                   # float32, this tensor only
        if lora_module is not None:
            t = adapter.merged(lora_module, t)
        load.set(kibitz, t, where(ck.layout.llm, llm.file_of(hf)), hf)

    put("embed.weight", "model.embed_tokens.weight")
    for i in range(ck.llama.layers):
        for hf, ours in LLAMA_TO_KIBITZ.items():
            linear = not hf.endswith("layernorm")
            put(f"layers.{i}.{ours}.weight", f"model.layers.{i}.{hf}.weight", f"model.layers.{i}.{hf}" if linear else None)
    put("norm.weight", "model.norm.weight")
    put("lm_head.weight", "lm_head.weight", "lm_head")
    if ck.mod:
        routers = SafetensorsFile(os.path.join(ck.layout.adapter, ROUTERS_FILE))
        rfile = where(ck.layout.adapter, ROUTERS_FILE)
        for l in ck.mod.routed_layers:
            for part in ("weight", "bias"):
                name = f"model.layers.{l}.router.{part}"
                if name not in routers:
                    raise LayoutError(f"{rfile}: missing tensor {name} (mod_config.json routes layer {l})")
                load.set(f"layers.{l}.router.{part}", routers.tensor(name), rfile, name)
    load.finish()
    return model.eval()
