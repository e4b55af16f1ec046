"""Chess events for kibitz from the game's own record: xboard's PGN (what each move was: SAN with
x, +, #, O-O, =Q, and each game's result) and the relay's protocol log (when xboard got each
move). No I/O here: `build_events` takes their text and returns the event list, so it is tested
with a small fixture (models/tests/test_record_game.py).

An event is {"t": seconds since the first video frame, "kind", "text": the line to say, ...}
(the format is in models/README.md, "Teach kibitz your game").
"""
from __future__ import annotations

import json
import re
from typing import Dict, List, Optional, Sequence, Tuple

PIECE = {"p": "pawn", "n": "knight", "b": "bishop", "r": "rook", "q": "queen", "k": "king"}
VALUE = {"p": 1, "n": 3, "b": 3, "r": 5, "q": 9, "k": 0}
START = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR"
RESULTS = ("1-0", "0-1", "1/2-1/2", "*")
KINDS = ("game_start", "move", "capture", "castle", "promotion", "check", "checkmate", "game_over")


class Board:
    """Just enough of a board to name what a move took and count material. Legality is the
    engine's and xboard's business; this only applies moves it is told."""

    def __init__(self) -> None:
        self.sq: Dict[str, str] = {}
        for r, row in enumerate(START.split("/")):
            f = 0
            for c in row:
                if c.isdigit():
                    f += int(c)
                else:
                    self.sq["abcdefgh"[f] + str(8 - r)] = c
                    f += 1

    def apply(self, uci: str) -> Tuple[str, Optional[str], bool]:
        """Plays a coordinate move (e2e4, e1g1, e7e8q). Returns (piece, captured piece, en passant)."""
        a, b, promo = uci[:2], uci[2:4], uci[4:5]
        piece = self.sq.pop(a)
        captured = self.sq.get(b)
        en_passant = piece.lower() == "p" and a[0] != b[0] and captured is None
        if en_passant:
            captured = self.sq.pop(b[0] + a[1])
        if piece.lower() == "k" and abs(ord(a[0]) - ord(b[0])) == 2:  # castling: the rook jumps too
            rf, rt = ("h", "f") if b[0] == "g" else ("a", "d")
            self.sq[rt + a[1]] = self.sq.pop(rf + a[1])
        self.sq[b] = (promo.upper() if piece.isupper() else promo.lower()) if promo else piece
        return piece.lower(), captured.lower() if captured else None, en_passant

    def material(self) -> Dict[str, int]:
        m = {"white": 0, "black": 0}
        for p in self.sq.values():
            m["white" if p.isupper() else "black"] += VALUE[p.lower()]
        return m


def parse_pgn(text: str) -> List[dict]:
    """xboard's saved games -> [{"headers", "san": [...], "result", "reason"}]."""
    games = []
    for chunk in re.split(r"\n(?=\[Event )", text.strip()):
        if not chunk.strip():
            continue
        headers = dict(re.findall(r'^\[(\w+) "(.*)"\]$', chunk, re.M))
        body = "\n".join(l for l in chunk.splitlines() if not l.startswith("["))
        comments = re.findall(r"\{([^}]*)\}", body)
        tokens = re.sub(r"\{[^}]*\}", " ", body).split()
        san = [t for t in tokens if not re.match(r"^\d+\.+$", t) and t not in RESULTS]
        result = next((t for t in reversed(tokens) if t in RESULTS), "*")
        games.append({"headers": headers, "san": san, "result": result, "reason": comments[-1] if comments else ""})
    return games


def parse_relay(lines: Sequence[str]) -> Tuple[List[Tuple[float, str]], List[Tuple[float, str]], List[float]]:
    """Relay log lines (both engines) -> (moves [(t, uci)], results [(t, "0-1 {...}")], new-game times)."""
    moves, results, news = [], [], []
    for rec in sorted((json.loads(l) for l in lines if l.strip()), key=lambda r: r["t"]):
        line = rec["line"].strip()
        if rec["dir"] == "out" and line.startswith("move "):
            moves.append((rec["t"], line.split()[1]))
        elif rec["dir"] == "in" and line.startswith("result ") and not line.startswith("result *"):
            if not results or rec["t"] - results[-1][0] > 0.5:  # xboard tells both engines
                results.append((rec["t"], line[len("result "):]))
        elif rec["dir"] == "in" and line == "new":
            news.append(rec["t"])
    return moves, results, news


def _dest(san: str, white: bool) -> str:
    if san.startswith("O-O"):
        return ("c" if san.startswith("O-O-O") else "g") + ("1" if white else "8")
    return re.findall(r"[a-h][1-8]", san)[-1]


