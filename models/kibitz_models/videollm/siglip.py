"""The SigLIP vision tower (transformers' SiglipVisionTransformer) and the kibitz vision graph of a
VideoLLM-online package: uint8 frames -> 10 tokens per frame in the LLM's width.

Module names follow Hugging Face's, so the tower's state_dict keys are the checkpoint's names
without "vision_model." and the connector's are the adapter's without "base_model.model.".
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model.model import onnx_reshape
from .prompt import GRID
from .specs import SiglipSpec


def _act(name: str):
    # gelu_pytorch_tanh / gelu_new: the tanh approximation; gelu: exact erf
    return (lambda x: F.gelu(x, approximate="tanh")) if name in ("gelu_pytorch_tanh", "gelu_new") else F.gelu


class SiglipMLP(nn.Module):
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.act = _act(spec.act)
        self.fc1 = nn.Linear(spec.hidden, spec.intermediate)
        self.fc2 = nn.Linear(spec.intermediate, spec.hidden)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class SiglipAttention(nn.Module):
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.heads, self.head_dim = spec.heads, spec.hidden // spec.heads
        self.q_proj = nn.Linear(spec.hidden, spec.hidden)
        self.k_proj = nn.Linear(spec.hidden, spec.hidden)
        self.v_proj = nn.Linear(spec.hidden, spec.hidden)
        self.out_proj = nn.Linear(spec.hidden, spec.hidden)

    def forward(self, x):
        H, hd = self.heads, self.head_dim
        q = onnx_reshape(self.q_proj(x), 0, -1, H, hd).transpose(1, 2)     # (N, H, P, hd)
        k = onnx_reshape(self.k_proj(x), 0, -1, H, hd).transpose(1, 2)
        v = onnx_reshape(self.v_proj(x), 0, -1, H, hd).transpose(1, 2)
        att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(hd)), dim=-1)   # (N, H, P, P)
        o = torch.matmul(att, v).transpose(1, 2)                             # (N, P, H, hd)
        return self.out_proj(onnx_reshape(o, 0, -1, H * hd))                 # (N, P, C)


class SiglipEncoderLayer(nn.Module):
    """Pre-LN transformer layer."""
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(spec.hidden, eps=spec.eps)
        self.self_attn = SiglipAttention(spec)
        self.layer_norm2 = nn.LayerNorm(spec.hidden, eps=spec.eps)
        self.mlp = SiglipMLP(spec)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class SiglipEmbeddings(nn.Module):
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, spec.hidden, spec.patch_size, stride=spec.patch_size)
        self.position_embedding = nn.Embedding(spec.grid * spec.grid, spec.hidden)

    def forward(self, pixels):
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)         # (N, P, C), patches row-major
        return x + self.position_embedding.weight


class SiglipEncoder(nn.Module):
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.layers = nn.ModuleList([SiglipEncoderLayer(spec) for _ in range(spec.layers)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class SiglipHead(nn.Module):
    """Attention pooling: one learned probe attends over the patches (the pooler_output)."""
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.probe = nn.Parameter(torch.zeros(1, 1, spec.hidden))
        self.attention = nn.MultiheadAttention(spec.hidden, spec.heads, batch_first=True)
        self.layernorm = nn.LayerNorm(spec.hidden, eps=spec.eps)
        self.mlp = SiglipMLP(spec)

    def forward(self, x):
        probe = self.probe.expand(x.shape[0], -1, -1)                       # (N, 1, C)
        h = self.attention(probe, x, x, need_weights=False)[0]
        h = h + self.mlp(self.layernorm(h))
        return h[:, 0]                                                       # (N, C)


class SiglipTower(nn.Module):
    """pixels (N, 3, S, S) normalised -> (last_hidden_state (N, P, C), pooler_output (N, C))."""
    def __init__(self, spec: SiglipSpec):
        super().__init__()
        self.embeddings = SiglipEmbeddings(spec)
        self.encoder = SiglipEncoder(spec)
        self.post_layernorm = nn.LayerNorm(spec.hidden, eps=spec.eps)
        self.head = SiglipHead(spec)

    def forward(self, pixels):
        h = self.post_layernorm(self.encoder(self.embeddings(pixels)))
        return h, self.head(h)


def pool_grid(h: torch.Tensor, side: int, channels: int) -> torch.Tensor:
    """(N, side*side, C) patch tokens -> (N, 9, C): the mean of each of 3x3 equal blocks, row-major.
    That is adaptive_avg_pool2d(., (3, 3)) when side is divisible by 3 (SiglipSpec checks it); a
    reshape and a mean export to ONNX without the exporter having to know the grid's size."""
    gh, gw, C = GRID[0], GRID[1], channels   # ints from the config: the graph's reshapes stay constant
    x = onnx_reshape(h, -1, gh, side // gh, gw, side // gw, C)              # (N, 3, s/3, 3, s/3, C)
    return onnx_reshape(x.mean(dim=(2, 4)), -1, gh * gw, C)                  # (N, 9, C)


class VideoLLMVision(nn.Module):
    """vision.onnx of a VideoLLM-online package: uint8 frames (N, S, S, 3), already letterboxed by the
    runtime -> (N, 10, d_model): [SigLIP pooler, 3x3 pooled patches] through the connector
    (models/vision_live.py _siglip_vision_encode, models/live_llama/modeling_live_llama.py)."""

    def __init__(self, spec: SiglipSpec, d_model: int):
        super().__init__()
        self.spec = spec
        self.tower = SiglipTower(spec)
        # Linear -> GELU (transformers' GELUActivation: exact erf) -> Linear
        self.connector = nn.Sequential(nn.Linear(spec.hidden, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """Pre-connector frame tokens (N, 10, C)."""
        x = frames.permute(0, 3, 1, 2).float() / 255.0                      # (N, 3, S, S)
        x = (x - 0.5) / 0.5                                                  # SigLIP's mean = std = 0.5
        h, pooled = self.tower(x)
        return torch.cat([pooled.unsqueeze(1), pool_grid(h, self.spec.grid, self.spec.hidden)], dim=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.connector(self.tokens(frames))
