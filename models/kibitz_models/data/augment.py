"""What real canvases do to a game's pixels, made from the recordings we have.

A streamer's layout scales the game window (0.5x to 2x, with whatever resampler OBS or the
capture card uses), encodes it with x264 or NVENC at a streaming bitrate (2.5-8 Mbit/s), crops a
few pixels off, changes the colour range, and lays overlays over the game's edge. A package
trained only on the recorder's exact pixels is hurt by all of these (a crop 2 px off cost the
chess package most of its commentary: EXPERIMENTS.md "View search"); training on variants made
here teaches it what varies and what does not.

``augment_recording`` writes one variant of a recording (video, events, PGN, metadata) and
returns where the game's picture is in it (the view, in fractions of the new canvas), which
``games.chess.build_data`` then cuts, as the service's view search would find it. Each variant
is drawn from a seeded ``AugmentSpec`` so a data set can be rebuilt.
"""
import json
import os
import random
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Optional, Sequence, Tuple

from .render import check_view, ffmpeg_bin

RESAMPLERS = ("bilinear", "bicubic", "lanczos", "area", "neighbor", "fast_bilinear")
#: x264 settings a streamer's encoder uses: OBS's x264 default, and what NVENC's low-latency presets amount to.
ENCODERS = {
    "x264": ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"],
    "nvenc-like": ["-c:v", "libx264", "-preset", "superfast", "-tune", "zerolatency", "-bf", "0", "-refs", "1"],
}


@dataclass(frozen=True)
class AugmentSpec:
    scale: float = 1.0
    resampler: str = "bilinear"
    bitrate_kbps: int = 6000
    encoder: str = "x264"
    #: Pixels cut off the canvas's left and top edges before scaling (the picture moves by them).
    crop_px: Tuple[int, int] = (0, 0)
    #: "tv" (limited, as recorded) or "pc": the colour range the canvas is sent in.
    colour_range: str = "tv"
    #: Share of the picture's width an overlay box covers at its right edge (0: none).
    overlay: float = 0.0

    def check(self) -> "AugmentSpec":
        if not 0.5 <= self.scale <= 2.0:
            raise ValueError(f"scale {self.scale} is outside 0.5-2")
        if self.resampler not in RESAMPLERS:
            raise ValueError(f"resampler {self.resampler!r} is not one of {RESAMPLERS}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder {self.encoder!r} is not one of {sorted(ENCODERS)}")
        if not 500 <= self.bitrate_kbps <= 20000:
            raise ValueError(f"bitrate {self.bitrate_kbps} kbit/s is outside 500-20000")
        if self.colour_range not in ("tv", "pc"):
            raise ValueError(f"colour range {self.colour_range!r} is not tv or pc")
        if not 0 <= self.overlay < 0.5:
            raise ValueError(f"overlay {self.overlay} is outside 0-0.5")
        return self


def draw_spec(rng: random.Random, max_scale: float = 2.0) -> AugmentSpec:
    """One variant as a real layout might make it: the ranges the package must hold up over
    (`max_scale` below 2 saves encoding time: a 2x variant has four times the pixels)."""
    return AugmentSpec(
        scale=round(min(max_scale, 2 ** rng.uniform(-1, 1)), 3),
        resampler=rng.choice(RESAMPLERS),
        bitrate_kbps=rng.choice([2500, 3500, 4500, 6000, 8000]),
        encoder=rng.choice(sorted(ENCODERS)),
        crop_px=(rng.randint(0, 6), rng.randint(0, 6)),
        colour_range=rng.choice(["tv", "tv", "pc"]),
        overlay=rng.choice([0.0, 0.0, 0.08, 0.15]),
    ).check()


def even(v: float) -> int:
    return max(2, int(round(v / 2)) * 2)


def augmented_geometry(width: int, height: int, view: Sequence[float], spec: AugmentSpec) -> Tuple[int, int, Tuple[float, float, float, float]]:
    """The variant's canvas size and where the view's picture is on it (fractions)."""
    x, y, w, h = check_view(view)
    cx, cy = spec.crop_px
    cw, ch = width - cx, height - cy
    out_w, out_h = even(cw * spec.scale), even(ch * spec.scale)
    sx, sy = out_w / cw, out_h / ch
    vx, vy = (x * width - cx) * sx / out_w, (y * height - cy) * sy / out_h
    vw, vh = w * width * sx / out_w, h * height * sy / out_h
    if vx < 0 or vy < 0:
        raise ValueError(f"crop {spec.crop_px} cuts into the picture at view {view}")
    return out_w, out_h, (vx, vy, vw, vh)


def filter_chain(width: int, height: int, view: Sequence[float], spec: AugmentSpec) -> str:
    out_w, out_h, (vx, vy, vw, vh) = augmented_geometry(width, height, view, spec)
    cx, cy = spec.crop_px
    chain = [f"crop={width - cx}:{height - cy}:{cx}:{cy}", f"scale={out_w}:{out_h}:flags={spec.resampler}"]
    if spec.overlay > 0:
        bw = max(2, int(vw * out_w * spec.overlay))
        chain.append(f"drawbox=x={int((vx + vw) * out_w) - bw}:y={int((vy + vh * 0.3) * out_h)}:w={bw}:h={int(vh * out_h * 0.4)}:color=0x6441a5@0.85:t=fill")
    if spec.colour_range == "pc":
        chain.append("scale=out_range=pc")
    chain.append("format=yuv420p")
    return ",".join(chain)


def augment_recording(stem: str, out_dir: str, spec: AugmentSpec, view: Sequence[float], name: Optional[str] = None) -> dict:
    """Writes <out_dir>/<name>.mp4 (+ .events.jsonl, .pgn, .json with "view" and "augment") from
    the recording <stem>.*; returns the variant's metadata."""
    spec.check()
    with open(stem + ".json") as f:
        meta = json.load(f)
    width, height = meta["width"], meta["height"]
    name = name or os.path.basename(stem)
    os.makedirs(out_dir, exist_ok=True)
    out_w, out_h, new_view = augmented_geometry(width, height, view, spec)
    rate = f"{spec.bitrate_kbps}k"
    cmd = [ffmpeg_bin(), "-v", "error", "-y", "-i", stem + ".mp4", "-vf", filter_chain(width, height, view, spec),
           *ENCODERS[spec.encoder], "-b:v", rate, "-maxrate", rate, "-bufsize", f"{2 * spec.bitrate_kbps}k", "-g", "60",
           *(["-color_range", "pc"] if spec.colour_range == "pc" else []), "-an", os.path.join(out_dir, name + ".mp4")]
    subprocess.run(cmd, check=True)
    for ext in (".events.jsonl", ".pgn"):
        if os.path.exists(stem + ext):
            shutil.copyfile(stem + ext, os.path.join(out_dir, name + ext))
    meta = {**meta, "width": out_w, "height": out_h, "view": [round(v, 6) for v in new_view], "augment": asdict(spec),
            "augmented_from": os.path.basename(stem)}
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta
