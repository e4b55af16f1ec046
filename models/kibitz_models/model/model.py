"""The kibitz video-LLM: a small conv vision encoder + a Llama-style decoder whose routed layers
apply Mixture-of-Depths (VideoLLM-MoD) to the vision tokens of each frame.

One file on purpose. The KV cache is explicit (inputs/outputs, with an int64 position and a
validity flag per entry), so the same code trains on whole sequences and exports one-frame / text
steps to ONNX. Exported graphs keep past keys rotated at their positions, so a step rotates only
its own tokens (`past_rotated`, models/CONTRACT.md "Positions"); training and the evaluator keep
them before RoPE and rotate the whole past each step, which gives the same attention. Attention
masks are position based: a query attends to every valid key whose position is <= its own, which
is what makes StreamingLLM-style renumbering of an evicted cache possible without re-encoding
anything.
"""
from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import dataclass, field, asdict
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConfigError(ValueError):
    """A config whose dimensions do not fit together."""


@dataclass
class ModelConfig:
    # frames (what the runtime feeds: letterboxed RGB24, uint8)
    frame_width: int = 256
    frame_height: int = 144
    # vision encoder: stem (k=stride=stem_stride) then two stride-2 convs, then a learned
    # strided conv down to the token grid
    vision_channels: Tuple[int, int, int] = (32, 64, 96)
    stem_stride: int = 4
    grid_h: int = 3
    grid_w: int = 8
    # decoder
    vocab_size: int = 512
    d_model: int = 192
    n_layers: int = 6
    n_heads: int = 6
    n_kv_heads: int = 2
    mlp_hidden: int = 512
    rope_theta: float = 10000.0
    max_positions: int = 1024
    norm_eps: float = 1e-5
    # Mixture-of-Depths: layers whose vision tokens are routed, and the keep ratio r
    routed_layers: List[int] = field(default_factory=lambda: [1, 3, 5])
    keep_ratio: float = 0.2
    # Stream clock: each frame's vision tokens get a learned embedding of its stream time in whole
    # seconds, one table row per decimal digit (ones, tens, ...), so the model can say *when*
    # something happened ("at 1 ##2 seconds") by copying digits. 0 = no clock (older packages).
    time_digits: int = 0
    # Text tokens carry the clock too: each text token fed after a frame gets that frame's clock
    # (what was said, and when a question was asked, are stamped with the time), so "when was X"
    # reads the time off the line that said X. Needs time_digits.
    clock_text: bool = False
    # What the model was taught (games/catalogue.py): "demo" (the synthetic world) or a recorded game such as
    # "chess"; it picks the tokenizer's extra words, the questions and how they are answered.
    game: str = "demo"
    # Line stamps: every commentary line is fed after the stream time it was said at, as text
    # (dataset.STAMP_TEXT, "at 12 seconds"; the runtime feeds it, the model never writes it), so
    # "when was X" is answered by copying the stamp in front of the line that said X.
    line_stamp: bool = False
    # The part of the source frame the model looks at, [x, y, w, h] in fractions of the frame,
    # cropped and stretched to frame_width x frame_height (render.frame_filter; the manifest's
    # frame.view). None: the whole frame, letterboxed. A game whose screen has a fixed layout
    # (chess: the xboard window) looks only at what matters, at more pixels per square.
    view: Optional[Tuple[float, float, float, float]] = None
    # Text tokens a frame step may carry in front of the frame's vision tokens (VideoLLM-online
    # feeds its interval token "," right before every frame that follows a frame, in the same
    # decoder_frame step). 0 = none (every kibitz package). When > 0, a step of n tokens holds
    # max(n - V, 0) text tokens first; routed layers always keep them (weight 1) and route only
    # the vision tokens (models/CONTRACT.md "General packages").
    frame_prefix: int = 0
    # With frame_prefix: routed layers also always keep each frame's LAST vision token (weight 1),
    # the one the speak/silent decision is read after; it takes one of the kept_per_frame slots, so
    # the router's top-k picks the other min(k, n - p) - 1 and T_l does not change. Routers see a
    # token's content, not its place, and could not learn to keep it. False: every kibitz package.
    route_keep_last: bool = False

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def tokens_per_frame(self) -> int:
        return 1 + self.grid_h * self.grid_w  # summary token first, then the grid row-major

    @property
    def feature_hw(self) -> Tuple[int, int]:
        h, w = self.frame_height // self.stem_stride, self.frame_width // self.stem_stride
        for _ in range(2):
            h, w = (h + 1) // 2, (w + 1) // 2
        return h, w

    @property
    def kept_per_frame(self) -> int:
        return max(1, math.ceil(self.keep_ratio * self.tokens_per_frame - 1e-9))

    def is_routed(self, layer: int) -> bool:
        return layer in self.routed_layers and self.keep_ratio < 1.0

    def validate(self, conv_vision: bool = True) -> "ModelConfig":
        """`conv_vision`: check the dimensions of the built-in conv encoder too (False when the
        model is given its own vision module, e.g. an imported SigLIP tower)."""
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(f"bad model config: {msg}")
        need(self.d_model % self.n_heads == 0, f"d_model {self.d_model} not divisible by n_heads {self.n_heads}")
        need(self.n_heads % self.n_kv_heads == 0, f"n_heads {self.n_heads} not divisible by n_kv_heads {self.n_kv_heads}")
        need(self.head_dim % 2 == 0, f"head_dim {self.head_dim} must be even for RoPE")
        if conv_vision:
            need(self.frame_width % self.stem_stride == 0 and self.frame_height % self.stem_stride == 0,
                 f"frame {self.frame_width}x{self.frame_height} not divisible by stem_stride {self.stem_stride}")
            fh, fw = self.feature_hw
            need(fh % self.grid_h == 0 and fw % self.grid_w == 0,
                 f"feature map {fh}x{fw} not divisible by grid {self.grid_h}x{self.grid_w}")
        need(self.frame_prefix >= 0, f"frame_prefix {self.frame_prefix} must be >= 0")
        need(not self.route_keep_last or self.frame_prefix > 0, "route_keep_last needs frame_prefix > 0 (general packages only)")
        need(0.0 < self.keep_ratio <= 1.0, f"keep_ratio {self.keep_ratio} must be in (0, 1]")
        if self.view is not None:
            from ..data.render import check_view
            try:
                check_view(self.view)
            except ValueError as e:
                need(False, str(e))
        need(all(0 <= l < self.n_layers for l in self.routed_layers),
             f"routed_layers {self.routed_layers} outside 0..{self.n_layers - 1}")
        need(self.vocab_size >= 16, "vocab_size too small")
        need(0 <= self.time_digits <= 9, f"time_digits {self.time_digits} must be in 0..9")
        need(not self.clock_text or self.time_digits > 0, "clock_text needs a clock (time_digits > 0)")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["vision_channels"] = list(self.vision_channels)
        return d

    @staticmethod
    def from_dict(d: dict) -> "ModelConfig":
        known = {k: v for k, v in d.items() if k in ModelConfig.__dataclass_fields__}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ConfigError(f"bad model config: unknown keys {unknown}")
        if "vision_channels" in known:
            known["vision_channels"] = tuple(known["vision_channels"])
        if known.get("view") is not None:
            known["view"] = tuple(float(v) for v in known["view"])
        return ModelConfig(**known).validate()


