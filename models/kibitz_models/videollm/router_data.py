"""What `train-routers` feeds the model, made the way the runtime makes it:

  decode_video   a recording's frames through the runtime's ffmpeg chain for a general package
                 (src/decode/filter.ts with scaler bicubic, no view): 2 fps, letterboxed to S x S
  ByteBPE        the start prompt tokenized as the runtime tokenizes a template (the LLM's own
                 tokenizer.json: special-token text honoured, nothing added)
  ClipLayout     where the prompt, the separators and each frame's tokens sit in a clip of frames
                 fed after the start prompt (the first frame alone, every later one after ",")
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch

from ..data.render import ffmpeg_bin
from .errors import LayoutError, RouterInputError
from .layout import where
from .prompt import FPS, TOKENS_PER_FRAME
from .tiny_tokenizer import bytes_to_unicode


def frame_chain(size: int, fps: int = FPS) -> str:
    """The runtime's frame chain for a general package (frame.scaler bicubic, square frames, no view)."""
    return (f"setpts=PTS-STARTPTS,fps={fps}:round=up,scale={size}:{size}:force_original_aspect_ratio=decrease:flags=bicubic,"
            f"pad={size}:{size}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24")


def decode_video(path: str, size: int, fps: int = FPS, chunk: int = 32, max_seconds: Optional[float] = None) -> Iterator[np.ndarray]:
    """Frames (n, size, size, 3) uint8, `chunk` at a time, so a long recording is never in memory
    whole. A missing or unreadable file, one without a video stream and one that gives no frame are
    refused with one line naming the file."""
    if not os.path.isfile(path):
        raise RouterInputError(f"{path}: file not found (--video takes a recording ffmpeg can read)")
    cmd = [ffmpeg_bin(), "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-vf", frame_chain(size, fps)]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:g}"]
    cmd += ["-f", "rawvideo", "-"]
    frame_bytes = size * size * 3
    n = 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        try:
            while True:
                buf = proc.stdout.read(frame_bytes * chunk)
                if not buf:
                    break
                whole = len(buf) // frame_bytes
                if whole:
                    n += whole
                    yield np.frombuffer(buf[: whole * frame_bytes], dtype=np.uint8).reshape(whole, size, size, 3)
        finally:
            proc.stdout.close()
            rc = proc.wait()
        err.seek(0)
        msg = err.read().decode("utf-8", "replace").strip()
    _refuse(path, rc, msg, n)


def _refuse(path: str, rc: int, msg: str, frames: int) -> None:
    if rc != 0:
        if "matches no streams" in msg or "does not contain any stream" in msg:
            raise RouterInputError(f"{path}: no video stream (ffmpeg finds no video in it)")
        first = next((l for l in msg.splitlines() if l.strip()), f"ffmpeg exit status {rc}")
        raise RouterInputError(f"{path}: not a readable video ({first.strip()})")
    if frames == 0:
        raise RouterInputError(f"{path}: no frames decoded (an empty or zero-length video stream)")


