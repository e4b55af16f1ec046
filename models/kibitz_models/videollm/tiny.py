"""A tiny RANDOM VideoLLM-online checkpoint in the exact public layout, for tests (no real weights
can be downloaded here). Three sibling folders under --out:

  Meta-Llama-3-8B-Instruct/    config.json, generation_config.json, tokenizer.json,
                               tokenizer_config.json, two BF16 shards + model.safetensors.index.json
  videollm-online-8b-v1plus/   adapter_config.json + adapter_model.safetensors (PEFT names: LoRA A/B
                               on every target incl. lm_head, the connector via modules_to_save);
                               with --routers also routers.safetensors + mod_config.json
  siglip-large-patch16-384/    config.json (model_type siglip) + model.safetensors (HF Siglip names)

--preset llama3-8b writes the same layout at the real shapes (random values, the tiny tokenizer,
vocab_size 128256), one tensor at a time, for measuring a full-size package.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

import torch

from ..model.model import ConfigError
from .layout import ADAPTER_CONFIG, ADAPTER_WEIGHTS
from .lora import PREFIX, llama_linears
from .prompt import LORA_TARGETS
from .safetensors_io import Pending, write_safetensors, write_sharded
from .specs import MOD_CONFIG, ROUTERS_FILE
from .tiny_tokenizer import BOS, EOS, build_tokenizer, token_id, tokenizer_config

LLM_DIR, ADAPTER_DIR, VISION_DIR = "Meta-Llama-3-8B-Instruct", "videollm-online-8b-v1plus", "siglip-large-patch16-384"


@dataclass(frozen=True)
class TinySizes:
    hidden: int = 64
    intermediate: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    vocab: Optional[int] = None  # None: the tokenizer's size; larger: rows no token uses (a full-size table)
    max_positions: int = 2048
    lora_r: int = 8
    lora_alpha: int = 16
    vision_hidden: int = 32
    vision_intermediate: int = 64
    vision_layers: int = 2
    vision_heads: int = 2
    image_size: int = 96        # 6 x 6 patches of 16: the 3x3 pool takes exact 2x2 blocks
    patch_size: int = 16
    routed_from: int = 1        # with routers: layers routed_from, routed_from + routed_every, ...
    routed_every: int = 2
    keep_ratio: float = 0.2

    @property
    def routed_layers(self) -> List[int]:
        return list(range(self.routed_from, self.layers, self.routed_every))


# --preset: the tiny test checkpoint, or the real shapes (Llama-3-8B, SigLIP-large at 384, LoRA r 128,
# MoD routers on every layer from the third) with random values, for measuring a full-size package
PRESETS = {
    "tiny": TinySizes(),
    "llama3-8b": TinySizes(hidden=4096, intermediate=14336, layers=32, heads=32, kv_heads=8, vocab=128256,
                           max_positions=8192, lora_r=128, lora_alpha=256, vision_hidden=1024, vision_intermediate=4096,
                           vision_layers=24, vision_heads=16, image_size=384, patch_size=16, routed_from=2, routed_every=1),
}


class _Rand:
    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=self.g) * std

    def linear(self, out_f: int, in_f: int) -> torch.Tensor:
        return self.normal(out_f, in_f, std=1.0 / math.sqrt(in_f))   # keeps activations O(1) layer after layer

    def norm(self, d: int) -> torch.Tensor:
        return 1.0 + self.normal(d, std=0.1)


def _write_json(folder: str, name: str, obj: dict) -> None:
    with open(os.path.join(folder, name), "w") as f:
        json.dump(obj, f, indent=2)


def _llm(folder: str, s: TinySizes, rnd: _Rand) -> Dict[str, List[int]]:
    """Writes the LLM folder; returns the shape of every weight. Tensors are made one at a time as
    they are written (bf16), so a full-size checkpoint never sits in memory."""
    tok = build_tokenizer()
    vocab = s.vocab or len(tok["model"]["vocab"]) + len(tok["added_tokens"])
    bos, eos, eot = token_id(tok, BOS), token_id(tok, "<|end_of_text|>"), token_id(tok, EOS)
    _write_json(folder, "config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": s.hidden,
        "intermediate_size": s.intermediate, "num_attention_heads": s.heads, "num_key_value_heads": s.kv_heads,
        "num_hidden_layers": s.layers, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "rope_scaling": None,
        "vocab_size": vocab, "max_position_embeddings": s.max_positions, "tie_word_embeddings": False,
        "hidden_act": "silu", "attention_bias": False, "attention_dropout": 0.0, "initializer_range": 0.02,
        "pretraining_tp": 1, "use_cache": True, "bos_token_id": bos, "eos_token_id": eot, "torch_dtype": "bfloat16",
        "transformers_version": "4.40.0.dev0"})
    _write_json(folder, "generation_config.json", {"bos_token_id": bos, "eos_token_id": [eos, eot], "do_sample": True,
                                                   "temperature": 0.6, "top_p": 0.9, "max_length": 4096,
                                                   "transformers_version": "4.40.0.dev0"})
    _write_json(folder, "tokenizer.json", tok)
    _write_json(folder, "tokenizer_config.json", tokenizer_config(tok))
    d, kvd = s.hidden, s.kv_heads * (s.hidden // s.heads)

    def bf16(shape, make) -> Pending:
        return Pending("BF16", list(shape), lambda: make().bfloat16())
    w: Dict[str, Pending] = {"model.embed_tokens.weight": bf16((vocab, d), lambda: rnd.normal(vocab, d))}
    shapes = {"self_attn.q_proj": (d, d), "self_attn.k_proj": (kvd, d), "self_attn.v_proj": (kvd, d),
              "self_attn.o_proj": (d, d), "mlp.gate_proj": (s.intermediate, d), "mlp.up_proj": (s.intermediate, d),
              "mlp.down_proj": (d, s.intermediate)}
    for i in range(s.layers):
        for name, (o, n) in shapes.items():
            w[f"model.layers.{i}.{name}.weight"] = bf16((o, n), lambda o=o, n=n: rnd.linear(o, n))
        w[f"model.layers.{i}.input_layernorm.weight"] = bf16((d,), lambda: rnd.norm(d))
        w[f"model.layers.{i}.post_attention_layernorm.weight"] = bf16((d,), lambda: rnd.norm(d))
    w["model.norm.weight"] = bf16((d,), lambda: rnd.norm(d))
    w["lm_head.weight"] = bf16((vocab, d), lambda: rnd.linear(vocab, d))
    names = list(w)
    half = names.index(f"model.layers.{s.layers // 2}.self_attn.q_proj.weight")
    write_sharded(folder, [{k: w[k] for k in names[:half]}, {k: w[k] for k in names[half:]}])
    return {k: v.shape for k, v in w.items()}


def _adapter(folder: str, s: TinySizes, rnd: _Rand, base: Dict[str, List[int]], routers: bool) -> None:
    _write_json(folder, ADAPTER_CONFIG, {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "meta-llama/Meta-Llama-3-8B-Instruct",
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": s.lora_alpha,
        "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": ["connector"], "peft_type": "LORA", "r": s.lora_r, "rank_pattern": {}, "revision": None,
        "target_modules": LORA_TARGETS, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False})
    t: Dict[str, torch.Tensor] = {}
    for module in llama_linears(s.layers):
        out_f, in_f = base[module + ".weight"]
        t[f"{PREFIX}{module}.lora_A.weight"] = rnd.linear(s.lora_r, in_f)
        # B is zero when PEFT starts training; a trained one is not, and a zero B would not test the merge
        t[f"{PREFIX}{module}.lora_B.weight"] = rnd.normal(out_f, s.lora_r, std=0.2 / math.sqrt(s.lora_r))
    t[PREFIX + "connector.0.weight"] = rnd.linear(s.hidden, s.vision_hidden)
    t[PREFIX + "connector.0.bias"] = rnd.normal(s.hidden, std=0.02)
    t[PREFIX + "connector.2.weight"] = rnd.linear(s.hidden, s.hidden)
    t[PREFIX + "connector.2.bias"] = rnd.normal(s.hidden, std=0.02)
    write_safetensors(os.path.join(folder, ADAPTER_WEIGHTS), t, {"format": "pt"})
    if routers:
        r = {}
        for l in s.routed_layers:
            r[f"model.layers.{l}.router.weight"] = rnd.linear(1, s.hidden)
            r[f"model.layers.{l}.router.bias"] = rnd.normal(1, std=0.1)
        write_safetensors(os.path.join(folder, ROUTERS_FILE), r, {"format": "pt"})
        _write_json(folder, MOD_CONFIG, {"keep_ratio": s.keep_ratio, "routed_layers": list(s.routed_layers)})


def _siglip(folder: str, s: TinySizes, rnd: _Rand) -> None:
    C, I = s.vision_hidden, s.vision_intermediate
    _write_json(folder, "config.json", {
        "architectures": ["SiglipModel"], "model_type": "siglip", "initializer_factor": 1.0, "torch_dtype": "float32",
        "text_config": {"hidden_size": C, "intermediate_size": I, "model_type": "siglip_text_model",
                        "num_attention_heads": s.vision_heads, "num_hidden_layers": 1, "vocab_size": 64,
                        "max_position_embeddings": 16},
        "vision_config": {"hidden_size": C, "intermediate_size": I, "model_type": "siglip_vision_model",
                          "num_attention_heads": s.vision_heads, "num_hidden_layers": s.vision_layers,
                          "image_size": s.image_size, "patch_size": s.patch_size, "layer_norm_eps": 1e-6,
                          "hidden_act": "gelu_pytorch_tanh", "num_channels": 3},
        "transformers_version": "4.37.0.dev0"})
    p = (s.image_size // s.patch_size) ** 2
    v = "vision_model."
    t: Dict[str, torch.Tensor] = {
        "logit_bias": rnd.normal(1), "logit_scale": rnd.normal(1),
        "text_model.embeddings.token_embedding.weight": rnd.normal(64, C, std=0.02),
        "text_model.final_layer_norm.weight": rnd.norm(C), "text_model.final_layer_norm.bias": rnd.normal(C, std=0.02),
        v + "embeddings.patch_embedding.weight": rnd.normal(C, 3, s.patch_size, s.patch_size, std=1.0 / math.sqrt(3 * s.patch_size ** 2)),
        v + "embeddings.patch_embedding.bias": rnd.normal(C, std=0.02),
        v + "embeddings.position_embedding.weight": rnd.normal(p, C, std=0.1),
    }

    def linear(prefix: str, o: int, n: int) -> None:
        t[prefix + ".weight"] = rnd.linear(o, n)
        t[prefix + ".bias"] = rnd.normal(o, std=0.02)

    def layer_norm(prefix: str) -> None:
        t[prefix + ".weight"] = rnd.norm(C)
        t[prefix + ".bias"] = rnd.normal(C, std=0.05)
    for i in range(s.vision_layers):
        pre = f"{v}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(pre + "self_attn." + proj, C, C)
        layer_norm(pre + "layer_norm1")
        layer_norm(pre + "layer_norm2")
        linear(pre + "mlp.fc1", I, C)
        linear(pre + "mlp.fc2", C, I)
    layer_norm(v + "post_layernorm")
    t[v + "head.probe"] = rnd.normal(1, 1, C)
    t[v + "head.attention.in_proj_weight"] = rnd.linear(3 * C, C)
    t[v + "head.attention.in_proj_bias"] = rnd.normal(3 * C, std=0.02)
    linear(v + "head.attention.out_proj", C, C)
    layer_norm(v + "head.layernorm")
    linear(v + "head.mlp.fc1", I, C)
    linear(v + "head.mlp.fc2", C, I)
    write_safetensors(os.path.join(folder, "model.safetensors"), t, {"format": "pt"})


def write_tiny(out: str, seed: int = 0, routers: bool = False, sizes: TinySizes = TinySizes(),
               layers: Optional[int] = None) -> Dict[str, str]:
    """Writes the three folders under `out`; returns their paths by role. `layers`: a shallower (or
    deeper) model of the same width than `sizes` says."""
    if layers is not None:
        sizes = replace(sizes, layers=layers)
    if routers and not sizes.routed_layers:
        raise ConfigError(f"--routers with {sizes.layers} layers: none to route (routers start at layer {sizes.routed_from})")
    rnd = _Rand(seed)
    paths = {"llm": os.path.join(out, LLM_DIR), "adapter": os.path.join(out, ADAPTER_DIR), "vision": os.path.join(out, VISION_DIR)}
    for p in paths.values():
        os.makedirs(p, exist_ok=True)
    base = _llm(paths["llm"], sizes, rnd)
    _adapter(paths["adapter"], sizes, rnd, base, routers)
    _siglip(paths["vision"], sizes, rnd)
    return paths