# ----------------------------------------------------------------------------- vision

class VisionEncoder(nn.Module):
    """uint8 frames [N, H, W, 3] -> vision embeddings [N, V, d_model] (token 0 = summary)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c1, c2, c3 = cfg.vision_channels
        fh, fw = cfg.feature_hw
        self.cfg = cfg
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)
        self.stem = nn.Conv2d(3, c1, cfg.stem_stride, stride=cfg.stem_stride)
        self.conv1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.pool = nn.Conv2d(c3, c3, (fh // cfg.grid_h, fw // cfg.grid_w), stride=(fh // cfg.grid_h, fw // cfg.grid_w))
        self.summary = nn.Linear(c3, c3)
        self.pos = nn.Parameter(0.02 * torch.randn(cfg.tokens_per_frame, c3))
        # projector to the language model's width (VideoLLM-online: a small MLP)
        self.proj = nn.Sequential(nn.Linear(c3, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.proj(self.tokens(frames))                                # (N, V, d)

    def tokens(self, frames: torch.Tensor) -> torch.Tensor:
        """Pre-projector tokens (N, V, C): what the vision pretraining heads read."""
        x = frames.permute(0, 3, 1, 2).float() / 255.0                      # (N, 3, H, W)
        x = (x - self.mean) / self.std
        x = F.gelu(self.stem(x))
        x = F.gelu(self.conv1(x))
        x = F.gelu(self.conv2(x))                                            # (N, C, fh, fw)
        g = self.pool(x).flatten(2).transpose(1, 2)                          # (N, gh*gw, C)
        s = self.summary(x.mean(dim=(2, 3))).unsqueeze(1)                    # (N, 1, C)
        return torch.cat([s, g], dim=1) + self.pos                           # (N, V, C)


# ----------------------------------------------------------------------------- decoder parts

class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@lru_cache(maxsize=None)
def _inv_freq(head_dim: int, theta: float) -> Tuple[float, ...]:
    """RoPE inverse frequencies as Python floats (exactly the float32 values), so an exported graph
    holds them as one constant instead of recomputing them every step."""
    return tuple((1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))).tolist())


def rope_tables(pos: torch.Tensor, head_dim: int, theta: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (B, 1, T, head_dim) of rotate-half RoPE at explicit positions pos (B, T) int64."""
    inv = torch.tensor(_inv_freq(head_dim, theta), dtype=torch.float32, device=pos.device)
    ang = pos.to(torch.float32).unsqueeze(-1) * inv                       # (B, T, D/2)
    ang = torch.cat([ang, ang], dim=-1).unsqueeze(1)                      # (B, 1, T, D)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """x (B, H, T, D) rotated by tables from rope_tables. `dim`: D when the caller knows it (an
    exported graph then slices at a constant instead of reading x's shape every step)."""
    d = dim or x.shape[-1]
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


