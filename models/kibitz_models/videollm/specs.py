"""The three configs of a VideoLLM-online checkpoint, read and checked: anything the importer does
not reproduce exactly is refused with one line naming the file, the key and what to do."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Union

from .errors import LayoutError
from .layout import ADAPTER_CONFIG, SIGLIP_TYPES, Layout, not_llama, not_siglip, read_json, where
from .prompt import FRAME_SEPARATOR, GRID

MOD_CONFIG = "mod_config.json"
ROUTERS_FILE = "routers.safetensors"


def _need(cfg: dict, key: str, file: str):
    if key not in cfg or cfg[key] is None:
        raise LayoutError(f"{file}: no {key}")
    return cfg[key]


@dataclass(frozen=True)
class LlamaSpec:
    """config.json of the base LLM (transformers' LlamaConfig; absent keys take its defaults)."""
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    layers: int
    vocab: int
    max_positions: int
    norm_eps: float
    rope_theta: float
    tie_embeddings: bool
    bos_id: Optional[int]
    eos_id: Optional[int]

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @staticmethod
    def read(folder: str) -> "LlamaSpec":
        file = where(folder, "config.json")
        c = read_json(folder, "config.json")
        if c.get("model_type") != "llama":
            raise not_llama(folder)
        arch = c.get("architectures") or ["LlamaForCausalLM"]
        if "LlamaForCausalLM" not in arch:
            raise LayoutError(f"{file}: architectures {arch}: expected LlamaForCausalLM")
        if c.get("rope_scaling") is not None:
            raise LayoutError(f"{file}: rope_scaling {c['rope_scaling']}: only Llama-3 without rope scaling is supported "
                              "(Meta-Llama-3-8B-Instruct has rope_scaling null)")
        for key, want in (("hidden_act", "silu"), ("attention_bias", False), ("mlp_bias", False)):
            if key in c and c[key] != want:
                raise LayoutError(f"{file}: {key} {c[key]!r}: only {want!r} is supported (the Llama-3 decoder)")
        hidden, heads = _need(c, "hidden_size", file), _need(c, "num_attention_heads", file)
        kv = c.get("num_key_value_heads") or heads
        if hidden % heads or heads % kv:
            raise LayoutError(f"{file}: hidden_size {hidden}, num_attention_heads {heads}, num_key_value_heads {kv} do not divide")
        if c.get("head_dim") not in (None, hidden // heads):
            raise LayoutError(f"{file}: head_dim {c['head_dim']}: only hidden_size / num_attention_heads = {hidden // heads} is supported")

        def first(v):
            return v[0] if isinstance(v, list) and v else v
        return LlamaSpec(hidden=hidden, intermediate=_need(c, "intermediate_size", file), heads=heads, kv_heads=kv,
                         layers=_need(c, "num_hidden_layers", file), vocab=_need(c, "vocab_size", file),
                         max_positions=int(c.get("max_position_embeddings", 2048)), norm_eps=float(c.get("rms_norm_eps", 1e-6)),
                         rope_theta=float(c.get("rope_theta", 10000.0)), tie_embeddings=bool(c.get("tie_word_embeddings", False)),
                         bos_id=first(c.get("bos_token_id")), eos_id=first(c.get("eos_token_id")))


@dataclass(frozen=True)
class AdapterSpec:
    """adapter_config.json (PEFT LoraConfig)."""
    r: int
    alpha: float
    targets: Union[str, List[str]]
    rslora: bool
    base_model: str

    @property
    def scale(self) -> float:
        """What PEFT multiplies B @ A by: alpha / r (alpha / sqrt(r) for rank-stabilised LoRA)."""
        return self.alpha / (math.sqrt(self.r) if self.rslora else self.r)

    def targets_module(self, name: str) -> bool:
        """PEFT's rule: a string is a regex the whole module name must match; a list matches by name suffix."""
        if isinstance(self.targets, str):
            return re.fullmatch(self.targets, name) is not None
        return any(name == t or name.endswith("." + t) for t in self.targets)

    @staticmethod
    def read(folder: str) -> "AdapterSpec":
        file = where(folder, ADAPTER_CONFIG)
        c = read_json(folder, ADAPTER_CONFIG)
        if c.get("peft_type") != "LORA":
            raise LayoutError(f"{file}: peft_type {c.get('peft_type')!r}: only LoRA adapters (peft_type LORA) are supported")
        if c.get("use_dora"):
            raise LayoutError(f"{file}: use_dora is true: DoRA adapters are not supported; merge it with PEFT first")
        if c.get("task_type", "CAUSAL_LM") != "CAUSAL_LM":
            raise LayoutError(f"{file}: task_type {c['task_type']!r}: only CAUSAL_LM adapters are supported")
        if c.get("bias", "none") != "none":
            raise LayoutError(f"{file}: bias {c['bias']!r}: LoRA bias terms are not supported; use an adapter trained with bias 'none' or merge it with PEFT first")
        if c.get("lora_bias"):
            raise LayoutError(f"{file}: lora_bias is true: LoRA bias terms are not supported; merge it with PEFT first")
        if c.get("fan_in_fan_out"):
            raise LayoutError(f"{file}: fan_in_fan_out is true: that is for GPT-2 style Conv1D layers; a Llama adapter has false")
        for key in ("rank_pattern", "alpha_pattern"):
            if c.get(key):
                raise LayoutError(f"{file}: {key} {c[key]}: per-module ranks/alphas are not supported; merge it with PEFT first")
        if c.get("layers_to_transform") is not None:
            raise LayoutError(f"{file}: layers_to_transform {c['layers_to_transform']}: only adapters on every layer are supported")
        extra = [m for m in (c.get("modules_to_save") or []) if m != "connector"]
        if extra:
            raise LayoutError(f"{file}: modules_to_save {c['modules_to_save']}: only the connector may be saved whole (VideoLLM-online's finetune_modules)")
        r, alpha, targets = _need(c, "r", file), _need(c, "lora_alpha", file), _need(c, "target_modules", file)
        if not isinstance(r, int) or r <= 0:
            raise LayoutError(f"{file}: r {r!r}: must be a positive integer")
        return AdapterSpec(r=r, alpha=float(alpha), targets=targets, rslora=bool(c.get("use_rslora", False)),
                           base_model=str(c.get("base_model_name_or_path", "")))


@dataclass(frozen=True)
class SiglipSpec:
    """The vision part of the SigLIP config.json (transformers' SiglipVisionConfig defaults)."""
    hidden: int
    intermediate: int
    layers: int
    heads: int
    image_size: int
    patch_size: int
    eps: float
    act: str

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size   # patches per side

    @staticmethod
    def read(folder: str) -> "SiglipSpec":
        file = where(folder, "config.json")
        c = read_json(folder, "config.json")
        if c.get("model_type") not in SIGLIP_TYPES:
            raise not_siglip(folder)
        v = (c.get("vision_config") or {}) if c["model_type"] == "siglip" else c   # a full SiglipModel, or its vision half
        if v.get("model_type", "siglip_vision_model") != "siglip_vision_model":
            raise LayoutError(f"{file}: vision_config.model_type {v['model_type']!r}: the vision tower must be SigLIP")
        if v.get("vision_use_head", True) is False:
            raise LayoutError(f"{file}: vision_use_head is false: VideoLLM-online's frame token 0 is SigLIP's attention-pool head output")
        if v.get("num_channels", 3) != 3:
            raise LayoutError(f"{file}: num_channels {v['num_channels']}: frames are RGB (3)")
        act = v.get("hidden_act", "gelu_pytorch_tanh")
        if act not in ("gelu_pytorch_tanh", "gelu_new", "gelu"):
            raise LayoutError(f"{file}: hidden_act {act!r}: only gelu_pytorch_tanh (SigLIP's) or gelu are supported")
        spec = SiglipSpec(hidden=v.get("hidden_size", 768), intermediate=v.get("intermediate_size", 3072),
                          layers=v.get("num_hidden_layers", 12), heads=v.get("num_attention_heads", 12),
                          image_size=v.get("image_size", 224), patch_size=v.get("patch_size", 16),
                          eps=float(v.get("layer_norm_eps", 1e-6)), act=act)
        if spec.image_size % spec.patch_size:
            raise LayoutError(f"{file}: image_size {spec.image_size} is not divisible by patch_size {spec.patch_size}")
        if spec.grid % GRID[0] or spec.grid % GRID[1]:
            raise LayoutError(f"{file}: image_size {spec.image_size} / patch_size {spec.patch_size} = {spec.grid} patches per side is not divisible by "
                              f"{GRID[0]}: the 3x3 pooled frame tokens need whole blocks")
        if spec.hidden % spec.heads:
            raise LayoutError(f"{file}: hidden_size {spec.hidden} is not divisible by num_attention_heads {spec.heads}")
        return spec


@dataclass(frozen=True)
class ModSpec:
    """mod_config.json next to routers.safetensors in the adapter folder (our own layout for
    Mixture-of-Depths checkpoints: models/CONTRACT.md). `keep_last` ("keep_last", absent = true): a
    routed layer always keeps each frame's last vision token (ModelConfig.route_keep_last)."""
    keep_ratio: float
    routed_layers: List[int]
    keep_last: bool = True

    @staticmethod
    def read(adapter: str, n_layers: int) -> Optional["ModSpec"]:
        c = read_json(adapter, MOD_CONFIG, required=False)
        if c is None:
            if os.path.isfile(os.path.join(adapter, ROUTERS_FILE)):
                raise LayoutError(f"{where(adapter, MOD_CONFIG)}: file not found, but {ROUTERS_FILE} is there: write it "
                                  '({"keep_ratio": 0.2, "routed_layers": [...]})')
            return None
        file = where(adapter, MOD_CONFIG)
        r, layers = _need(c, "keep_ratio", file), _need(c, "routed_layers", file)
        if not isinstance(r, (int, float)) or not 0 < r < 1:
            raise LayoutError(f"{file}: keep_ratio {r!r}: must be in (0, 1)")
        if not isinstance(layers, list) or not layers or any(not isinstance(l, int) for l in layers):
            raise LayoutError(f"{file}: routed_layers {layers!r}: must be a non-empty list of layer numbers")
        if 0 in layers:
            raise LayoutError(f"{file}: routed_layers {layers}: layer 0 is never routed (every token needs its first layer)")
        if any(l >= n_layers or l < 0 for l in layers) or len(set(layers)) != len(layers):
            raise LayoutError(f"{file}: routed_layers {layers}: must be distinct layers in 1..{n_layers - 1}")
        keep_last = c.get("keep_last", True)
        if not isinstance(keep_last, bool):
            raise LayoutError(f"{file}: keep_last {keep_last!r}: must be true or false (absent = true: routed layers always keep "
                              "each frame's last vision token)")
        return ModSpec(keep_ratio=float(r), routed_layers=sorted(layers), keep_last=keep_last)


@dataclass(frozen=True)
class TokenSpec:
    bos: int
    eos: int
    silent: int


def read_tokens(folder: str, llama: LlamaSpec) -> TokenSpec:
    """bos/eos: the texts of tokenizer_config.json, their ids from tokenizer.json (config.json's ids
    without a tokenizer_config.json); silent: the vocab id of the frame separator ","."""
    tok = read_json(folder, "tokenizer.json")
    tfile = where(folder, "tokenizer.json")
    try:
        vocab = tok["model"]["vocab"]
        added = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    except (KeyError, TypeError):
        raise LayoutError(f"{tfile}: no model.vocab: expected a Hugging Face tokenizers file") from None
    tcfg = read_json(folder, "tokenizer_config.json", required=False)
    ids = {}
    for key, fallback in (("bos_token", llama.bos_id), ("eos_token", llama.eos_id)):
        text = (tcfg or {}).get(key)
        if isinstance(text, dict):
            text = text.get("content")
        if text is None:
            if fallback is None:
                raise LayoutError(f"{where(folder, 'tokenizer_config.json')}: no {key}, and config.json has no {key}_id")
            ids[key] = int(fallback)
            continue
        if text not in added and text not in vocab:
            raise LayoutError(f"{tfile}: no token {text!r} ({key} of tokenizer_config.json)")
        ids[key] = added.get(text, vocab.get(text))
    if FRAME_SEPARATOR not in vocab:
        raise LayoutError(f"{tfile}: {FRAME_SEPARATOR!r} is not one vocab token: VideoLLM-online's frame separator must be a single token")
    spec = TokenSpec(bos=ids["bos_token"], eos=ids["eos_token"], silent=vocab[FRAME_SEPARATOR])
    top = max([*vocab.values(), *added.values()])
    if top >= llama.vocab:
        raise LayoutError(f"{tfile}: token id {top} is outside config.json vocab_size {llama.vocab}")
    return spec


@dataclass(frozen=True)
class Checkpoint:
    layout: Layout
    llama: LlamaSpec
    adapter: AdapterSpec
    siglip: SiglipSpec
    mod: Optional[ModSpec]
    tokens: TokenSpec


def read_checkpoint(layout: Layout) -> Checkpoint:
    llama = LlamaSpec.read(layout.llm)
    return Checkpoint(layout=layout, llama=llama, adapter=AdapterSpec.read(layout.adapter), siglip=SiglipSpec.read(layout.vision),
                      mod=ModSpec.read(layout.adapter, llama.layers), tokens=read_tokens(layout.llm, llama))
