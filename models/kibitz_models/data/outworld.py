"""Out-of-world video: content the demo model must not pretend to understand.

Every clip goes through the same H.264 encode and the service's decode chain as the world's own
streams (render.decode), so the in-world head learns what the runtime will see. Families are
split into three disjoint sets so that quality numbers mean something:

  train      the in-world head learns from these
  val        the head's threshold is chosen on these (and on in-world validation seeds)
  heldout    only reported, never used to choose anything (bench/outworld.ts, the notes)

The runtime's end-to-end test makes its own out-of-world video (ffmpeg's `mandelbrot`, a
held-out family) and never reads these clips.
"""
from __future__ import annotations

import math
import os
import random
import subprocess
import tempfile
from typing import Callable, Dict, List

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .render import FONT_PATH, decode, ffmpeg_bin

FPS = 2
FRAME_W, FRAME_H = 256, 144
SRC_W, SRC_H, SRC_FPS = 640, 360, 4


# ----------------------------------------------------------------------------- ffmpeg sources

def _lavfi(expr: Callable[[random.Random], str]) -> Callable[[int, float, str], None]:
    def make(seed: int, seconds: float, mp4: str) -> None:
        rng = random.Random(seed)
        src = expr(rng)
        cmd = [ffmpeg_bin(), "-v", "error", "-y", "-f", "lavfi", "-i", src, "-t", f"{seconds}",
               "-vf", f"scale={SRC_W}:{SRC_H},fps={SRC_FPS},format=yuv420p",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "60", "-bf", "2", mp4]
        subprocess.run(cmd, check=True)
    return make


def _hue(rng: random.Random) -> str:
    return f",hue=h={rng.randint(0, 359)}:s={rng.uniform(0.4, 1.6):.2f}"


LAVFI = {
    "testsrc2": lambda r: f"testsrc2=s=640x360:r=4{_hue(r)}",
    "smptehdbars": lambda r: f"smptehdbars=s=640x360:r=4,noise=alls={r.randint(0, 30)}:allf=t{_hue(r)}",
    "life": lambda r: (f"life=s=160x90:r=4:mold={r.randint(0, 30)}:ratio={r.uniform(0.05, 0.5):.2f}:seed={r.randint(0, 1 << 30)}"
                       f":life_color=#{r.randint(0, 0xFFFFFF):06x}:death_color=#{r.randint(0, 0xFFFFFF):06x}"),
    "noise_camera": lambda r: (f"color=c=#{r.randint(0, 0xFFFFFF):06x}:s=640x360:r=4,"
                               f"noise=alls={r.randint(20, 90)}:allf=t+u,gblur=sigma={r.uniform(0.5, 6):.1f}{_hue(r)}"),
    "cellauto": lambda r: f"cellauto=s=640x360:r=4:rule={r.choice([18, 30, 90, 110, 150])}:seed={r.randint(0, 1 << 30)},format=yuv420p{_hue(r)}",
    "rgbtestsrc": lambda r: f"rgbtestsrc=s=640x360:r=4,rotate=a=t*{r.uniform(0.1, 0.6):.2f}{_hue(r)}",
    "mandelbrot": lambda r: f"mandelbrot=s=640x360:r=4:start_scale={r.uniform(1, 3):.2f}:end_scale={r.uniform(0.01, 0.3):.2f}",
    "gradients": lambda r: f"gradients=s=640x360:r=4:speed={r.uniform(0.005, 0.05):.3f}:seed={r.randint(0, 1 << 30)}",
    "sierpinski": lambda r: f"sierpinski=s=640x360:r=4:seed={r.randint(0, 1 << 30)}:jump={r.randint(50, 200)}",
}


# ----------------------------------------------------------------------------- drawn scenes

def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


WORDS = "the stream chat game map boss level player health mana quest open save load menu settings score time kill round win".split()


