"""An independent PyTorch reference for imported VideoLLM-online packages.

It follows the Hugging Face Llama definition (RMSNorm, rotate-half RoPE with the config's theta,
repeat_kv GQA, SiLU MLP) written out here, NOT model.py (which is what it checks), applies the LoRA
unmerged (x A^T B^T * alpha/r added to each target's output) and reads every weight straight from
the checkpoint folders. It replays a trace of what the runtime fed:

  {"steps": [{"kind": "text", "ids": [..], "kept": [serials]},
             {"kind": "frame", "prefix": [id], "width": W, "height": H, "rgb_b64": "..", "kept": [..]}]}

Every fed token gets a serial in feeding order (a frame's prefix, then its 10 vision tokens);
`kept` lists the serials still cached before the step. A step's new tokens sit at positions
len(kept) .. len(kept)+T-1 and attend to the kept tokens numbered by rank (StreamingLLM: the cache
keeps keys before RoPE and rotates them at their current rank) and causally to each other. In a
routed (MoD) layer a frame's prefix always goes through the layer (weight 1), and so does the
frame's last vision token (mod_config.json "keep_last", absent = true), in one of the k slots; the
other vision tokens compete for the rest: the top-(k - 1) (top-k without keep_last) by router score
go through, scaled by sigmoid(score), and the rest pass unchanged and leave no K/V in that layer.
Output: the logits after the last token of each step.
The vision path is videollm/siglip.py (one definition of the vision tower).
"""
from __future__ import annotations

import base64
import json
import math
import os
from typing import Dict, List, Optional

import numpy as np
import torch

from .layout import find_layout
from .prompt import TOKENS_PER_FRAME
from .safetensors_io import SafetensorsFile, ShardedCheckpoint
from .specs import ROUTERS_FILE, read_checkpoint
from .weights import load_vision, open_adapter