def move_line(side: str, piece: str, to: str, captured: Optional[str], en_passant: bool, san: str) -> Tuple[str, str]:
    """(kind, the line to say) for one move."""
    if san.startswith("O-O"):
        kind, text = "castle", f"{side} castles {'queenside' if san.startswith('O-O-O') else 'kingside'}"
    elif captured:
        kind, text = "capture", f"{side}'s {PIECE[piece]} takes the {PIECE[captured]} on {to}" + (" en passant" if en_passant else "")
    else:
        kind, text = "move", f"{side} plays {PIECE[piece]} to {to}"
    if "=" in san:
        kind, text = "promotion", f"{text}, promoting to a {PIECE[san.split('=')[1][0].lower()]}"
    if "#" in san:
        kind, text = "checkmate", f"{text}, checkmate"
    elif "+" in san:
        kind, text = "check", f"{text}, check"
    return kind, text


def result_line(result: str) -> Tuple[str, str]:
    """'0-1 {Xboard adjudication: Checkmate}' -> (reason, the line to say)."""
    score = result.split()[0]
    reason = re.sub(r"^xboard adjudication:\s*", "", result[len(score):].strip(" {}"), flags=re.I).lower()
    if "mate" in reason and "stalemate" not in reason:
        reason = "checkmate"
    winner = {"1-0": "white", "0-1": "black"}.get(score)
    return reason, (f"{winner} wins by {reason}" if winner else f"the game is drawn by {reason}") if reason else \
        (f"{winner} wins" if winner else "the game is drawn")


def build_events(pgn: str, relay_lines: Sequence[str], openings: Sequence[Tuple[str, List[str]]],
                 t0: float, duration: float) -> Tuple[List[dict], dict]:
    """Events inside [0, duration] with t = relay time - t0 (t0: the first frame's CLOCK_REALTIME).

    openings[g] = (name, coordinate moves) that xboard loaded before game g: those moves are on
    the board when the game appears, so they are state, not events. Returns (events, summary)."""
    moves, results, news = parse_relay(relay_lines)
    events: List[dict] = []
    skipped, mi = 0, 0
    games = parse_pgn(pgn)
    for g, game in enumerate(games):
        name, opening = openings[g]
        board = Board()
        for uci in opening:
            board.apply(uci)
        first = game["san"][:len(opening)]
        if [_dest(s, i % 2 == 0) for i, s in enumerate(first)] != [u[2:4] for u in opening]:
            raise ValueError(f"game {g + 1}: xboard's record starts {first}, not the opening loaded ({name}: {opening})")
        t_first = moves[mi][0] if mi < len(moves) else float("inf")
        t_new = max([t for t in news if t <= t_first] or [t_first])
        events.append({"t": t_new, "kind": "game_start", "text": f"a new game starts from the {name}", "game": g + 1,
                       "opening": name, "white": game["headers"].get("White", ""), "black": game["headers"].get("Black", ""),
                       "state": {"to_move": "white" if len(opening) % 2 == 0 else "black", "move_number": len(opening) // 2 + 1,
                                 "material": board.material()}})
        for ply in range(len(opening), len(game["san"])):
            san, white = game["san"][ply], ply % 2 == 0
            while mi < len(moves) and moves[mi][1][2:4] != _dest(san, white):
                mi, skipped = mi + 1, skipped + 1  # a move xboard did not take (sent after the game ended)
            if mi >= len(moves):
                raise ValueError(f"game {g + 1}: no timed engine move for {san} (ply {ply + 1}); is the relay log complete?")
            t, uci = moves[mi]
            mi += 1
            if "=" in san and len(uci) == 4:  # an engine may leave the promotion piece implied
                uci += san.split("=")[1][0].lower()
            side = "white" if white else "black"
            piece, captured, ep = board.apply(uci)
            kind, text = move_line(side, piece, uci[2:4], captured, ep, san)
            events.append({"t": t, "kind": kind, "text": text, "game": g + 1, "ply": ply + 1, "side": side, "san": san,
                           "uci": uci, "piece": PIECE[piece], "captured": PIECE[captured] if captured else None,
                           "state": {"to_move": "black" if white else "white", "move_number": (ply + 1) // 2 + 1,
                                     "material": board.material()}})
        if game["result"] != "*":
            t_res = next((t for t, r in results if t >= events[-1]["t"] and r.split()[0] == game["result"]), None)
            if t_res is not None:
                reason, text = result_line(next(r for t, r in results if t == t_res))
                events.append({"t": t_res, "kind": "game_over", "text": text, "game": g + 1, "result": game["result"], "reason": reason})
    out = []
    for e in events:
        t = round(e["t"] - t0, 3)
        if 0.0 <= t <= duration:
            out.append({**e, "t": t})
    summary = {"games": len(games), "engine_moves": sum(1 for e in events if "ply" in e), "untaken_moves_skipped": skipped,
               "kinds": {k: sum(1 for e in out if e["kind"] == k) for k in KINDS}}
    return out, summary