def gather_tables(tables: Tuple[torch.Tensor, torch.Tensor], idx: torch.Tensor, dim: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """The rows of rope_tables(pos) for the tokens idx (B, K) of pos: rope_tables(gather(pos, idx)).
    `dim`: the tables' head_dim when the caller knows it (a constant in an exported graph)."""
    cos, sin = tables
    tidx = idx.unsqueeze(1).unsqueeze(-1).expand(-1, -1, -1, dim or cos.shape[-1])
    return torch.gather(cos, 2, tidx), torch.gather(sin, 2, tidx)


def rope(x: torch.Tensor, pos: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotate-half RoPE from explicit positions. x (B, H, T, D), pos (B, T) int64."""
    d = x.shape[-1]
    cos, sin = rope_tables(pos, d, theta)
    return apply_rope(x, cos, sin, d)


def kept_count(embeds: torch.Tensor, kept_per_frame: int):
    """min(kept_per_frame, n) for a frame step of n = embeds.shape[1] tokens. While exporting, a
    tensor read from the shape (an int would be frozen into the graph), so decoder_frame.onnx takes
    any n in 1..V with TopK's K computed from it."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        n = torch._shape_as_tensor(embeds)[1].unsqueeze(0)
        return torch.min(torch.cat([torch.tensor([kept_per_frame], dtype=n.dtype), n]))
    return min(kept_per_frame, embeds.shape[1])


def prefix_count(embeds: torch.Tensor, tokens_per_frame: int, kept_per_frame: int, vision_tokens: Optional[torch.Tensor] = None):
    """(p, p + min(kept_per_frame, n - p)) for a frame step of n = embeds.shape[1] tokens whose first
    p = max(n - V, 0) are a text prefix (ModelConfig.frame_prefix): the prefix count and how many
    entries a routed layer keeps. `vision_tokens` ([1] int64): how many of the n are vision tokens
    instead (0 = a text step, every token text), for a graph that also runs text steps. Tensors
    read from the shape while exporting (see kept_count)."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        n = torch._shape_as_tensor(embeds)[1]
        v = tokens_per_frame if vision_tokens is None else vision_tokens[0]
        p = torch.clamp(n - v, min=0)
        return p, p + torch.clamp(n - p, max=kept_per_frame)
    n = embeds.shape[1]
    v = tokens_per_frame if vision_tokens is None else int(vision_tokens[0])
    p = max(n - v, 0)
    return p, p + min(kept_per_frame, n - p)


def last_present(present: torch.Tensor) -> torch.Tensor:
    """present (..., V) bool -> (..., V) bool: True at the last present token of each row (none in a
    row with no present token)."""
    ar = torch.arange(present.shape[-1], device=present.device)
    last = torch.where(present, ar, torch.full_like(ar, -1)).max(-1, keepdim=True).values
    return (ar == last) & present


def router_weight(scores: torch.Tensor) -> torch.Tensor:
    """Router logit -> the multiplier of a kept token's block update."""
    return torch.sigmoid(scores)


def _onnx_shape(x: torch.Tensor, shape) -> list:
    """An ONNX Reshape target made concrete for x: 0 = x's dim at that index (-1 stays -1)."""
    return [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]


class _OnnxReshape(torch.autograd.Function):
    """Reshape to an ONNX target shape (0 = keep that input dim, one -1 = inferred), exported as one
    Reshape with a constant shape. A plain `.view(B, T, ...)` of dynamic sizes exports as
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape: five operators instead of one, and each
    operator call is a fixed cost per step at this model size."""

    @staticmethod
    def forward(ctx, x, shape):
        return x.reshape(_onnx_shape(x, shape))

    @staticmethod
    def symbolic(g, x, shape):
        return g.op("Reshape", x, g.op("Constant", value_t=torch.tensor(shape, dtype=torch.int64)))


def onnx_reshape(x: torch.Tensor, *shape: int) -> torch.Tensor:
    """x reshaped to `shape` read as ONNX does (0 = input dim i, -1 = the rest; needs a -1); the
    same values in training and in the exported graph, where it is one operator."""
    if torch.onnx.is_in_onnx_export():
        return _OnnxReshape.apply(x, tuple(shape))
    return x.reshape(_onnx_shape(x, shape))


class Block(nn.Module):
    """Pre-norm Llama block (GQA attention + SwiGLU MLP) with an explicit cache.

    `delta()` returns the block's residual update f(x) = block(x) - x plus the new K/V (keys in the
    form the past came in: see `delta`), so a routed layer can scale it by the router weight.
    """

    def __init__(self, cfg: ModelConfig, routed: bool):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.d_model, cfg.head_dim
        self.attn_norm = RMSNorm(d, cfg.norm_eps)
        self.wq = nn.Linear(d, cfg.n_heads * hd, bias=False)
        self.wk = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hd, d, bias=False)
        self.mlp_norm = RMSNorm(d, cfg.norm_eps)
        self.w1 = nn.Linear(d, cfg.mlp_hidden, bias=False)
        self.w3 = nn.Linear(d, cfg.mlp_hidden, bias=False)
        self.w2 = nn.Linear(cfg.mlp_hidden, d, bias=False)
        self.router = nn.Linear(d, 1) if routed else None

    def delta(self, x, pos, new_valid, past_k, past_v, past_pos, past_valid, tables=None, past_rotated=False):
        """x (B, T, d); pos (B, T); new_valid (B, T) bool: may these tokens be attended to;
        past_k/v (B, kvH, P, hd); past_pos (B, P); past_valid (B, P) bool. `tables`: rope_tables(pos)
        when the caller already has them. `past_rotated`: past keys are stored rotated at their
        positions (exported graphs, models/CONTRACT.md "Positions"), so only the new keys are
        rotated and they are returned rotated; otherwise keys are pre-RoPE in and out."""
        cfg = self.cfg
        hd, H, KH = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
        cos, sin = tables if tables is not None else rope_tables(pos, hd, cfg.rope_theta)
        h = self.attn_norm(x)
        q = onnx_reshape(self.wq(h), 0, -1, H, hd).transpose(1, 2)          # (B, H, T, hd)
        k_new = onnx_reshape(self.wk(h), 0, -1, KH, hd).transpose(1, 2)     # (B, KH, T, hd)
        v_new = onnx_reshape(self.wv(h), 0, -1, KH, hd).transpose(1, 2)
        v_all = torch.cat([past_v, v_new], dim=2)
        kpos = torch.cat([past_pos, pos], dim=1)                             # (B, P+T)
        kvalid = torch.cat([past_valid, new_valid], dim=1)                   # (B, P+T)
        q = apply_rope(q, cos, sin, hd) * (1.0 / math.sqrt(hd))
        k_rot = apply_rope(k_new, cos, sin, hd)
        k = torch.cat([past_k if past_rotated else rope(past_k, past_pos, cfg.rope_theta), k_rot], dim=2)   # (B, KH, P+T, hd)
        if past_rotated:
            k_new = k_rot
        # GQA without copying K/V: head h reads kv head h // rep, so group the query heads; row
        # r * T + t of a group is query head r of the group at token t, so the (T, P+T) mask is
        # tiled rep times down the rows
        rep = H // KH
        qg = onnx_reshape(q, 0, KH, -1, hd)                                   # (B, KH, rep*T, hd)
        att = torch.matmul(qg, k.transpose(-1, -2))                           # (B, KH, rep*T, P+T)
        allowed = (kpos.unsqueeze(1) <= pos.unsqueeze(2)) & kvalid.unsqueeze(1)  # (B, T, P+T)
        att = att.masked_fill(~allowed.repeat(1, rep, 1).unsqueeze(1), -1e9)
        att = torch.softmax(att, dim=-1)
        o = onnx_reshape(torch.matmul(att, v_all), 0, H, -1, hd).transpose(1, 2)  # (B, T, H, hd)
        o = onnx_reshape(o, 0, -1, H * hd)                                    # (B, T, d)
        a = self.wo(o)
        h2 = self.mlp_norm(x + a)
        m = self.w2(F.silu(self.w1(h2)) * self.w3(h2))
        return a + m, k_new, v_new


class KibitzModel(nn.Module):
    def __init__(self, cfg: ModelConfig, vision: Optional[nn.Module] = None):
        """`vision`: a module to use instead of the built-in conv encoder (uint8 frames [N, H, W, 3]
        -> [N, V, d_model]); an imported checkpoint brings its own (videollm/siglip.py), already
        loaded, so it is left as it is."""
        super().__init__()
        self.cfg = cfg.validate(conv_vision=vision is None)
        self.vision = VisionEncoder(cfg) if vision is None else vision
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList([Block(cfg, cfg.is_routed(i)) for i in range(cfg.n_layers)])
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if vision is None:
            self.apply(self._init)
        else:
            for part in (self.embed, self.layers, self.lm_head):
                part.apply(self._init)
        # zero at first: a model that gains a clock behaves exactly as before until it learns to use it
        self.time_embed = nn.Parameter(torch.zeros(cfg.time_digits, 10, cfg.d_model)) if cfg.time_digits else None

    def clock(self, seconds: torch.Tensor) -> torch.Tensor:
        """Stream time in whole seconds (any shape, int64) -> (..., d): the sum over decimal places p
        of time_embed[p, digit_p]. Seconds wrap at 10^time_digits. Zeros when the model has no clock."""
        d = self.cfg.d_model
        if self.time_embed is None:
            return torch.zeros(*seconds.shape, d, device=seconds.device)
        out = torch.zeros(*seconds.shape, d, device=seconds.device)
        s = seconds.long()
        for p in range(self.cfg.time_digits):
            out = out + self.time_embed[p][(s // 10 ** p) % 10]
        return out

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    # ------------------------------------------------------------------ training: whole sequences
    def forward_sequence(self, embeds, pos, valid, frame_index, return_routing=False):
        """Whole interleaved sequences (training, and the reference for step equivalence).

        embeds (B, T, d); pos (B, T) int64; valid (B, T) bool (false = padding);
        frame_index (B, F, V) int64: sequence index of each frame's vision tokens (every row of a
        batch has the same F; text/bos tokens are the indices not listed). Returns hidden (B, T, d).
        A vision token with valid = false was dropped (temporal.py): it is exactly as if absent, a
        key for nobody and never routed (the caller numbers `pos` without it).
        """
        cfg = self.cfg
        B, T, d = embeds.shape
        Fn, V = frame_index.shape[1], frame_index.shape[2]
        assert V == cfg.tokens_per_frame, f"frame_index V={V} != tokens_per_frame {cfg.tokens_per_frame}"
        is_vision = torch.zeros(B, T, dtype=torch.bool, device=embeds.device)
        is_vision.scatter_(1, frame_index.view(B, Fn * V), True)
        present = torch.gather(valid, 1, frame_index.view(B, Fn * V)).view(B, Fn, V)   # false = dropped
        # text (and bos) tokens of each row, padded to the longest row; always active
        text_mask = valid & ~is_vision
        n_text = int(text_mask.sum(1).max())
        text_idx = torch.zeros(B, n_text, dtype=torch.long, device=embeds.device)
        text_ok = torch.zeros(B, n_text, dtype=torch.bool, device=embeds.device)
        for b in range(B):
            nz = text_mask[b].nonzero().squeeze(1)
            text_idx[b, : nz.numel()] = nz
            text_ok[b, : nz.numel()] = True
        empty_k = embeds.new_zeros(B, cfg.n_kv_heads, 0, cfg.head_dim)
        empty_p = pos.new_zeros(B, 0)
        empty_v = valid.new_zeros(B, 0)
        x = embeds
        tables = rope_tables(pos, cfg.head_dim, cfg.rope_theta)              # once, shared by the layers
        routing = []
        for layer in self.layers:
            if layer.router is None:
                dx, _, _ = layer.delta(x, pos, valid, empty_k, empty_k, empty_p, empty_v, tables)
                x = x + dx
                continue
            # MoD: per frame, the top-k vision tokens plus every text token go through the block;
            # only those are gathered, so routed layers cost what they cost at inference
            scores = layer.router(x).squeeze(-1)                              # (B, T)
            fs = torch.gather(scores, 1, frame_index.view(B, Fn * V)).view(B, Fn, V)
            fs = fs.masked_fill(~present, float("-inf"))                      # dropped tokens last
            if cfg.route_keep_last:
                is_last = last_present(present)                               # (B, F, V)
                fs = fs.masked_fill(is_last, float("inf"))                    # always kept, in one of the k slots
            top = torch.topk(fs, cfg.kept_per_frame, dim=-1).indices          # (B, F, k)
            kept = torch.gather(frame_index, 2, top).view(B, -1)              # (B, F*k) seq idx
            # a frame with fewer than k present tokens keeps them all (min(k, n) at run time); the
            # dropped ones topk had to pick are not keys and add nothing
            kept_ok = torch.gather(present, 2, top).view(B, -1)               # (B, F*k)
            routing.append(torch.zeros(B, T, dtype=torch.bool, device=x.device).scatter_(1, kept, kept_ok))
            act = torch.cat([text_idx, kept], dim=1)                          # (B, A)
            ok = torch.cat([text_ok, kept_ok], dim=1)
            wk = router_weight(torch.gather(scores, 1, kept))
            if cfg.route_keep_last:
                wk = torch.where(torch.gather(is_last, 2, top).view(B, -1), torch.ones_like(wk), wk)   # the last token weighs 1
            w = torch.cat([text_ok.to(x.dtype), wk * kept_ok.to(x.dtype)], dim=1)  # (B, A)
            gidx = act.unsqueeze(-1).expand(B, act.shape[1], d)
            xs = torch.gather(x, 1, gidx)                                     # (B, A, d)
            dx, _, _ = layer.delta(xs, torch.gather(pos, 1, act), ok, empty_k, empty_k, empty_p, empty_v, gather_tables(tables, act))
            x = x.scatter_add(1, gidx, w.unsqueeze(-1) * dx)                  # padded entries add 0
        h = self.norm(x)
        return (h, routing) if return_routing else h

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.lm_head(h)

    # ------------------------------------------------------------------ streaming steps (exported)
    def frame_step(self, embeds, pos, past, past_rotated=False, vision_tokens=None):
        """One frame's vision tokens per batch row.

        embeds (B, n, d); pos (B, n): the frame's fed tokens, n in 1..V (all V without the temporal
        drop); past: list per layer of (k, v, pos, valid); `past_rotated`: see Block.delta.
        Returns logits (B, vocab) after the frame's last token, and per layer
        (new_k (B, KH, T_l, hd), new_v, new_index (B, T_l)) with T_l = n or min(kept_per_frame, n).
        With cfg.frame_prefix, n may be V + p: p text tokens first (VideoLLM-online's ","), which
        routed layers always keep, so T_l = p + min(kept_per_frame, n - p) there; with
        cfg.route_keep_last the frame's last token (index n - 1) is one of the kept too.
        """
        cfg = self.cfg
        B, V, _ = embeds.shape
        x = embeds
        ones = torch.ones(B, V, dtype=torch.bool, device=x.device)
        all_idx = torch.arange(V, device=x.device).unsqueeze(0).expand(B, V)
        if cfg.frame_prefix:
            p, kp = prefix_count(embeds, cfg.tokens_per_frame, cfg.kept_per_frame, vision_tokens)
            is_prefix = all_idx < p                                           # (B, n): the leading text tokens
            # tokens every routed layer keeps at weight 1: the prefix, and with route_keep_last the
            # frame's last token (the decision is read after it)
            forced = is_prefix | (all_idx == all_idx[:, -1:]) if cfg.route_keep_last else is_prefix
        else:
            k = kept_count(embeds, cfg.kept_per_frame)
        cos, sin = rope_tables(pos, cfg.head_dim, cfg.rope_theta)            # once per step, shared by the layers
        out = []
        for layer, (pk, pv, pp, pm) in zip(self.layers, past):
            if layer.router is None:
                dx, nk, nv = layer.delta(x, pos, ones, pk, pv, pp, pm, (cos, sin), past_rotated)
                x = x + dx
                out.append((nk, nv, all_idx))
            elif cfg.frame_prefix:
                scores = layer.router(x).squeeze(-1)                          # (B, n)
                # the text prefix (and the kept last token) outranks every other vision token, so
                # the top-(p + k) holds it whole and the rest chosen by score alone
                rank = scores.masked_fill(forced, float("inf"))
                top = torch.topk(rank, kp, dim=-1).indices                    # (B, p + k)
                idx = torch.topk(top, kp, dim=-1, largest=False).values       # prefix first, then frame order
                gidx = idx.unsqueeze(-1).expand(-1, -1, cfg.d_model)
                xs = torch.gather(x, 1, gidx)                                 # (B, p + k, d)
                ps = torch.gather(pos, 1, idx)
                tables = gather_tables((cos, sin), idx, cfg.head_dim)
                ws = torch.where(torch.gather(forced, 1, idx), torch.ones_like(xs[..., 0]),
                                 router_weight(torch.gather(scores, 1, idx)))  # (B, p + k): text (and the last token) weighs 1
                dx, nk, nv = layer.delta(xs, ps, torch.ones_like(ps, dtype=torch.bool), pk, pv, pp, pm, tables, past_rotated)
                x = x.scatter(1, gidx, xs + ws.unsqueeze(-1) * dx)
                out.append((nk, nv, idx))
            else:
                scores = layer.router(x).squeeze(-1)                          # (B, V)
                top = torch.topk(scores, k, dim=-1).indices                  # (B, k)
                idx = torch.topk(top, k, dim=-1, largest=False).values       # keep frame order (a sort; k, not read off top's shape)
                gidx = idx.unsqueeze(-1).expand(-1, -1, cfg.d_model)
                xs = torch.gather(x, 1, gidx)                                 # (B, k, d)
                ps = torch.gather(pos, 1, idx)                                # (B, k)
                tables = gather_tables((cos, sin), idx, cfg.head_dim)
                ws = router_weight(torch.gather(scores, 1, idx))              # (B, k)
                dx, nk, nv = layer.delta(xs, ps, torch.ones_like(ps, dtype=torch.bool), pk, pv, pp, pm, tables, past_rotated)
                x = x.scatter(1, gidx, xs + ws.unsqueeze(-1) * dx)
                out.append((nk, nv, idx))
        h = self.norm(x[:, -1])
        return self.lm_head(h), out

    def text_step(self, embeds, pos, past, past_rotated=False):
        """Text tokens (never routed). embeds (B, T, d) -> logits (B, T, vocab), per layer (k, v)."""
        B, T, _ = embeds.shape
        x = embeds
        ones = torch.ones(B, T, dtype=torch.bool, device=x.device)
        tables = rope_tables(pos, self.cfg.head_dim, self.cfg.rope_theta)
        out = []
        for layer, (pk, pv, pp, pm) in zip(self.layers, past):
            dx, nk, nv = layer.delta(x, pos, ones, pk, pv, pp, pm, tables, past_rotated)
            x = x + dx
            out.append((nk, nv))
        return self.lm_head(self.norm(x)), out

    def empty_past(self, batch: int):
        cfg = self.cfg
        k = torch.zeros(batch, cfg.n_kv_heads, 0, cfg.head_dim)
        return [(k, k, torch.zeros(batch, 0, dtype=torch.long), torch.zeros(batch, 0, dtype=torch.bool))
                for _ in range(cfg.n_layers)]

    # ------------------------------------------------------------------ cost model
    def decoder_cost_per_frame(self, context_per_layer: Optional[List[int]] = None, tokens: Optional[int] = None) -> dict:
        """Multiply-accumulate count of one frame step and the K/V entries it adds, from the config.

        context_per_layer: cached entries each layer attends to (default 0 = projections/MLP only).
        tokens: vision tokens fed (the temporal drop feeds fewer than V; default V).
        """
        cfg = self.cfg
        d, hd, H, KH, m = cfg.d_model, cfg.head_dim, cfg.n_heads, cfg.n_kv_heads, cfg.mlp_hidden
        V = cfg.tokens_per_frame if tokens is None else tokens
        per_tok = d * H * hd + 2 * d * KH * hd + H * hd * d + 3 * d * m
        macs, kv = 0, 0
        for i in range(cfg.n_layers):
            ctx = context_per_layer[i] if context_per_layer else 0
            t = min(cfg.kept_per_frame, V) if cfg.is_routed(i) else V
            macs += t * per_tok + 2 * t * H * hd * (ctx + t)
            if cfg.is_routed(i):
                macs += V * d  # router
            kv += t
        macs += d * cfg.vocab_size  # decision logits
        return {"macs": macs, "flops": 2 * macs, "kv_entries": kv}