def _scene_shapes(rng: random.Random, i: int, state: dict) -> Image.Image:
    """Bouncing shapes and words on a flat or gradient background: another renderer's scene."""
    if not state:
        state["bg"] = tuple(rng.randint(0, 255) for _ in range(3))
        state["obj"] = [[rng.uniform(0, SRC_W), rng.uniform(0, SRC_H), rng.uniform(-20, 20), rng.uniform(-20, 20),
                         rng.randint(8, 90), tuple(rng.randint(0, 255) for _ in range(3)), rng.choice("oreT")] for _ in range(rng.randint(3, 25))]
        state["font"] = _font(rng.randint(12, 40))
    img = Image.new("RGB", (SRC_W, SRC_H), state["bg"])
    d = ImageDraw.Draw(img)
    for o in state["obj"]:
        o[0] = (o[0] + o[2]) % SRC_W
        o[1] = (o[1] + o[3]) % SRC_H
        x, y, s, c, k = o[0], o[1], o[4], o[5], o[6]
        if k == "o":
            d.ellipse([x, y, x + s, y + s], fill=c)
        elif k == "r":
            d.rectangle([x, y, x + s, y + s * 0.6], fill=c)
        elif k == "e":
            d.polygon([(x, y), (x + s, y), (x + s / 2, y + s)], fill=c)
        else:
            d.text((x, y), rng.choice(WORDS), fill=c, font=state["font"])
    return img


