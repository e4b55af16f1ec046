"""Chess as kibitz is taught it: what it says about a recorded game, the questions it answers, and
the data and sample broadcasts built from `cli record` recordings (games/record.py).

The recorder's event log holds the game's full truth (every move in SAN, the piece, the square,
the state after it). What the model says is a shorter line per event, chosen for what a 256x144
frame at 2 fps lets it see: who captures (a piece vanishes where the yellow arrow lands, and the
lit clock says who moved), a castle (king and rook jump), a promotion, checkmate, the end of a
game and the start of the next. Not said, though logged: which piece was taken (a square is
14 px wide at 256x144; a first package trained 11 minutes on "takes a knight" said "pawn" for
all) and check (xboard shows it only in the move text, 3 px tall here). Ordinary moves are not
commentary (one every 1-2.5 s would flood chat); they still answer "what just happened" and
"whose move is it".

    cli game-data --game chess --recordings models/.cache/game/train --out models/.cache/game/data
    cli game-samples --game chess --recordings models/.cache/game/heldout --out models/.cache/game/samples
"""
from __future__ import annotations

import glob
import json
import os
import random
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

# What the chess model looks at: the xboard window as games/record.py places it on the 1280x720
# screen (x 346..935, y 44..704: the clocks, the move line and the board), as [x, y, w, h]
# fractions of the frame, stretched to 256x144. Letterboxed, the whole board is 117x138 px of the
# 256x144 frame (a square 14 px) and 70% of the frame is black; through this view a square is
# 32x16 px and each of the 8 grid columns is one file.
VIEW = (0.2703, 0.0611, 0.4602, 0.9167)

# words the lines and questions below use that the shared vocabulary (tokenizer.WORDS) lacks
WORDS = """
white black takes castles gives check checkmate wins drawn promotes pawn knight bishop rook queen
king moves moved whose turn move capture captured took they side
captures made
""".split()   # append only: a word's id is its place here, and trained packages keep theirs

QUESTIONS: Dict[str, List[str]] = {
    "to_move": ["whose move is it ?", "whose turn is it ?", "who is to move ?"],
    "what_happened": ["what just happened ?", "what happened ?"],
    "last_capture": ["who made the last capture ?", "who captured last ?"],
}
TIME_QUESTIONS: set = set()   # none tells a time: a still picture never makes one wrong
RECENT_S = 4.0                # "what just happened" looks back this far


def say(e: dict) -> Optional[str]:
    """The commentary line for one recorder event, or None (ordinary moves are not commentary)."""
    side, kind = e.get("side"), e["kind"]
    if kind == "game_start":
        return "a new game begins"
    if kind == "game_over":
        winner = {"1-0": "white", "0-1": "black"}.get(e.get("result", ""))
        return f"{winner} wins" if winner else "the game is drawn"
    if kind == "checkmate":
        return "checkmate"
    if kind == "castle":
        return f"{side} castles"
    if kind == "promotion":
        return f"{side} promotes a pawn"
    if e.get("captured"):      # a capture, also one that gives check
        return f"{side} captures"
    return None                # an ordinary move, or a check (not visible at the model's size)


def move_text(e: dict) -> Optional[str]:
    """What "what just happened" answers for any move: its line, or "<side> moves"."""
    return say(e) or (f"{e['side']} moves" if "side" in e else None)   # any move, checks too


@dataclass
class Event:
    t: float
    kind: str
    text: str
    attrs: Dict = field(default_factory=dict)


class ChessStream:
    """A stretch of a recording, World-like for dataset.build_clip and evaluate: `events` are the
    spoken ones (commentary and summary targets), `moves` every event with a line or a move."""

    def __init__(self, gt: dict):
        self.seconds = float(gt["seconds"])
        raw = sorted(gt["events"], key=lambda e: e["t"])
        self.all = raw
        # spoken events inside this stretch (commentary truth); earlier ones stay in `all` for the state
        self.events = [Event(e["t"], e["kind"], say(e), e) for e in raw if say(e) and 0.0 <= e["t"] <= self.seconds]
        self.moves = [Event(e["t"], e["kind"], move_text(e), e) for e in raw if move_text(e)]

    def events_between(self, t0: float, t1: float) -> List[Event]:
        return [e for e in self.events if t0 < e.t <= t1]

    def to_move(self, t: float) -> Optional[str]:
        """Whose clock is lit at t: the state after the last event at or before t (None between a
        game's end and the next game, and before the first event)."""
        last = None
        for e in self.all:
            if e["t"] > t + 1e-9:
                break
            last = e
        if last is None or last["kind"] == "game_over" or "state" not in last:
            return None
        return last["state"]["to_move"]


