"""Record a real game playing itself, with the game's own events timed against the video.

    cli record --game chess --seconds 60 --seed 1 --out models/.cache/game/chess

Chess: xboard (the board, its clocks and its move record) with two Fairy-Max engines (xboard's
own default engine in Debian) playing each other on a private X server (Xvfb), captured with
ffmpeg x11grab at 1280x720, 30 fps, H.264. Writes to <out>/:

  <name>.mp4            the video (its first frame is time zero)
  <name>.events.jsonl   one event a line: {"t", "kind", "text", ...} (models/README.md, "Teach kibitz your game")
  <name>.json           metadata: seed, options, versions, board box, the measured alignment
  <name>.pgn            xboard's own record of the games (SAN, results)
  <name>.xboard.jsonl   every xboard <-> engine protocol line with its time (xboard_relay.py)

Time zero: x11grab stamps each frame with CLOCK_REALTIME (ffmpeg prints the first one as the
input's `start:`), and the relay stamps each move with time.time(), the same clock. An event's
t is the move's stamp minus the first frame's; no sleep or start-up guess is involved. The
recording then measures itself: the board's pixels must change in the first frames after
each move's t (`alignment` in <name>.json). Recording takes `seconds` of wall time plus ~5 s.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

import numpy as np

from ..data.render import ffmpeg_bin
from .chess_events import build_events

W, H, FPS = 1280, 720, 30
XBOARD, ENGINE = "/usr/games/xboard", "/usr/games/fairymax"
APT = "apt-get install -y xvfb xboard fairymax ffmpeg"
# xboard 4.9.1 with -size bulky at -x 346 -y 16 (centred): the board's grid, in video pixels.
BOARD_BOX = (348, 118, 585, 585)  # x, y, w, h: 8 squares of 72 px + 1 px lines
WINDOW_XY = (346, 16)

# Seeded openings, in coordinate moves (xboard reads them from a PGN). Fixed-depth engines play
# the same game from the same position, so the seed chooses where each game starts.
OPENINGS: List[Tuple[str, List[str]]] = [
    ("italian game", "e2e4 e7e5 g1f3 b8c6 f1c4 f8c5"), ("ruy lopez", "e2e4 e7e5 g1f3 b8c6 f1b5 a7a6"),
    ("sicilian defence", "e2e4 c7c5 g1f3 d7d6 d2d4 c5d4"), ("french defence", "e2e4 e7e6 d2d4 d7d5"),
    ("caro-kann defence", "e2e4 c7c6 d2d4 d7d5"), ("scandinavian defence", "e2e4 d7d5 e4d5 d8d5"),
    ("queen's gambit declined", "d2d4 d7d5 c2c4 e7e6"), ("queen's gambit accepted", "d2d4 d7d5 c2c4 d5c4"),
    ("king's indian defence", "d2d4 g8f6 c2c4 g7g6 b1c3 f8g7"), ("english opening", "c2c4 e7e5 b1c3 g8f6"),
    ("king's gambit", "e2e4 e7e5 f2f4 e5f4"), ("pirc defence", "e2e4 d7d6 d2d4 g8f6 b1c3 g7g6"),
    ("slav defence", "d2d4 d7d5 c2c4 c7c6"), ("dutch defence", "d2d4 f7f5"),
    ("scotch game", "e2e4 e7e5 g1f3 b8c6 d2d4 e5d4"), ("petrov's defence", "e2e4 e7e5 g1f3 g8f6"),
]
OPENINGS = [(n, m.split()) for n, m in OPENINGS]  # type: ignore[misc]


def check_tools() -> None:
    for path in ("Xvfb", XBOARD, ENGINE):
        if not shutil.which(path):
            raise FileNotFoundError(f"{path} not found: {APT}")
    ffmpeg_bin()


def _read(path: str) -> str:
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def _version(argv: List[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _xvfb() -> Tuple[subprocess.Popen, str]:
    """A private X server on a free display (Xvfb picks it: -displayfd)."""
    r, w = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", f"{W}x{H}x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        num = f.readline().strip()
    if not num:
        xvfb.kill()
        raise RuntimeError("Xvfb did not start (no display number); run `Xvfb -displayfd 1` to see why")
    return xvfb, f":{num}"


def _capture(display: str, seconds: float, mp4: str, log: str) -> Tuple[subprocess.Popen, float]:
    """Starts x11grab and returns it with the first frame's CLOCK_REALTIME (ffmpeg's input `start:`)."""
    with open(log, "w") as err:  # the child keeps its own copy
        ff = subprocess.Popen([ffmpeg_bin(), "-hide_banner", "-y", "-f", "x11grab", "-draw_mouse", "0", "-framerate", str(FPS),
                               "-video_size", f"{W}x{H}", "-i", display, "-t", f"{seconds}",
                               # the fps filter places each grab by its own timestamp (nearest slot); ffmpeg's
                               # default frame-rate sync keeps late grabs in order instead and shifted the
                               # video ~80 ms behind the clock after the encoder's start-up stall
                               "-vf", f"fps={FPS}", "-fps_mode", "passthrough",
                               "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", str(2 * FPS), "-pix_fmt", "yuv420p",
                               "-movflags", "+faststart", mp4], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 20
    while time.time() < deadline:
        m = re.search(r"start: (\d+\.\d+)", _read(log))
        if m:
            return ff, float(m.group(1))
        if ff.poll() is not None:
            break
        time.sleep(0.05)
    ff.kill()
    raise RuntimeError(f"ffmpeg x11grab did not start on {display}: {_read(log)[-500:]}")


def _xboard(display: str, work: str, seed: int, depth: int, pace: Tuple[float, float], depths: str,
            openings: List[Tuple[str, List[str]]]) -> subprocess.Popen:
    with open(os.path.join(work, "openings.pgn"), "w") as f:
        for name, moves in openings:
            f.write(f'[Event "{name}"]\n\n' + " ".join(moves) + " *\n\n")
    relay = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xboard_relay.py")
    if " " in sys.executable + relay + work:
        raise ValueError(f"xboard splits engine commands on spaces; use paths without them ({sys.executable}, {relay}, {work})")
    eng = lambda side: f"{sys.executable} {relay} {work}/relay_{side}.jsonl {seed} {side} {pace[0]} {pace[1]} {depths} {ENGINE}"
    argv = [XBOARD, "-settingsFile", f"{work}/xboardrc", "-saveSettingsOnExit", "false",
            "-fcp", eng("first"), "-scp", eng("second"), "-fd", work, "-sd", work,
            # "new" only: xboard's default init string also sends "random", which makes Fairy-Max vary its play
            "-firstInitString", "new\n", "-secondInitString", "new\n", "-depth", str(depth),
            "-matchMode", "true", "-matchGames", "1000", "-matchPause", "4000", "-tc", "30",
            "-loadGameFile", f"{work}/openings.pgn", "-loadGameIndex", "-1", "-timeDelay", "0",
            "-saveGameFile", f"{work}/games.pgn", "-pgnExtendedInfo", "true",
            "-size", "bulky", "-x", str(WINDOW_XY[0]), "-y", str(WINDOW_XY[1]), "-xanimate", "-flipView", "false", "-autoFlipView", "false",
            "-soundMove", "", "-soundBell", "", "-popupExitMessage", "false", "-popupMoveErrors", "false",
            "-messageSuppress", "Right-clicking menu item or dialog text pops up help on it"]
    env = {**os.environ, "DISPLAY": display, "HOME": work, "LIBGL_ALWAYS_SOFTWARE": "1"}
    with open(f"{work}/xboard.log", "w") as log:
        return subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def _stop(p: Optional[subprocess.Popen], sig: int = signal.SIGTERM, wait_s: float = 5.0) -> None:
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(wait_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def seed_openings(seed: int, seconds: float) -> List[Tuple[str, List[str]]]:
    """The openings a recording of `seconds` with this seed loads, in order (xboard takes them in turn)."""
    rng = random.Random(seed)
    # a game lasts well over 30 s at this pace, so the list outlasts the recording
    return [OPENINGS[i] for i in rng.sample(range(len(OPENINGS)), len(OPENINGS))] * (int(seconds / (30 * len(OPENINGS))) + 1)


def replay_games(seed: int, games: int, depth: int = 4, depths: Optional[List[int]] = None, timeout_s: float = 600.0) -> str:
    """The PGN of the first `games` games a recording with this seed plays, without video, at engine
    speed (no move is held): fixed-depth engines, the seed's openings and its seeded depth draws
    decide each game, so this is the same games a recording played, in seconds instead of real time.
    For the game-identity check when a training recording's files are gone (cli replay-games, then
    game-identity --train on its folder). May return a few games more than asked (the match runs
    on while it is read)."""
    check_tools()
    openings = seed_openings(seed, 30 * len(OPENINGS) * (games // len(OPENINGS) + 1))
    with tempfile.TemporaryDirectory(prefix="kibitz_replay_") as work:
        xvfb, display = _xvfb()
        xb = None
        try:
            xb = _xboard(display, work, seed, depth, (0.0, 0.0), ",".join(map(str, depths)) if depths else "-", openings)
            deadline = time.time() + timeout_s
            while time.time() < deadline and len(re.findall(r"^\[Result ", _read(f"{work}/games.pgn"), re.M)) < games:
                if xb.poll() is not None:
                    break
                time.sleep(0.5)
        finally:
            _stop(xb)
            _stop(xvfb)
        pgn = _read(f"{work}/games.pgn")
    found = len(re.findall(r"^\[Result ", pgn, re.M))
    if found < games:
        raise RuntimeError(f"seed {seed}: xboard finished {found} of {games} games in {timeout_s:.0f} s")
    return pgn


def record(out_dir: str, name: str = "chess", seconds: float = 60.0, seed: int = 1, depth: int = 4,
           pace: Tuple[float, float] = (1.0, 2.5), depths: Optional[List[int]] = None) -> dict:
    """Records `seconds` of self-play (that much wall time) and writes the files listed above.
    `depths`: each engine's search depth is drawn per game from this list (seeded, xboard_relay.py)
    instead of `depth` for all, so the same openings give many different games."""
    check_tools()
    os.makedirs(out_dir, exist_ok=True)
    openings = seed_openings(seed, seconds)
    mp4 = os.path.join(out_dir, f"{name}.mp4")
    with tempfile.TemporaryDirectory(prefix="kibitz_game_") as work:
        xvfb, display = _xvfb()
        ff = xb = None
        try:
            ff, t0 = _capture(display, seconds, mp4, f"{work}/ffmpeg.log")
            # the game starts after the capture does, so its first moves are on video
            xb = _xboard(display, work, seed, depth, pace, ",".join(map(str, depths)) if depths else "-", openings)
            if ff.wait(seconds + 60) != 0:
                raise RuntimeError(f"ffmpeg failed: {_read(f'{work}/ffmpeg.log')[-800:]}")
            _stop(xb)  # SIGTERM: xboard ends the game cleanly and saves it to games.pgn
            xb_version = _version([XBOARD, "--version"])
        finally:
            _stop(xb)
            _stop(ff, signal.SIGINT)
            _stop(xvfb)
        pgn = _read(f"{work}/games.pgn")
        relay = _read(f"{work}/relay_first.jsonl").splitlines() + _read(f"{work}/relay_second.jsonl").splitlines()
        if not pgn or not relay:
            raise RuntimeError(f"xboard saved no game or the engines never spoke; xboard said: {_read(f'{work}/xboard.log')[-800:]}")
    changes = board_changes(mp4, BOARD_BOX)
    n_frames, duration = len(changes), len(changes) / FPS
    events, summary = build_events(pgn, relay, openings, t0, duration)
    with open(os.path.join(out_dir, f"{name}.events.jsonl"), "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    with open(os.path.join(out_dir, f"{name}.pgn"), "w") as f:
        f.write(pgn)
    with open(os.path.join(out_dir, f"{name}.xboard.jsonl"), "w") as f:
        f.writelines(l + "\n" for l in sorted(relay, key=lambda l: json.loads(l)["t"]))
    engine = re.search(r'^\[White "(.*)"\]$', pgn, re.M)
    meta = {
        "game": "chess", "program": xb_version, "engine": engine.group(1) if engine else ENGINE,
        "ffmpeg": _version([ffmpeg_bin(), "-version"]), "seed": seed, "depth": depth, "depths": depths, "pace_s": list(pace),
        "openings": [n for n, _ in openings[:summary["games"]]], "seconds": seconds, "duration_s": duration,
        "frames": n_frames, "fps": FPS, "width": W, "height": H, "video_start_epoch": t0,
        "time_zero": "the first video frame; event t = move time (relay, time.time()) - first frame time (x11grab, CLOCK_REALTIME)",
        "board_box": list(BOARD_BOX), **summary,
        "alignment": alignment(events, changes),
    }
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    return meta


# ----------------------------------------------------------------------------- checking the times

def board_changes(mp4: str, box: Tuple[int, int, int, int] = BOARD_BOX) -> np.ndarray:
    """[frames, 8, 8]: how much each square changed from the previous frame (mean absolute grey
    change; row 0 = rank 8, as xboard shows it with white at the bottom). Frame i is at i / FPS."""
    x, y, w, h = box
    n = 8 * 16  # each square -> 16x16 grey pixels
    vf = f"crop={w}:{h}:{x}:{y},scale={n}:{n}:flags=area,format=gray"
    # streamed a second at a time: a 20-minute recording would be ~6 GB as one float array
    p = subprocess.Popen([ffmpeg_bin(), "-v", "error", "-i", mp4, "-vf", vf, "-f", "rawvideo", "-"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, prev, size = [], None, n * n * FPS
    while True:
        raw = p.stdout.read(size)
        if not raw:
            break
        f = np.frombuffer(raw[:len(raw) // (n * n) * n * n], dtype=np.uint8).reshape(-1, n, n).astype(np.float32)
        seq = f if prev is None else np.concatenate([prev, f])
        d = np.abs(seq[1:] - seq[:-1]).reshape(-1, 8, 16, 8, 16).mean(axis=(2, 4))
        out.append(d if prev is not None else np.concatenate([np.zeros((1, 8, 8), np.float32), d]))
        prev = f[-1:]
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        raise RuntimeError(f"ffmpeg could not decode {mp4}: {err[-500:]}")
    return np.concatenate(out) if out else np.zeros((0, 8, 8), np.float32)


CHANGE = 12.0  # grey levels: a piece arriving on or leaving a square moves its mean by 30-60; codec noise < 3


def _square(name: str) -> Tuple[int, int]:
    return 8 - int(name[1]), "abcdefgh".index(name[0])


def alignment(events: List[dict], changes: np.ndarray, before_s: float = 0.3, after_s: float = 0.5) -> dict:
    """Checks every move event against the pixels: the first frame in [t - before_s, t + after_s]
    whose board changed must change the move's own from and to squares. lag = that frame's time - t
    (the game's drawing time plus up to one frame). Also counts board changes far from any event."""
    big = changes.max(axis=(1, 2)) > CHANGE
    end = len(changes) / FPS
    moves = [e for e in events if "uci" in e and before_s < e["t"] < end - after_s]
    lags, wrong = [], 0
    for e in moves:
        lo, hi = max(1, int(np.floor((e["t"] - before_s) * FPS))), min(len(changes), int(np.ceil((e["t"] + after_s) * FPS)))
        hit = next((i for i in range(lo, hi) if big[i]), None)
        lags.append(None if hit is None else round(hit / FPS - e["t"], 4))
        if hit is not None:
            seen = changes[hit:hit + 3].max(axis=0)  # a redraw may straddle two grabs
            wrong += not all(seen[_square(sq)] > CHANGE for sq in (e["uci"][:2], e["uci"][2:4]))
    near = np.zeros(len(changes), dtype=bool)
    for e in events:
        i = int(e["t"] * FPS)
        near[max(0, i - int(before_s * FPS)):i + int(after_s * FPS) + 1] = True
    first = min((e["t"] for e in moves), default=end)
    near[:max(0, int((first - before_s) * FPS))] = True  # xboard's window appears and loads the opening before that
    found = [l for l in lags if l is not None]
    return {"moves_checked": len(moves), "moves_without_change": lags.count(None), "moves_wrong_squares": wrong,
            "lag_s": {"mean": round(float(np.mean(found)), 4), "min": min(found), "max": max(found)} if found else None,
            "lags_s": lags, "quiet_frames": int((~near).sum()), "quiet_frames_changed": int((big & ~near).sum()),
            "method": f"first frame in [t-{before_s}, t+{after_s}] s whose board changes by > {CHANGE} grey levels in a square; "
                      "it must change the move's from and to squares"}