def _scene_desktop(rng: random.Random, i: int, state: dict) -> Image.Image:
    """Windows full of scrolling text: a desktop, a terminal, a browser."""
    if not state:
        state["bg"] = tuple(rng.randint(0, 255) for _ in range(3))
        state["wins"] = [(rng.randint(-50, 400), rng.randint(-20, 250), rng.randint(150, 500), rng.randint(100, 300),
                          tuple(rng.randint(0, 255) for _ in range(3)), tuple(rng.randint(0, 255) for _ in range(3))) for _ in range(rng.randint(1, 5))]
        state["font"] = _font(rng.randint(9, 18))
        state["lines"] = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 9))) for _ in range(200)]
    img = Image.new("RGB", (SRC_W, SRC_H), state["bg"])
    d = ImageDraw.Draw(img)
    for w, (x, y, ww, hh, c, tc) in enumerate(state["wins"]):
        d.rectangle([x, y, x + ww, y + hh], fill=c, outline=(0, 0, 0))
        d.rectangle([x, y, x + ww, y + 14], fill=tuple(255 - v for v in c))
        for k in range(hh // 16):
            d.text((x + 4, y + 18 + k * 16), state["lines"][(i + k + 7 * w) % 200], fill=tc, font=state["font"])
    return img


def _scene_sprites(rng: random.Random, i: int, state: dict) -> Image.Image:
    """Another game: tiled ground, walking sprites, a HUD in another place and font."""
    if not state:
        state["tiles"] = [tuple(rng.randint(0, 255) for _ in range(3)) for _ in range(3)]
        state["tile"] = rng.choice([16, 24, 32, 48])
        state["map"] = [[rng.randrange(3) for _ in range(60)] for _ in range(40)]
        state["sprites"] = [[rng.uniform(0, SRC_W), rng.uniform(0, SRC_H), tuple(rng.randint(0, 255) for _ in range(3)), rng.randint(10, 40)] for _ in range(rng.randint(2, 12))]
        state["font"] = _font(rng.randint(14, 30))
        state["hud"] = rng.choice(["top", "bottom", "left"])
        state["label"] = rng.choice(["HP", "GOLD", "AMMO", "KILLS", "TIME", "WAVE"])
    img = Image.new("RGB", (SRC_W, SRC_H))
    d = ImageDraw.Draw(img)
    t = state["tile"]
    ox = i * 3
    for r in range(SRC_H // t + 1):
        for c in range(SRC_W // t + 2):
            d.rectangle([c * t - ox % t, r * t, c * t - ox % t + t, r * t + t], fill=state["tiles"][state["map"][r % 40][(c + ox // t) % 60]])
    for s in state["sprites"]:
        s[0] += rng.uniform(-8, 8)
        s[1] += rng.uniform(-8, 8)
        d.rectangle([s[0], s[1], s[0] + s[3], s[1] + s[3] * 1.5], fill=s[2])
        d.ellipse([s[0] + s[3] * 0.2, s[1] - s[3] * 0.6, s[0] + s[3] * 0.8, s[1]], fill=s[2])
    pos = {"top": (10, 4), "bottom": (10, SRC_H - 40), "left": (4, SRC_H // 2)}[state["hud"]]
    d.text(pos, f"{state['label']} {i * 7 % 997}", fill=(255, 255, 255), font=state["font"])
    return img


def _scene_camera(rng: random.Random, i: int, state: dict) -> Image.Image:
    """Camera-like: soft blobs of colour drifting, blur and sensor noise."""
    if not state:
        state["blobs"] = [[rng.uniform(0, SRC_W), rng.uniform(0, SRC_H), rng.uniform(30, 200), tuple(rng.randint(0, 255) for _ in range(3)),
                           rng.uniform(-6, 6), rng.uniform(-4, 4)] for _ in range(rng.randint(3, 10))]
        state["bg"] = tuple(rng.randint(0, 255) for _ in range(3))
        state["np"] = np.random.default_rng(rng.randint(0, 1 << 30))
    img = Image.new("RGB", (SRC_W, SRC_H), state["bg"])
    d = ImageDraw.Draw(img)
    for b in state["blobs"]:
        b[0] += b[4]
        b[1] += b[5]
        d.ellipse([b[0] - b[2], b[1] - b[2], b[0] + b[2], b[1] + b[2]], fill=b[3])
    img = img.filter(ImageFilter.GaussianBlur(12))
    a = np.asarray(img).astype(np.int16) + state["np"].normal(0, 8, (SRC_H, SRC_W, 3)).astype(np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _drawn(scene) -> Callable[[int, float, str], None]:
    def make(seed: int, seconds: float, mp4: str) -> None:
        rng = random.Random(seed)
        state: dict = {}
        cmd = [ffmpeg_bin(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SRC_W}x{SRC_H}",
               "-r", str(SRC_FPS), "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "60", "-bf", "2",
               "-pix_fmt", "yuv420p", mp4]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        try:
            for i in range(int(seconds * SRC_FPS)):
                proc.stdin.write(np.asarray(scene(rng, i, state), dtype=np.uint8).tobytes())
        finally:
            proc.stdin.close()
            if proc.wait() != 0:
                raise RuntimeError(f"ffmpeg failed encoding {mp4}")
    return make


# ----------------------------------------------------------------------------- real programs under Xvfb

def _xvfb(argv: Callable[[random.Random], List[str]]) -> Callable[[int, float, str], None]:
    """Runs a real program on a private X server and records its screen with x11grab
    (apt: xvfb, xscreensaver-data(-extra), xboard, gnuchess). Takes `seconds` of wall time."""
    def make(seed: int, seconds: float, mp4: str) -> None:
        import shutil
        import time
        if not shutil.which("Xvfb"):
            raise FileNotFoundError("Xvfb not found: apt-get install xvfb xscreensaver-data xscreensaver-data-extra xboard gnuchess")
        rng = random.Random(seed)
        disp = f":{90 + seed % 900}"
        env = {**os.environ, "DISPLAY": disp, "LIBGL_ALWAYS_SOFTWARE": "1", "SDL_AUDIODRIVER": "dummy"}
        xvfb = subprocess.Popen(["Xvfb", disp, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prog = None
        try:
            time.sleep(0.8)
            # cwd: a scratch folder (xboard writes log files where it runs)
            prog = subprocess.Popen(argv(rng), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.dirname(mp4))
            time.sleep(3.0)
            subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-f", "x11grab", "-video_size", "1280x720",
                            "-framerate", str(SRC_FPS), "-i", disp, "-t", f"{seconds}", "-vf", f"scale={SRC_W}:{SRC_H}",
                            "-c:v", "libx264", "-preset", "veryfast",
                            "-crf", "23", "-g", "60", "-bf", "2", "-pix_fmt", "yuv420p", mp4], check=True, env=env)
        finally:
            for p in (prog, xvfb):
                if p:
                    p.kill()
                    p.wait()
    return make


HACKS = "/usr/libexec/xscreensaver"


def _hack(name: str) -> Callable[[int, float, str], None]:
    return _xvfb(lambda r: [f"{HACKS}/{name}", "-root"])


XVFB = {
    **{f"xs_{h}": _hack(h) for h in [
        "anemone", "apollonian", "attraction", "boxfit", "celtic", "cloudlife", "coral", "deco", "fireworkx",
        "fluidballs", "galaxy", "greynetic", "halftone", "interference", "kaleidescope", "memscroller",
        "moire2", "munch", "penrose", "petri", "phosphor", "popsquares", "qix", "rocks", "squiral", "substrate",
        "truchet", "wander", "xmatrix", "xspirograph", "pong", "pacman", "blaster", "maze", "apple2", "speedmine",
        "fontglide", "starfish", "metaballs", "xanalogtv"]},
    # a real game playing itself: two gnuchess engines on xboard's board
    "xboard_chess": _xvfb(lambda r: ["/usr/games/xboard", "-fcp", "/usr/games/gnuchess --xboard", "-scp", "/usr/games/gnuchess --xboard",
                                     "-matchMode", "T", "-tc", "1", "-size", r.choice(["small", "medium", "bulky"])]),
}

FAMILIES: Dict[str, Callable[[int, float, str], None]] = {
    **XVFB,
    **{k: _lavfi(v) for k, v in LAVFI.items()},
    "shapes": _drawn(_scene_shapes),
    "desktop": _drawn(_scene_desktop),
    "sprites": _drawn(_scene_sprites),
    "camera": _drawn(_scene_camera),
}

SPLITS: Dict[str, List[str]] = {
    "train": ["testsrc2", "smptehdbars", "life", "noise_camera", "shapes", "desktop"],
    "val": ["cellauto", "rgbtestsrc", "sprites"],
    "heldout": ["mandelbrot", "gradients", "sierpinski", "camera"],
    # real programs (one clip each; a clip takes its length in wall time)
    "train_x": [f"xs_{h}" for h in ["anemone", "apollonian", "attraction", "boxfit", "celtic", "cloudlife", "coral", "deco",
                                    "fireworkx", "fluidballs", "galaxy", "greynetic", "halftone", "interference", "memscroller",
                                    "phosphor", "popsquares", "qix", "rocks", "apple2", "speedmine", "fontglide"]],
    "val_x": [f"xs_{h}" for h in ["kaleidescope", "moire2", "munch", "penrose", "petri", "squiral", "starfish", "metaballs"]],
    "heldout_x": ["xboard_chess"] + [f"xs_{h}" for h in ["pong", "pacman", "blaster", "maze", "substrate", "truchet", "wander", "xmatrix", "xspirograph", "xanalogtv"]],
}
# Seeds per split never overlap either (train 1..., val 500000..., held-out 700000...).
SPLIT_SEED = {"train": 1, "val": 500_000, "heldout": 700_000, "train_x": 11, "val_x": 500_011, "heldout_x": 700_011}


def make_clip(family: str, seed: int, seconds: float, view=None) -> np.ndarray:
    """One out-of-world clip decoded like the service: uint8 [T, 144, 256, 3] at 2 fps (`view`:
    through a package's view, render.frame_filter)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown out-of-world family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    with tempfile.TemporaryDirectory() as td:
        mp4 = os.path.join(td, "c.mp4")
        FAMILIES[family](seed, seconds, mp4)
        return decode(mp4, FRAME_W, FRAME_H, FPS, view)


def build_outworld(out_dir: str, split: str, clips_per_family: int, seconds: float, view=None) -> List[str]:
    """Writes `<family>_<seed>.npy` for every family of `split`; existing files are kept."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: one of {', '.join(SPLITS)}")
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fam in SPLITS[split]:
        for k in range(clips_per_family):
            seed = SPLIT_SEED[split] + k
            p = os.path.join(out_dir, f"{fam}_{seed}.npy")
            if not os.path.exists(p):
                np.save(p + ".tmp.npy", make_clip(fam, seed, seconds, view))
                os.replace(p + ".tmp.npy", p)
            paths.append(p)
        print(f"outworld {split}: {fam} done ({clips_per_family} clips)", flush=True)
    return paths
