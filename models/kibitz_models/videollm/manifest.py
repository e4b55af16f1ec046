"""manifest.json of an imported VideoLLM-online package (models/CONTRACT.md "General packages")."""
from __future__ import annotations

import os
from typing import Optional

from ..model.model import ModelConfig
from ..export.shared_weights import WEIGHTS_FILE
from .errors import LayoutError
from .prompt import FPS, GRID, THRESHOLD, prompt_block
from .specs import Checkpoint

# The streaming cache must fit the positions the LLM was trained with: the start prompt (the
# attention sinks, ~40 Llama-3 tokens, budgeted 64), a window of frames (10 tokens + the separator
# each), the text kept, and room for the line being generated.
SINK_BUDGET = 64
TEXT_TOKENS = 512
GENERATION_ROOM = 128
MAX_WINDOW_FRAMES = 600   # 5 minutes at 2 fps: VideoLLM-online trained on up to 1200 frames, fine beyond
MAX_NEW_TOKENS = 64


def window_frames(cfg: ModelConfig, asked: Optional[int] = None) -> int:
    per_frame = cfg.tokens_per_frame + cfg.frame_prefix
    room = cfg.max_positions - SINK_BUDGET - TEXT_TOKENS - GENERATION_ROOM
    most = min(MAX_WINDOW_FRAMES, room // per_frame)
    if most < 1:
        raise LayoutError(f"config.json: max_position_embeddings {cfg.max_positions} leaves no room for one frame after "
                          f"{SINK_BUDGET} sink + {TEXT_TOKENS} text + {GENERATION_ROOM} generation positions")
    if asked is None:
        return most
    if not 1 <= asked <= room // per_frame:
        raise LayoutError(f"--window-frames {asked}: must be in 1..{room // per_frame} so that {SINK_BUDGET} + window x "
                          f"{per_frame} + {TEXT_TOKENS} + {GENERATION_ROOM} <= max_position_embeddings {cfg.max_positions}")
    return asked


def _num(x: float):
    return int(x) if float(x).is_integer() else x


def manifest_for(ck: Checkpoint, cfg: ModelConfig, name: str, window: int) -> dict:
    base = os.path.basename
    return {
        "format": "kibitz-mod/1",
        "name": name,
        "kind": "general",
        "source": {"family": "videollm-online", "version": "live1+", "llm": base(ck.layout.llm),
                   "adapter": base(ck.layout.adapter), "vision": base(ck.layout.vision),
                   "lora": {"r": ck.adapter.r, "alpha": _num(ck.adapter.alpha), "merged": True}},
        "frame": {"width": cfg.frame_width, "height": cfg.frame_height, "fps": FPS, "mean": [0.5, 0.5, 0.5],
                  "std": [0.5, 0.5, 0.5], "layout": "NHWC uint8 RGB", "scaler": "bicubic"},
        "vision": {"tokensPerFrame": cfg.tokens_per_frame, "summaryTokens": 1, "grid": list(GRID)},
        "decoder": {"dModel": cfg.d_model, "layers": cfg.n_layers, "heads": cfg.n_heads, "kvHeads": cfg.n_kv_heads,
                    "headDim": cfg.head_dim, "mlpHidden": cfg.mlp_hidden, "vocab": cfg.vocab_size,
                    "routedLayers": [l for l in range(cfg.n_layers) if cfg.is_routed(l)],
                    "keepRatio": _num(cfg.keep_ratio), "keptPerFrame": cfg.kept_per_frame,
                    "ropeTheta": _num(cfg.rope_theta), "maxPositions": cfg.max_positions, "pastKeys": "rotated",
                    "framePrefixTokens": cfg.frame_prefix, "normEps": cfg.norm_eps,
                    # decoder_frame.onnx takes vision_tokens and runs text steps too (graphs.StepGraph): one session, weights once
                    "frameGraphRunsText": True,
                    # informational (the graph does it): routed layers always keep a frame's last vision token
                    **({"routeKeepsLast": cfg.route_keep_last} if any(cfg.is_routed(l) for l in range(cfg.n_layers)) else {})},
        "tokens": {"bos": ck.tokens.bos, "eos": ck.tokens.eos, "silent": ck.tokens.silent},
        "prompt": prompt_block(),
        "decision": {"threshold": THRESHOLD},
        "generation": {"maxNewTokens": MAX_NEW_TOKENS},
        "cache": {"windowFrames": window, "textTokens": TEXT_TOKENS},
        "files": {"vision": "vision.onnx", "decoderFrame": "decoder_frame.onnx", "decoderText": "decoder_text.onnx",
                  "decoderWeights": WEIGHTS_FILE, "embedTokens": "embed_tokens.bin", "tokenizer": "tokenizer.json"},
    }