def answer(world: ChessStream, kind: str, t: float, window_start: float, fps: int, clock_offset: int = 0) -> Optional[str]:
    """The exact answer right after the frame at t from what was on screen since window_start;
    None when the question is not answerable there (render.answer's contract)."""
    if kind == "to_move":
        return world.to_move(t)
    if kind == "what_happened":
        ev = [e for e in world.moves if max(window_start, t - RECENT_S) - 1e-9 <= e.t <= t + 1e-9]
        return ev[-1].text if ev else "nothing happened"
    if kind == "last_capture":
        caps = [e for e in world.events if window_start - 1e-9 <= e.t <= t + 1e-9 and e.attrs.get("captured")]
        return caps[-1].attrs["side"] if caps else None
    raise ValueError(kind)


def summary_text(events) -> str:
    return " then ".join(e.text for e in events) if events else "nothing happened"


# ----------------------------------------------------------------------------- data from recordings

def recording_stems(recordings: str) -> List[str]:
    stems = sorted(p[:-len(".events.jsonl")] for p in glob.glob(os.path.join(recordings, "*.events.jsonl")))
    stems = [s for s in stems if os.path.exists(s + ".mp4") and os.path.exists(s + ".json")]
    if not stems:
        raise FileNotFoundError(f"no recordings (<name>.mp4 + .events.jsonl + .json) in {recordings}: make them with `cli record`")
    return stems


def _events(stem: str) -> List[dict]:
    with open(stem + ".events.jsonl") as f:
        return [json.loads(l) for l in f if l.strip()]


