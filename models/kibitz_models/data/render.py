"""Draw World states (PIL), encode broadcasts with ffmpeg/libx264, decode them the way the service
does (CONTRACT.md filter chain), and write the held-out sample broadcasts."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .world import HUD_H, H, W, World

FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
RGB = {"red": (235, 45, 45), "green": (40, 205, 70), "blue": (60, 110, 255), "yellow": (245, 220, 40)}
BG = [(20, 30, 70), (20, 60, 35), (62, 28, 62), (72, 52, 22), (28, 62, 72)]
SAMPLE_SEEDS = [900001, 900002, 900003]   # never used for training (training seeds start at 1000)
EVAL_FIRST_SEED = 800000                  # held-out evaluation streams


def ffmpeg_bin() -> str:
    p = os.environ.get("FFMPEG_PATH") or shutil.which("ffmpeg")
    if not p:
        raise FileNotFoundError("ffmpeg not found: install it (apt-get install ffmpeg) or set FFMPEG_PATH")
    return p


class Renderer:
    def __init__(self, width: int = 1280, height: int = 720):
        self.w, self.h, self.s = width, height, width / W
        self.font_hud = ImageFont.truetype(FONT_PATH, max(8, int(52 * self.s)))
        self.font_big = ImageFont.truetype(FONT_PATH, max(8, int(110 * self.s)))
        self.font_pop = ImageFont.truetype(FONT_PATH, max(8, int(56 * self.s)))

    def draw(self, world: World, t: float) -> np.ndarray:
        st = world.state_at(t)
        s = self.s
        img = Image.new("RGB", (self.w, self.h), BG[(st.level - 1) % len(BG)])
        d = ImageDraw.Draw(img)
        # HUD
        d.rectangle([0, 0, self.w, int(HUD_H * s)], fill=(10, 10, 14))
        y = int(20 * s)
        d.text((int(24 * s), y), f"SCORE {st.score}", font=self.font_hud, fill=(255, 255, 255))
        d.text((int(470 * s), y), f"LEVEL {st.level}", font=self.font_hud, fill=(255, 255, 255))
        d.text((int(760 * s), y), f"LIVES {st.lives}", font=self.font_hud, fill=(255, 120, 120))
        d.text((int(1040 * s), y), f"T {int(t)}", font=self.font_hud, fill=(200, 200, 200))
        # gems (diamonds)
        for g in st.gems:
            r = 30 * s
            x, yy = g.x * s, g.y * s
            d.polygon([(x, yy - r), (x + r, yy), (x, yy + r), (x - r, yy)], fill=RGB[g.colour], outline=(255, 255, 255))
        # enemies (grey squares with red eyes)
        for e in st.enemies:
            r = 32 * s
            x, yy = e.x * s, e.y * s
            d.rectangle([x - r, yy - r, x + r, yy + r], fill=(150, 150, 150), outline=(40, 40, 40), width=max(1, int(4 * s)))
            for ex in (-12, 12):
                d.ellipse([x + (ex - 6) * s, yy - 12 * s, x + (ex + 6) * s, yy], fill=(220, 0, 0))
        # player (white circle, cyan rim)
        if not st.over:
            r = 34 * s
            d.ellipse([st.px * s - r, st.py * s - r, st.px * s + r, st.py * s + r], fill=(245, 245, 245),
                      outline=(0, 220, 230), width=max(1, int(6 * s)))
        # cues a viewer sees
        for p in st.popups:
            if p.kind == "points":
                d.text((p.x * s, p.y * s), p.text, font=self.font_pop, fill=RGB[p.colour], anchor="mm",
                       stroke_width=max(1, int(3 * s)), stroke_fill=(0, 0, 0))
            elif p.kind == "spawn":
                d.text((p.x * s, p.y * s), "!", font=self.font_pop, fill=(255, 160, 0), anchor="mm")
            elif p.kind == "hit":
                bw = max(2, int(18 * s))
                d.rectangle([0, int(HUD_H * s), self.w - 1, self.h - 1], outline=(255, 0, 0), width=bw)
                d.text((p.x * s, (p.y - 70) * s), "HIT", font=self.font_pop, fill=(255, 40, 40), anchor="mm",
                       stroke_width=max(1, int(3 * s)), stroke_fill=(255, 255, 255))
            else:  # level / game_over / new_game banners
                d.rectangle([0, int((H / 2 - 90) * s), self.w, int((H / 2 + 90) * s)], fill=(0, 0, 0))
                d.text((self.w / 2, self.h / 2), p.text, font=self.font_big, fill=(255, 255, 255), anchor="mm")
        return np.asarray(img, dtype=np.uint8)


def encode(world: World, path: str, width: int, height: int, fps: int, crf: int = 23, preset: str = "veryfast") -> None:
    """Render every frame at `fps` and encode H.264 (yuv420p, -g 60 -bf 2) into `path`."""
    rend = Renderer(width, height)
    n = int(world.seconds * fps)
    cmd = [ffmpeg_bin(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-g", "60", "-bf", "2",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", path]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        for i in range(n):
            proc.stdin.write(rend.draw(world, i / fps).tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed encoding {path}")


def frame_filter(fps: int, width: int, height: int, view: Optional[Sequence[float]] = None) -> str:
    """The service's frame chain (src/decode/filter.ts builds the same string; keep them equal).
    No view: fps, scale (keep aspect, bilinear), pad (letterbox), rgb24. A view [x, y, w, h] (fractions
    of the source frame, the manifest's frame.view) is cropped first and stretched to width x height."""
    crop = ""
    if view is not None:
        x, y, w, h = check_view(view)
        crop = f"crop=iw*{w:g}:ih*{h:g}:iw*{x:g}:ih*{y:g},"
    keep = "" if view is not None else ":force_original_aspect_ratio=decrease"
    return (f"setpts=PTS-STARTPTS,fps={fps}:round=up,{crop}scale={width}:{height}{keep}:flags=bilinear,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24")


def check_view(view: Sequence[float]) -> Tuple[float, float, float, float]:
    """A view is [x, y, w, h], fractions of the source frame, inside it."""
    if len(view) != 4 or not all(isinstance(v, (int, float)) for v in view):
        raise ValueError(f"a view is [x, y, w, h] in fractions of the frame, got {view!r}")
    x, y, w, h = (float(v) for v in view)
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
        raise ValueError(f"view {view!r} is not inside the frame (x, y >= 0; x + w, y + h <= 1)")
    return x, y, w, h


def decode(path: str, width: int, height: int, fps: int, view: Optional[Sequence[float]] = None) -> np.ndarray:
    """Decode like the service (frame_filter): the frames the model sees."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"video not found: {path}")
    vf = frame_filter(fps, width, height, view)
    out = subprocess.run([ffmpeg_bin(), "-v", "error", "-i", path, "-vf", vf, "-f", "rawvideo", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, height, width, 3)


# ----------------------------------------------------------------------------- questions

QUESTIONS = {
    "score": ["what is the score ?", "what's the score ?", "how many points ?"],
    "lives": ["how many lives are left ?", "how many lives ?"],
    "level": ["what level is it ?", "which level ?"],
    "enemies": ["how many enemies are on screen ?", "how many enemies ?"],
    "gems": ["how many gems are on screen ?", "how many gems ?"],
    "last_gem": ["what colour was the last gem ?", "what color was the last gem ?"],
    "what_happened": ["what just happened ?", "what happened ?"],
    "when_hit": ["when was the player last hit ?", "when was the player hit ?"],
}

# Memory questions the runtime answers from what its commentary said and when (src/model/recall.ts;
# models/EXPERIMENTS.md "Memory questions"), by question kind (a viewer's words reach a kind through the
# package's question classifier): a phrase pattern ({name} = one or more words, {line} = any
# phrase), the answer ({seconds} = whole stream second the phrase was said), and what to say when
# no phrase matches. "what happened" looks back RECENT_S, as `answer` below does.
RECENT_S = 4.0
RECALL = [
    {"kind": "when_hit", "line": "the player is hit", "answer": "at {seconds} seconds",
     "none": "I have not seen the player get hit"},
    {"kind": "last_gem", "line": "the player picks up a {colour} gem", "answer": "{colour}",
     "none": "I have not seen a gem picked up"},
    {"kind": "what_happened", "line": "{line}", "answer": "{line}", "withinS": RECENT_S,
     "none": "nothing happened"},
]


def answer(world: World, kind: str, t: float, window_start: float, fps: int, clock_offset: int = 0) -> Optional[str]:
    """Exact answer to a question of `kind` asked right after the frame at time t, using only what
    was visible in frames since window_start; None when the question is not answerable there.
    `clock_offset`: whole seconds between the world's clock and the stream's (times are told in
    stream time; the sample broadcasts start both at 0)."""
    st = world.state_at(t)
    if kind == "score":
        return str(st.score)
    if kind == "lives":
        return str(st.lives)
    if kind == "level":
        return str(st.level)
    if kind == "enemies":
        return str(world.visible_enemies(t))
    if kind == "gems":
        return str(len(st.gems))
    recent = [e for e in world.events if window_start - 1e-9 <= e.t <= t + 1e-9]
    if kind == "last_gem":
        picks = [e for e in recent if e.kind == "pickup"]
        return picks[-1].attrs["colour"] if picks else None
    if kind == "what_happened":
        ev = [e for e in recent if t - e.t <= RECENT_S]
        return ev[-1].text if ev else "nothing happened"
    if kind == "when_hit":
        hits = [e for e in recent if e.kind == "hit"]
        if not hits:
            return None
        first_frame_t = np.ceil(hits[-1].t * fps - 1e-9) / fps   # the HUD time on the first frame showing it
        return f"at {int(first_frame_t) + clock_offset} seconds"
    raise ValueError(kind)


def summary_text(events) -> str:
    return " then ".join(e.text for e in events) if events else "nothing happened"


# ----------------------------------------------------------------------------- samples

def write_samples(out_dir: str, seconds: float = 75.0, window_s: float = 8.0, seeds: Optional[List[int]] = None) -> None:
    """The bundled sample broadcasts (SAMPLE_SEEDS), or more held-out ones from other seeds."""
    os.makedirs(out_dir, exist_ok=True)
    for n, seed in enumerate(seeds or SAMPLE_SEEDS, 1):
        world = World(seed, seconds)
        mp4 = os.path.join(out_dir, f"broadcast{n}.mp4")
        if not os.path.exists(mp4):   # deterministic: an existing file is the same video
            encode(world, mp4, 1280, 720, 30, crf=28, preset="veryfast")
        rng = random.Random(seed)
        qa = []
        for kind in QUESTIONS:
            for _ in range(10):
                t = rng.randrange(20, int(seconds * 2) - 1) / 2
                a = answer(world, kind, t, t - window_s, 2)
                if a is not None:
                    qa.append({"t": t, "kind": kind, "question": QUESTIONS[kind][0], "answer": a})
                    break
        gt = world.ground_truth()
        gt.update({"video": os.path.basename(mp4), "width": 1280, "height": 720, "fps": 30,
                   "note": "held-out seed, never used in training; times in seconds of stream time; QA answers are "
                           "what the HUD/screen shows right after the frame at t (2 fps sampling); memory questions "
                           "(last_gem, what_happened, when_hit) look back at most window_s seconds (the model's cache)",
                   "window_s": window_s,
                   "qa": qa,
                   "summaries": [{"from": a, "to": a + window_s, "answer": summary_text(world.events_between(a, a + window_s))}
                                 for a in (10.0, 40.0)]})
        with open(os.path.join(out_dir, f"broadcast{n}.json"), "w") as f:
            json.dump(gt, f, indent=1)
        print(mp4, os.path.getsize(mp4), "bytes,", len(world.events), "events")
