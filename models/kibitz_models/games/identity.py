"""Games by identity, not by recording: which held-out game is a near-copy of a training game.

The recorder's engines play at fixed depths, so a seed's opening and depth pair decide the whole
game, and two recordings can hold the same game move for move. "Held out" has to mean a
different game: no held-out game may share more than ``MAX_SHARED_PLIES`` consecutive plies
(half-moves) with any training game, wherever in the two games the stretch sits (a game that
transposes into a known line counts too). The loaded opening itself is at most 6 plies, so the
rule allows a shared opening and a few moves, never a shared game.

``cli game-identity --train DIR --heldout DIR`` prints the check for every held-out game and
exits 2 when one fails; the tables in EXPERIMENTS.md print it with their numbers.
"""
import glob
import os
import re
from typing import Dict, List, Sequence, Tuple

MAX_SHARED_PLIES = 10

_COMMENT = re.compile(r"\{[^}]*\}|;[^\n]*")
_TAG = re.compile(r"^\[.*\]\s*$", re.M)
_MOVE_NUMBER = re.compile(r"^\d+\.(\.\.)?$")
_RESULTS = {"1-0", "0-1", "1/2-1/2", "*"}


def pgn_games(text: str) -> List[List[str]]:
    """The games of a PGN file, each as its plies in SAN (comments, numbers and results dropped)."""
    games: List[List[str]] = []
    for block in re.split(r"\n\s*\n(?=\[)", text.strip()):
        body = _COMMENT.sub(" ", _TAG.sub(" ", block))
        plies = []
        for tok in body.split():
            tok = re.sub(r"^\d+\.(\.\.)?", "", tok)  # "12.Nf3" and "12...Nf3" as well as "12." alone
            if not tok or _MOVE_NUMBER.match(tok) or tok in _RESULTS:
                continue
            plies.append(tok.rstrip("!?+#"))
        if plies:
            games.append(plies)
    return games


def shared_plies(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest run of consecutive plies the two games share, anywhere in either."""
    best = 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def load_dir(path: str) -> Dict[str, List[List[str]]]:
    """<name>.pgn files of a folder (recordings), by name."""
    out = {}
    for f in sorted(glob.glob(os.path.join(path, "*.pgn"))):
        with open(f) as fh:
            out[os.path.splitext(os.path.basename(f))[0]] = pgn_games(fh.read())
    if not out:
        raise FileNotFoundError(f"no .pgn files in {path} (cli record writes <name>.pgn beside each recording)")
    return out


def load_dirs(paths: Sequence[str]) -> Dict[str, List[List[str]]]:
    """The games of several folders (recordings, cli replay-games) as one training set, by name."""
    return {name: games for p in paths for name, games in load_dir(p).items()}


def check(train: Dict[str, List[List[str]]], heldout: Dict[str, List[List[str]]], limit: int = MAX_SHARED_PLIES) -> List[dict]:
    """Per held-out game: its plies, the training game it shares most with, how many plies, and whether that is within `limit`."""
    rows = []
    for name, games in heldout.items():
        for gi, g in enumerate(games):
            worst: Tuple[int, str] = (0, "-")
            for tname, tgames in train.items():
                for ti, t in enumerate(tgames):
                    n = shared_plies(g, t)
                    if n > worst[0]:
                        worst = (n, f"{tname}#{ti + 1}")
            rows.append({"game": f"{name}#{gi + 1}", "plies": len(g), "shared": worst[0], "with": worst[1], "ok": worst[0] <= limit})
    return rows


def table(rows: List[dict], limit: int = MAX_SHARED_PLIES) -> str:
    """The check as a Markdown table."""
    lines = [f"| held-out game | plies | most plies shared with a training game | with | at most {limit} |", "|---|---|---|---|---|"]
    lines += [f"| {r['game']} | {r['plies']} | {r['shared']} | {r['with']} | {'yes' if r['ok'] else '**no**'} |" for r in rows]
    return "\n".join(lines)