def check_video(path: str) -> None:
    """Refuses what decode_video would refuse, from the first frame only (before minutes of model loading)."""
    if not os.path.isfile(path):
        raise RouterInputError(f"{path}: file not found (--video takes a recording ffmpeg can read)")
    r = subprocess.run([ffmpeg_bin(), "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-frames:v", "1",
                        "-vf", "scale=16:16,format=rgb24", "-f", "rawvideo", "-"], capture_output=True)
    _refuse(path, r.returncode, r.stderr.decode("utf-8", "replace").strip(), len(r.stdout) // (16 * 16 * 3))


# Llama-3's pre-tokenizer split (tiny_tokenizer.LLAMA3_SPLIT) in Python's re, which has no \p{..}:
# a letter is [^\W\d_] (str.isalpha), a number \d, "neither" (?:[^\w\r\n]|_). Exact for the
# prompt templates (ASCII); close for other text.
_L, _N = r"[^\W\d_]", r"\d"
_SPLIT = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|" + rf"(?:[^\w\r\n]|_)?{_L}+|{_N}{{1,3}}|" +
                    r" ?(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


class ByteBPE:
    """Encodes text with a Hugging Face byte-level BPE tokenizer.json (Llama-3's kind) the way the
    runtime encodes its prompt templates (`encode(text, {add_special_tokens: false})`): added
    (special) tokens matched as written, the rest split by Llama-3's pattern, mapped to byte symbols
    and merged by rank ("ignore_merges": a piece that is one vocab entry is that entry)."""

    def __init__(self, tok: dict, file: str = "tokenizer.json"):
        model = tok.get("model") or {}
        if model.get("type", "BPE") != "BPE" or "vocab" not in model or "merges" not in model:
            raise LayoutError(f"{file}: model is not byte-level BPE (type {model.get('type')!r}): train-routers tokenizes "
                              "the start prompt itself and knows only Llama-3's kind")
        self.vocab: Dict[str, int] = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges", False))
        self.ranks = {}
        for i, m in enumerate(model["merges"]):
            a, b = m.split(" ", 1) if isinstance(m, str) else m
            self.ranks.setdefault((a, b), i)
        self.added = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
        self._added_re = re.compile("|".join(re.escape(s) for s in sorted(self.added, key=len, reverse=True))) if self.added else None
        self.b2u = bytes_to_unicode()
        self.file = file

    def _bpe(self, piece: str) -> List[int]:
        sym = "".join(self.b2u[b] for b in piece.encode("utf-8"))
        if self.ignore_merges and sym in self.vocab:
            return [self.vocab[sym]]
        parts = list(sym)
        while len(parts) > 1:
            best = min(range(len(parts) - 1), key=lambda i: self.ranks.get((parts[i], parts[i + 1]), 1 << 60))
            if (parts[best], parts[best + 1]) not in self.ranks:
                break
            parts[best: best + 2] = [parts[best] + parts[best + 1]]
        try:
            return [self.vocab[p] for p in parts]
        except KeyError as e:
            raise LayoutError(f"{self.file}: no vocab entry for {e.args[0]!r} (a byte-level BPE vocab has every byte)") from None

    def encode(self, text: str) -> List[int]:
        ids: List[int] = []
        at = 0
        for m in (self._added_re.finditer(text) if self._added_re else ()):
            ids += self._plain(text[at: m.start()])
            ids.append(self.added[m.group(0)])
            at = m.end()
        return ids + self._plain(text[at:])

    def _plain(self, text: str) -> List[int]:
        return [i for piece in _SPLIT.findall(text) for i in self._bpe(piece)]


def tokenizer_of(llm_folder: str) -> ByteBPE:
    import json
    path = os.path.join(llm_folder, "tokenizer.json")
    with open(path) as f:
        return ByteBPE(json.load(f), where(llm_folder, "tokenizer.json"))


@dataclass(frozen=True)
class ClipLayout:
    """A clip: `prompt` text tokens (the start prompt), then `frames` frames of V tokens, every frame
    after the first preceded by the separator. Frame j's vision tokens start at prompt + (V+1) j,
    its separator (j >= 1) sits right before them; the decision is read after its last token."""
    prompt: int
    frames: int
    V: int = TOKENS_PER_FRAME

    @property
    def length(self) -> int:
        return self.prompt + (self.V + 1) * self.frames - 1

    def frame_index(self) -> torch.Tensor:
        """(frames, V) sequence index of each frame's vision tokens."""
        starts = self.prompt + (self.V + 1) * torch.arange(self.frames)
        return starts.unsqueeze(1) + torch.arange(self.V).unsqueeze(0)

    def separators(self) -> torch.Tensor:
        return self.prompt + (self.V + 1) * torch.arange(1, self.frames) - 1

    def decisions(self) -> torch.Tensor:
        """(frames,) index of each frame's last token: what the speak/silent decision reads."""
        return self.frame_index()[:, -1]

    def offset_in_frame(self) -> torch.Tensor:
        """(length,) each token's place in its frame's vision tokens, 0..V-1; -1 for text tokens."""
        off = torch.full((self.length,), -1, dtype=torch.long)
        off[self.frame_index().reshape(-1)] = torch.arange(self.V).repeat(self.frames)
        return off