def build_data(recordings: str, out_dir: str, chunk_s: float = 60.0, first_id: int = 1,
               view: Optional[Sequence[float]] = VIEW) -> List[dict]:
    """Each recording -> frames at the model's fps and size (the service's decode chain, as the
    demo data; `view`: the part of the screen the model looks at, None for the whole frame) cut
    into `chunk_s` streams <id>.npy + <id>.json {"game": "chess", "seconds", "events" (times
    relative to the chunk; earlier ones kept for the state), "source", "view"}."""
    from ..data.dataset import FPS, FRAME_H, FRAME_W
    from ..data.render import decode
    os.makedirs(out_dir, exist_ok=True)
    made, sid = [], first_id
    for stem in recording_stems(recordings):
        # A variant made by data/augment.py says where the picture is on its canvas.
        with open(stem + ".json") as f:
            own = json.load(f).get("view") if view is not None else None
        frames = decode(stem + ".mp4", FRAME_W, FRAME_H, FPS, own or view)
        events = _events(stem)
        per = int(chunk_s * FPS)
        for c in range(0, len(frames) // per):
            a = c * per
            chunk = np.ascontiguousarray(frames[a:a + per])
            off = a / FPS
            gt = {"game": "chess", "seconds": per / FPS, "source": os.path.basename(stem), "offset_s": off,
                  "view": list(own or view) if view is not None else None,
                  "events": [{**e, "t": round(e["t"] - off, 4)} for e in events if e["t"] <= off + per / FPS]}
            np.save(os.path.join(out_dir, f"{sid}.npy"), chunk)
            with open(os.path.join(out_dir, f"{sid}.json"), "w") as f:
                json.dump(gt, f)
            made.append({"id": sid, "source": gt["source"], "offset_s": off,
                         "spoken": sum(1 for e in ChessStream(gt).events if e.t > 0)})
            sid += 1
    return made


def write_samples(recordings: str, out_dir: str, window_s: float = 8.0, seed: int = 0,
                  seconds: Optional[float] = None, only: Optional[List[str]] = None, per_kind: int = 3,
                  train: Optional[Dict[str, List[List[str]]]] = None) -> List[str]:
    """Held-out recordings -> sample broadcasts in the demo samples' format (render.write_samples):
    broadcastN.mp4 (the recording, 1280x720 30 fps: copied whole, or its first `seconds`
    re-encoded at crf 30 to ship small) + broadcastN.json (spoken events, one question of each kind
    at `per_kind` seeded times where it is answerable, 3 s apart or more, two summaries). `only`:
    these recording names. `train`: the training games (identity.load_dirs); each sample then
    carries its game-identity check ("identity": the most plies each of its games shares with a
    training game), which bench/broadcast.ts prints with its numbers, and a recording whose game
    copies a training game is refused (it is not held out)."""
    import shutil
    import subprocess
    from ..data.render import ffmpeg_bin
    from .identity import MAX_SHARED_PLIES, check, pgn_games
    os.makedirs(out_dir, exist_ok=True)
    out = []
    stems = [s for s in recording_stems(recordings) if not only or os.path.basename(s) in only]
    identity = {}
    if train is not None:
        for stem in stems:
            with open(stem + ".pgn") as f:
                rows = check(train, {os.path.basename(stem): pgn_games(f.read())})
            bad = [r for r in rows if not r["ok"]]
            if bad:
                raise ValueError("not held out: " + "; ".join(f"{r['game']} shares {r['shared']} plies with training game {r['with']}" for r in bad)
                                 + f" (at most {MAX_SHARED_PLIES}); record another seed")
            identity[stem] = {"limit": MAX_SHARED_PLIES, "games": [{k: r[k] for k in ("game", "plies", "shared", "with")} for r in rows]}
    for n, stem in enumerate(stems, 1):
        with open(stem + ".json") as f:
            meta = json.load(f)
        full = float(meta["duration_s"])
        seconds_n = min(full, seconds) if seconds else full
        world = ChessStream({"seconds": seconds_n, "events": [e for e in _events(stem) if e["t"] <= seconds_n]})
        rng = random.Random(f"{seed}:{os.path.basename(stem)}")
        qa, taken = [], set()
        for kind in QUESTIONS:
            for _ in range(per_kind):
                for _ in range(80):
                    t = rng.randrange(20, int(seconds_n * 2) - 1) / 2
                    a = answer(world, kind, t, t - window_s, 2)
                    if a is not None and all(abs(t - u) >= 3.0 for u in taken):   # one question at a time
                        qa.append({"t": t, "kind": kind, "question": QUESTIONS[kind][0], "answer": a})
                        taken.add(t)
                        break
        qa.sort(key=lambda q: q["t"])
        mp4 = os.path.join(out_dir, f"broadcast{n}.mp4")
        if seconds_n < full:
            subprocess.run([ffmpeg_bin(), "-v", "error", "-y", "-i", stem + ".mp4", "-t", str(seconds_n), "-c:v", "libx264",
                            "-preset", "veryfast", "-crf", "30", "-g", "60", "-pix_fmt", "yuv420p", "-movflags", "+faststart", mp4], check=True)
        else:
            shutil.copyfile(stem + ".mp4", mp4)
        gt = {"game": "chess", "source": os.path.basename(stem), "seed": meta.get("seed"), "seconds": seconds_n,
              "events": [{"t": e.t, "kind": e.kind, "text": e.text} for e in world.events],
              "video": os.path.basename(mp4), "width": meta["width"], "height": meta["height"], "fps": meta["fps"],
              "note": "held-out chess self-play (cli record, a seed no training recording used); spoken events only "
                      "(chess_game.say); times in seconds from the first frame; memory questions look back at most window_s",
              "window_s": window_s, "qa": qa,
              "summaries": [{"from": a, "to": a + window_s, "answer": summary_text(world.events_between(a, a + window_s))}
                            for a in (20.0, min(60.0, seconds_n - window_s - 1))]}
        if stem in identity:
            gt["identity"] = identity[stem]
        with open(os.path.join(out_dir, f"broadcast{n}.json"), "w") as f:
            json.dump(gt, f, indent=1)
        out.append(mp4)
    return out
