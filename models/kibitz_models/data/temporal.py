"""Temporal token drop: grid tokens whose pixels did not change since they were last fed stay out
of the decoder. The one definition of the rule in Python; `src/model/temporal_drop.ts` is the
runtime's, and both follow the manifest's `temporal` block (models/CONTRACT.md).

Per stream, the rule keeps the pixels of each grid cell (the cell grown by `cell_margin` px on each
side, clamped to the frame: a token mostly sees its cell, a little of its neighbours) as they were
when that cell's token was last fed. At each frame token 0 (the summary) is always fed; grid token
c is fed when
  - there is no state yet (the stream's first frame, or the first after a cache reset), or
  - the mean absolute difference (over pixels and channels, 0..255) between the region now and
    its last fed version exceeds `threshold`, or
  - the cell was last fed `refresh_frames` or more frames ago (so every cell has a token in the
    16-frame window the model sees).
Fed tokens go to the decoder in ascending token order. The model is trained with the same rule
(dataset.build_clip), so what it learns to do with a partial frame is what it meets at run time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

import numpy as np


@dataclass
class TemporalConfig:
    cell_margin: int = 8
    threshold: float = 2.0
    refresh_frames: int = 12

    def to_manifest(self, default: Optional[str] = None) -> dict:
        """The manifest's `temporal` block; `default` ("on"/"off"), when given, is what the runtime does
        when its config says `auto`."""
        return {"cellMargin": self.cell_margin, "threshold": self.threshold, "refreshFrames": self.refresh_frames,
                **({"default": default} if default else {}),
                "describe": "grid token c of a frame is fed when the stream (or its cache) starts, when the mean abs "
                            "difference (0..255, over pixels and channels) between its cell grown by cellMargin px "
                            "(clamped to the frame) and that region when the token was last fed exceeds threshold, or "
                            "when it was last fed refreshFrames or more frames ago; token 0 is always fed; fed tokens "
                            "go to decoder_frame in ascending order (n in 1..tokensPerFrame)"}

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TemporalConfig":
        return TemporalConfig(int(d["cell_margin"]), float(d["threshold"]), int(d["refresh_frames"]))


def rule_for(meta: dict, mode: str = "auto") -> Optional[TemporalConfig]:
    """The rule a checkpoint runs with: `auto` = as it was trained (its meta's `temporal`), `on` =
    always (the default rule for a checkpoint trained without it), `off` = never."""
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"temporal mode {mode!r}: choose auto, on or off")
    if mode == "off":
        return None
    if meta.get("temporal"):
        return TemporalConfig.from_dict(meta["temporal"])
    return TemporalConfig() if mode == "on" else None


def cell_regions(frame_h: int, frame_w: int, grid_h: int, grid_w: int, margin: int) -> List[Tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of each grid cell grown by `margin`, row-major (token c+1 = region c)."""
    if frame_h % grid_h or frame_w % grid_w:
        raise ValueError(f"frame {frame_w}x{frame_h} does not split into a {grid_h}x{grid_w} grid")
    ch, cw = frame_h // grid_h, frame_w // grid_w
    return [(max(0, r * ch - margin), min(frame_h, (r + 1) * ch + margin),
             max(0, c * cw - margin), min(frame_w, (c + 1) * cw + margin))
            for r in range(grid_h) for c in range(grid_w)]


class TokenDrop:
    """One stream's rule state. `step(frame)` -> keep mask (V,) bool for that frame, and remembers it."""

    def __init__(self, cfg: TemporalConfig, frame_h: int, frame_w: int, grid_h: int, grid_w: int):
        self.cfg = cfg
        self.regions = cell_regions(frame_h, frame_w, grid_h, grid_w, cfg.cell_margin)
        self.reset()

    def reset(self) -> None:
        self.last: Optional[List[np.ndarray]] = None   # per cell: its region when last fed (int16)
        self.age = np.zeros(len(self.regions), dtype=np.int64)   # frames since the cell was last fed

    @property
    def tokens(self) -> int:
        return 1 + len(self.regions)

    def step(self, frame: np.ndarray) -> np.ndarray:
        keep = np.ones(self.tokens, dtype=bool)
        crops = [frame[y0:y1, x0:x1].astype(np.int16) for y0, y1, x0, x1 in self.regions]
        if self.last is None:
            self.last = crops
            self.age[:] = 0
            return keep
        self.age += 1
        for c, crop in enumerate(crops):
            # integer sum compared with threshold * count: the same comparison in TS, no float drift
            changed = int(np.abs(crop - self.last[c]).sum()) > self.cfg.threshold * crop.size
            if changed or self.age[c] >= self.cfg.refresh_frames:
                self.last[c] = crop
                self.age[c] = 0
            else:
                keep[c + 1] = False
        return keep


def keep_masks(cfg: TemporalConfig, frames: np.ndarray, grid_h: int, grid_w: int, warmup: int = 0) -> np.ndarray:
    """Masks (F - warmup, V) for frames[warmup:], the rule started at frames[0] (the first `warmup`
    frames only set its state, as a window that starts mid-stream)."""
    drop = TokenDrop(cfg, frames.shape[1], frames.shape[2], grid_h, grid_w)
    masks = [drop.step(np.asarray(f)) for f in frames]
    return np.stack(masks[warmup:])
