"""The games the toolkit can teach, behind one surface: a game's words (added to the tokenizer),
its questions and how each is answered from the ground truth, its summaries, and how a data
stream's ground truth is loaded. `ModelConfig.game` names the game a model was taught.

    demo   the synthetic world (world.py, render.py): ground truth re-simulated from the seed
    chess  recorded xboard self-play (games/chess.py): ground truth from the stream's <id>.json
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, List, Optional, Sequence, Tuple


@dataclass(frozen=True)
class Game:
    name: str
    words: Sequence[str]                       # extra tokenizer words
    questions: Dict[str, List[str]]            # kind -> phrasings (the first is the one evaluation asks)
    time_questions: frozenset                  # kinds whose answer is a time (not asked across a still picture)
    answer: Callable[..., Optional[str]]       # (world, kind, t, window_start, fps, clock_offset) -> answer | None
    summary_text: Callable[[list], str]
    load: Callable[[str, int, float], object]  # (data_dir, stream id, seconds) -> world (events, events_between)
    recall: Sequence[dict] = ()                # memory questions the runtime answers from what was said (manifest "recall")
    view: Optional[Tuple[float, float, float, float]] = None   # the part of the screen a new model looks at (ModelConfig.view)


def _demo() -> Game:
    from ..data.render import QUESTIONS, RECALL, answer, summary_text
    from ..data.world import World
    return Game("demo", (), QUESTIONS, frozenset({"when_hit"}), answer, summary_text, lambda d, s, sec: World(s, sec), RECALL)


def _load_recorded(data_dir: str, stream: int, seconds: float):
    from .chess import ChessStream
    with open(os.path.join(data_dir, f"{stream}.json")) as f:
        return ChessStream(json.load(f))


def _chess() -> Game:
    from . import chess as c
    return Game("chess", tuple(c.WORDS), c.QUESTIONS, frozenset(c.TIME_QUESTIONS), c.answer, c.summary_text, _load_recorded,
                view=c.VIEW)


GAMES = {"demo": _demo, "chess": _chess}


@lru_cache(maxsize=None)   # build_clip asks once per training clip
def get(name: str) -> Game:
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}: the toolkit knows {sorted(GAMES)}")
    return GAMES[name]()


def _first_stream(data_dir: str) -> dict:
    """The ground truth of a data directory's first stream (<id>.json; {} when there is none)."""
    for f in sorted(os.listdir(data_dir)):
        if f.endswith(".json") and f[:-5].isdigit():
            with open(os.path.join(data_dir, f)) as fh:
                return json.load(fh)
    return {}


def of_data(data_dir: str) -> str:
    """The game a data directory holds: its streams' <id>.json say "game" (demo data says none)."""
    return _first_stream(data_dir).get("game", "demo")


def view_of_data(data_dir: str) -> Optional[Tuple[float, float, float, float]]:
    """The view a data directory's frames were decoded with (game-data writes "view"; None: the whole frame)."""
    v = _first_stream(data_dir).get("view")
    return tuple(float(x) for x in v) if v is not None else None


def tokenizer_for(name: str):
    from ..data.tokenizer import Tokenizer
    return Tokenizer(get(name).words)