PROJ = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def rms_norm(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope(x: torch.Tensor, pos: torch.Tensor, theta: float) -> torch.Tensor:
    """x (H, T, hd) at positions pos (T,), as LlamaRotaryEmbedding + apply_rotary_pos_emb."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[:, None] * inv_freq[None, :]                        # (T, hd/2)
    emb = torch.cat((freqs, freqs), dim=-1)                                  # (T, hd)
    return x * emb.cos() + rotate_half(x) * emb.sin()


class Reference:
    def __init__(self, checkpoint: str, llm: Optional[str] = None, vision: Optional[str] = None, device: str = "cpu"):
        ck = read_checkpoint(find_layout(checkpoint, llm, vision))
        self.ck, self.dev = ck, torch.device(device)
        spec = ck.llama
        files = ShardedCheckpoint(ck.layout.llm)

        def get(name: str) -> torch.Tensor:
            if name == "lm_head.weight" and name not in files and spec.tie_embeddings:
                name = "model.embed_tokens.weight"                         # tied: the embedding table
            return files.tensor(name).to(self.dev)
        self.w: Dict[str, torch.Tensor] = {}
        for i in range(spec.layers):
            for p in PROJ + ("input_layernorm", "post_attention_layernorm"):
                self.w[f"model.layers.{i}.{p}.weight"] = get(f"model.layers.{i}.{p}.weight")
        for n in ("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"):
            self.w[n] = get(n)
        adapter = SafetensorsFile(os.path.join(ck.layout.adapter, "adapter_model.safetensors"))
        self.scale = ck.adapter.scale
        self.lora: Dict[str, tuple] = {}
        checked = open_adapter(ck)   # the same refusals as the importer; the pairs are read here by name
        for module in checked.targets():
            a, b = (adapter.tensor(checked.pairs[module][ab]).to(self.dev) for ab in "AB")
            self.lora[module] = (a, b)
        self.routers: Dict[int, tuple] = {}
        if ck.mod:
            r = SafetensorsFile(os.path.join(ck.layout.adapter, ROUTERS_FILE))
            for l in ck.mod.routed_layers:
                self.routers[l] = (r.tensor(f"model.layers.{l}.router.weight").to(self.dev),
                                   r.tensor(f"model.layers.{l}.router.bias").to(self.dev))
        self.keep = max(1, math.ceil(ck.mod.keep_ratio * TOKENS_PER_FRAME - 1e-9)) if ck.mod else TOKENS_PER_FRAME
        self.keep_last = bool(ck.mod and ck.mod.keep_last)
        self.vision = load_vision(ck, checked).to(self.dev)
        self.reset()

    def reset(self) -> None:
        self.serial = 0
        self.cache: List[Dict[int, tuple]] = [dict() for _ in range(self.ck.llama.layers)]   # serial -> (k before RoPE, v)

    # ------------------------------------------------------------------ the decoder, written out
    def linear(self, module: str, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.w[module + ".weight"].T
        if module in self.lora:
            a, b = self.lora[module]
            y = y + (x @ a.T) @ b.T * self.scale                             # unmerged LoRA
        return y

    def block_delta(self, l: int, x, pos, past_k, past_v, past_pos):
        """The layer's residual update for tokens x (T, d) at pos (T,), and their K (before RoPE), V."""
        spec = self.ck.llama
        H, KH, hd = spec.heads, spec.kv_heads, spec.head_dim
        pre = f"model.layers.{l}."
        h = rms_norm(x, self.w[pre + "input_layernorm.weight"], spec.norm_eps)
        T = x.shape[0]
        q = self.linear(pre + "self_attn.q_proj", h).view(T, H, hd).transpose(0, 1)   # (H, T, hd)
        k = self.linear(pre + "self_attn.k_proj", h).view(T, KH, hd).transpose(0, 1)  # (KH, T, hd)
        v = self.linear(pre + "self_attn.v_proj", h).view(T, KH, hd).transpose(0, 1)
        keys = torch.cat([past_k, k], dim=1)                                 # (KH, S, hd) before RoPE
        vals = torch.cat([past_v, v], dim=1)
        kpos = torch.cat([past_pos, pos])
        qr, kr = rope(q, pos, spec.rope_theta), rope(keys, kpos, spec.rope_theta)
        rep = H // KH                                                        # repeat_kv
        kr, vr = kr.repeat_interleave(rep, dim=0), vals.repeat_interleave(rep, dim=0)   # (H, S, hd)
        att = qr @ kr.transpose(1, 2) / math.sqrt(hd)                        # (H, T, S)
        att = att.masked_fill(kpos[None, None, :] > pos[None, :, None], float("-inf"))
        o = (torch.softmax(att.float(), dim=-1) @ vr).transpose(0, 1).reshape(T, H * hd)
        a = self.linear(pre + "self_attn.o_proj", o)
        h2 = rms_norm(x + a, self.w[pre + "post_attention_layernorm.weight"], spec.norm_eps)
        m = self.linear(pre + "mlp.down_proj", torch.nn.functional.silu(self.linear(pre + "mlp.gate_proj", h2)) * self.linear(pre + "mlp.up_proj", h2))
        return a + m, k.transpose(0, 1), v.transpose(0, 1)                   # (T, d), (T, KH, hd) x2

    @torch.no_grad()
    def step(self, kept: List[int], embeds: torch.Tensor, n_prefix: Optional[int]) -> torch.Tensor:
        """Feeds embeds (T, d); `n_prefix`: None for a text step, else the frame's prefix count.
        Returns the logits after the last token."""
        spec = self.ck.llama
        T = embeds.shape[0]
        serials = list(range(self.serial, self.serial + T))
        self.serial += T
        rank = {s: i for i, s in enumerate(kept)}
        if len(rank) != len(kept) or any(s >= serials[0] for s in kept):
            raise ValueError(f"kept {kept} must be distinct serials fed before this step (< {serials[0]})")
        pos = torch.arange(len(kept), len(kept) + T, device=self.dev)
        x = embeds.to(self.dev).clone()
        for l in range(spec.layers):
            cache = self.cache[l]
            past = [s for s in kept if s in cache]
            if past:
                pk = torch.stack([cache[s][0] for s in past], dim=1)         # (KH, P, hd)
                pv = torch.stack([cache[s][1] for s in past], dim=1)
            else:
                pk = pv = torch.zeros(spec.kv_heads, 0, spec.head_dim, device=self.dev)
            ppos = torch.tensor([rank[s] for s in past], dtype=torch.long, device=self.dev)
            active, weight = list(range(T)), torch.ones(T, device=self.dev)
            if n_prefix is not None and l in self.routers:
                wr, br = self.routers[l]
                vis = list(range(n_prefix, T))
                score = (x[vis] @ wr.T + br).squeeze(-1)                       # (n_vision,)
                n_keep = min(self.keep, len(vis))
                forced = [vis[-1]] if self.keep_last else []                   # the frame's last token: always, weight 1
                free = vis[:-1] if self.keep_last else vis
                top = torch.topk(score[: len(free)], n_keep - len(forced)).indices.tolist()
                chosen = sorted(forced + [free[i] for i in top])
                active = list(range(n_prefix)) + chosen
                weight = torch.stack([torch.ones((), device=self.dev) if c in forced else torch.sigmoid(score[c - n_prefix])
                                      for c in chosen]) if chosen else torch.ones(0, device=self.dev)
                weight = torch.cat([torch.ones(n_prefix, device=self.dev), weight])
            delta, k, v = self.block_delta(l, x[active], pos[active], pk, pv, ppos)
            x[active] = x[active] + weight[:, None] * delta
            keep = set(kept)
            self.cache[l] = {s: e for s, e in cache.items() if s in keep}      # the runtime evicted the rest
            for j, i in enumerate(active):
                self.cache[l][serials[i]] = (k[j], v[j])
        h = rms_norm(x[-1], self.w["model.norm.weight"], spec.norm_eps)
        return self.linear("lm_head", h)

    def embed(self, ids: List[int]) -> torch.Tensor:
        return self.w["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long, device=self.dev)]

    @torch.no_grad()
    def frame_embeds(self, step: dict) -> torch.Tensor:
        size = self.ck.siglip.image_size
        if (step["width"], step["height"]) != (size, size):
            raise ValueError(f"frame {step['width']}x{step['height']}: the package's frames are {size}x{size} (letterboxed by the runtime)")
        raw = np.frombuffer(base64.b64decode(step["rgb_b64"]), dtype=np.uint8)
        frame = torch.from_numpy(raw.copy()).view(1, size, size, 3).to(self.dev)
        return self.vision(frame)[0]                                          # (10, d)

    def replay(self, trace: dict) -> List[torch.Tensor]:
        self.reset()
        out = []
        for step in trace["steps"]:
            if step["kind"] == "text":
                out.append(self.step(step["kept"], self.embed(step["ids"]), None))
            elif step["kind"] == "frame":
                prefix = list(step.get("prefix", []))
                emb = torch.cat([self.embed(prefix), self.frame_embeds(step)]) if prefix else self.frame_embeds(step)
                out.append(self.step(step["kept"], emb, len(prefix)))
            else:
                raise ValueError(f"trace step kind {step['kind']!r}: expected text or frame")
        return out


def run_reference(checkpoint: str, trace_path: str, out_path: str, llm: Optional[str] = None,
                  vision: Optional[str] = None, device: str = "cpu") -> int:
    with open(trace_path) as f:
        trace = json.load(f)
    logits = Reference(checkpoint, llm, vision, device).replay(trace)
    with open(out_path, "w") as f:
        json.dump({"logits": [l.float().cpu().tolist() for l in logits]}, f)
    return len(logits)
