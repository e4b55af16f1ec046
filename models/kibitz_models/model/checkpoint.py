"""Save/load checkpoints with clear errors (wrong path, corrupt file, config that does not fit)."""
from __future__ import annotations

import os
from typing import Tuple

import torch

from .model import ConfigError, KibitzModel, ModelConfig

# Frames a model sees at once: the clip length it trains on (train.CLIP_FRAMES) and the window the
# runtime keeps (manifest cache.windowFrames). A checkpoint records its own in meta["window_frames"].
TRAIN_WINDOW_FRAMES = 16
# The most text a 16-frame training window holds (commentary, up to 6 Q/A, a summary): 166 tokens
# over 240 sampled clips. Exported as the manifest's cache.textTokens: the runtime's text slots.
TEXT_TOKENS = 192


def window_frames(meta: dict) -> int:
    """The streaming window to run a checkpoint with: the one it records, else the training clip's.
    (Every reader asks here: the evaluator, the probes and export, so none runs a model with a
    window it never had; a checkpoint from `cli import` records its package's.)"""
    return int(meta.get("window_frames") or TRAIN_WINDOW_FRAMES)


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(path: str, model: KibitzModel, meta: dict, half: bool = False) -> None:
    """`half`: float weights stored as float16 (they load back as float32)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}   # loads on any machine
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    torch.save({"format": "kibitz-ckpt/1", "config": model.cfg.to_dict(), "model": state,
                "meta": meta}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str) -> Tuple[KibitzModel, dict]:
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint not found: {path} (train one with `cli train`, or check the path)")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint path is a directory, expected a .pt file: {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)   # our own format; torch >= 2.6 defaults to True
    except Exception as e:  # torch raises many types for truncated/garbage files
        raise CheckpointError(f"checkpoint {path} is corrupt or not a kibitz checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(blob, dict) or blob.get("format") != "kibitz-ckpt/1" or "config" not in blob or "model" not in blob:
        raise CheckpointError(f"checkpoint {path} is not a kibitz checkpoint (missing format/config/model)")
    try:
        cfg = ModelConfig.from_dict(blob["config"])
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path}: {e}") from None
    model = KibitzModel(cfg)
    try:
        model.load_state_dict(blob["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {path}: weights do not fit its config: {str(e)[:400]}") from None
    return model.eval(), blob.get("meta", {})


def slim_checkpoint(src: str, dst: str) -> float:
    """Writes `src` with float16 weights (half the bytes; meta kept) for committing a checkpoint
    that the next person resumes from (`cli train --resume dst`: weights load back as float32).
    Returns the largest absolute change of any weight."""
    model, meta = load_checkpoint(src)
    worst = max(float((v.half().float() - v).abs().max()) for v in model.state_dict().values() if v.is_floating_point() and v.numel())
    save_checkpoint(dst, model, {**meta, "slim": {"from": os.path.basename(src), "dtype": "float16", "max_abs_change": worst}}, half=True)
    return worst
