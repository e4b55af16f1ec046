"""Sits between xboard and one chess engine and writes down every protocol line with its time.

    python3 xboard_relay.py LOG SEED SIDE PACE_MIN PACE_MAX DEPTHS ENGINE [ARGS...]

xboard starts this instead of the engine (`-fcp`/`-scp`). Lines pass through unchanged; each is
appended to LOG as {"t": time.time(), "dir": "in"|"out", "line": ...}. "in" is xboard -> engine,
"out" is engine -> xboard, stamped right after xboard has it. time.time() is CLOCK_REALTIME, the
clock ffmpeg's x11grab stamps frames with, so a move's time and the video's time zero are read
off one clock.

The relay also paces the engine: an engine move is held until PACE_MIN..PACE_MAX seconds (a
seeded draw per move) after xboard's last line, so a fixed-depth engine that answers in
milliseconds plays at a pace a viewer can follow.

DEPTHS ("3,4,5", or "-" to pass xboard's own): each `sd N` xboard sends (once per game, after
`new`) is replaced by a seeded draw from the list, so a long recording from a handful of openings
is still many different games (fixed-depth engines otherwise replay the same game from the same
opening), and the same seed plays the same games again. The log keeps xboard's line and notes the
depth the engine got. Standard library only: it runs once per engine.
"""
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time

MOVE = re.compile(rb"^move\s+\S+")
DEPTH = re.compile(rb"^sd\s+\d+")


def main(argv) -> int:
    log_path, seed, side, lo, hi = argv[0], argv[1], argv[2], float(argv[3]), float(argv[4])
    depths = [int(d) for d in argv[5].split(",")] if argv[5] != "-" else []
    # xboard interrupts engines with SIGINT before it sends a move (protocol v1 habit); the relay
    # must outlive that, and the engine (whose stdin is ours) never sees it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = subprocess.Popen(argv[6:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    rng = random.Random(f"{seed}:{side}")
    depth_rng = random.Random(f"{seed}:{side}:depth")
    log = open(log_path, "a", buffering=1)
    lock = threading.Lock()
    last_in = [time.time()]

    def note(direction: str, line: bytes, t: float) -> None:
        with lock:
            log.write(json.dumps({"t": t, "dir": direction, "line": line.decode(errors="replace").rstrip("\r\n")}) + "\n")

    def to_engine() -> None:
        for line in sys.stdin.buffer:
            last_in[0] = time.time()
            note("in", line, last_in[0])
            if depths and DEPTH.match(line):
                line = b"sd %d\n" % depth_rng.choice(depths)
                note("depth", line, last_in[0])
            try:
                engine.stdin.write(line)
            except BrokenPipeError:
                break
        try:
            engine.stdin.close()
        except BrokenPipeError:
            pass

    threading.Thread(target=to_engine, daemon=True).start()
    out = sys.stdout.buffer
    for line in engine.stdout:
        if MOVE.match(line):
            wait = last_in[0] + rng.uniform(lo, hi) - time.time()
            if wait > 0:
                time.sleep(wait)
        try:
            out.write(line)
            out.flush()
        except BrokenPipeError:
            break
        note("out", line, time.time())
    engine.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
