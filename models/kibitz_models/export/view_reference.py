"""A package's view reference: what the service's view search looks for on a streamer's canvas.

The mean in-world picture in grey, at the picture's own pixel aspect (a package trained on a
view of the screen stretches that view to its frame size; the reference undoes the stretch), as
one PGM file in the package, named in the manifest's ``frame.reference`` with that aspect.
src/view/search.ts correlates it with the canvas at every place and scale (normalised
cross-correlation: indifferent to brightness and contrast), so a mean picture is enough: the
board, the clocks, the HUD, whatever stays put while the game plays.

Made from recordings that are neither evaluation data nor a threshold's choice: the training
recordings, or fresh ones made for it (``cli record``), never the held-out sets.
"""
import json
import os
import shutil
import subprocess
from typing import List, Optional, Sequence

import numpy as np

from ..data.render import check_view, ffmpeg_bin

REFERENCE_FILE = "view_reference.pgm"
#: Height of the stored reference in pixels when the package has no native size (the search scales
#: it to every size it tries). A package trained on a view stores it at the view's native size: the
#: last pass of the search pins the picture to the pixel, which a coarser reference cannot.
REFERENCE_HEIGHT = 270


def probe_size(path: str) -> tuple:
    """(width, height) of a video's first video stream (ffprobe, beside ffmpeg or on PATH)."""
    beside = os.path.join(os.path.dirname(ffmpeg_bin()), "ffprobe")
    ffprobe = beside if os.path.exists(beside) else shutil.which("ffprobe")
    if not ffprobe:
        raise FileNotFoundError("ffprobe not found: install ffmpeg (apt-get install ffmpeg)")
    out = subprocess.run([ffprobe, "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path],
                         check=True, capture_output=True, text=True).stdout.strip()
    w, h = out.split(",")[:2]
    return int(w), int(h)


def picture_aspect(view: Optional[Sequence[float]], source_w: int, source_h: int) -> float:
    """Width / height of the package's picture on a source canvas of that size."""
    x, y, w, h = check_view(view) if view is not None else (0.0, 0.0, 1.0, 1.0)
    return (w * source_w) / (h * source_h)


def native_size(view: Sequence[float], source_w: int, source_h: int) -> tuple:
    """[w, h] in pixels of the crop the package was trained on, as ffmpeg's crop cuts it from 4:2:0
    video: `iw*w` truncated, then down to even. The service cuts a picture shown at this size
    exactly so (src/view/search.ts)."""
    x, y, w, h = check_view(view)
    return int(w * source_w) & ~1, int(h * source_h) & ~1


def mean_picture(videos: Sequence[str], view: Optional[Sequence[float]], aspect: float, size: Optional[tuple] = None,
                 skip_s: float = 10.0, fps: float = 1.0) -> np.ndarray:
    """Mean grey picture of the videos through the view, `size` (w, h) or REFERENCE_HEIGHT tall at `aspect` (float32)."""
    w, h = size if size else (max(8, int(round(REFERENCE_HEIGHT * aspect))), REFERENCE_HEIGHT)
    crop = ""
    if view is not None:
        x, y, vw, vh = check_view(view)
        # On 4:2:0 pixels, as the service and training crop (ffmpeg aligns x and y to even there;
        # on grey it would not, and the reference would sit a pixel off the trained crop).
        crop = f"format=yuv420p,crop=iw*{vw:g}:ih*{vh:g}:iw*{x:g}:ih*{y:g},"
    acc = np.zeros((h, w), np.float64)
    n = 0
    for path in videos:
        raw = subprocess.run([ffmpeg_bin(), "-v", "error", "-ss", str(skip_s), "-i", path,
                              "-vf", f"fps={fps},{crop}scale={w}:{h}:flags=bilinear,format=gray", "-f", "rawvideo", "-"],
                             check=True, capture_output=True).stdout
        frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w)
        acc += frames.sum(axis=0)
        n += len(frames)
    if n == 0:
        raise ValueError(f"no frames after {skip_s} s in {list(videos)}")
    return (acc / n).astype(np.float32)


def write_reference(package: str, videos: List[str], source: Optional[str] = None) -> dict:
    """Writes <package>/view_reference.pgm and the manifest's frame.reference; returns that block."""
    manifest_path = os.path.join(package, "manifest.json")
    with open(manifest_path) as f:
        manifest = json.load(f)
    view = manifest["frame"].get("view")
    sizes = {probe_size(v) for v in videos}
    if len(sizes) != 1:
        raise ValueError(f"the reference's videos must share one canvas size (the view is in fractions of it), got {sorted(sizes)}")
    (sw, sh), = sizes
    aspect = picture_aspect(view, sw, sh)
    native = native_size(view, sw, sh) if view is not None else None
    mean = mean_picture(videos, view, aspect, native)
    pic = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    with open(os.path.join(package, REFERENCE_FILE), "wb") as f:
        f.write(f"P5\n{pic.shape[1]} {pic.shape[0]}\n255\n".encode("ascii"))
        f.write(pic.tobytes())
    block = {"file": REFERENCE_FILE, "aspect": round(aspect, 6),
             **({"native": list(native)} if native else {}),
             "made": {"videos": [os.path.basename(v) for v in videos], "canvas": f"{sw}x{sh}", "frames": "1 fps from 10 s",
                      **({"source": source} if source else {})}}
    manifest["frame"]["reference"] = block
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return block
