"""Generated viewer questions to teach the question classifier (questions/classifier.py): each kind's
templates (phrasing_data.py) expanded at random, then said the way chat says things: a greeting or
"can you tell me" in front, "lol" or "rn" behind, US/UK spellings and chat spellings ("u", "r",
"pls"), filler words, and typos (a letter dropped, doubled, swapped or hit beside). Out-of-scope
questions (other games, the streamer, opinions, the world, the bot itself, chatter, nonsense,
emoji, and the other bundled game's questions) go through the same noise, labelled "none".

Templates fall into FOLDS folds by position; validating on one fold with a classifier trained on
the others says how it does on wordings it never trained on (questions/classifier.py chooses its
threshold so, then trains on all of them)."""
from __future__ import annotations

import random
import re
from typing import Dict, List, Optional, Sequence, Tuple

from ..games.catalogue import get
from .phrasing_data import FRAMES, KINDS, OUT_OF_SCOPE, OUT_OF_SCOPE_BY_GAME, SLOTS, WHAT_HAPPENED

NONE = "none"
SLOT = re.compile(r"\{([a-z]+)\}")

PREFIXES = ["hey", "hey kibitz", "kibitz", "yo", "bot", "@kibitz", "quick q", "question", "um", "so", "ok so", "btw", "wait",
            "guys", "chat", "lol", "hmm", "excuse me", "sorry", "pls", "hi", "hello", "oi", "yo bot", "kibitz bot", "uh", "mods"]
REQUESTS = ["can you tell me", "could you tell me", "do you know", "tell me", "any idea", "does anyone know", "i wonder",
            "wanna know", "i want to know", "mind telling me", "can u tell me", "quick question", "can i ask", "pls tell me",
            "i was wondering", "remind me", "ok but", "someone tell me", "does kibitz know", "what do you reckon"]
SUFFIXES = ["lol", "lmao", "pls", "please", "thx", "thanks", "bro", "mate", ":)", "haha", "xd", "kibitz", "plz", "exactly",
            "again", "rn", "now", "?", "??", "?!", "bot", "fr", "tho", "anyone", "chat", "guys", "ty", ":D", "lul", "kekw", "o7"]
FILLERS = ["like", "actually", "um", "uh", "tho", "again", "exactly", "even", "ok", "so", "really", "just", "btw", "anyway"]
SPELLINGS = {"you": ["u", "ya"], "are": ["r"], "your": ["ur", "yor"], "please": ["pls", "plz"], "colour": ["color"],
             "color": ["colour"], "favourite": ["favorite"], "favorite": ["favourite"], "the": ["teh", "da", "th"],
             "what": ["wat", "wht"], "level": ["lvl", "lv"], "enemies": ["enemys", "enemies"], "how": ["hw", "hiw"],
             "is": ["iz"], "many": ["mny", "manny"], "does": ["dose", "do"], "right": ["rite"], "now": ["nw"],
             "gems": ["gemz"], "lives": ["lifes", "livs"], "when": ["wen", "whn"], "whose": ["who's", "whos"]}
NEIGHBOURS = {c: n for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm") for i, c in enumerate(row)
              for n in [row[max(0, i - 1):i] + row[i + 1:i + 2]]}
EMOJI = ["😂", "🔥", "👍", "😮", "🤔", "❤️", "😭", "🙏", "👀", "💀", "🎉", "😎", "🥲", "🤣", "😡"]
MASH_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890"]


def expand(template: str, rng: random.Random, depth: int = 0) -> str:
    """A template with each {slot} replaced by one of its alternatives (expanded in turn)."""
    if depth > 5:
        raise ValueError(f"slots nest too deep in {template!r}")
    out = SLOT.sub(lambda m: expand(rng.choice(SLOTS[m.group(1)]), rng, depth + 1), template)
    return re.sub(r"\s+", " ", out).strip()


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word))
    op = rng.random()
    if op < 0.3:
        return word[:i] + word[i + 1:]
    if op < 0.55 and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op < 0.7:
        return word[:i] + word[i] + word[i:]
    near = NEIGHBOURS.get(word[i], "")
    return word[:i] + rng.choice(near) + word[i + 1:] if near else word


def chat_style(core: str, rng: random.Random) -> str:
    """The question as a viewer might type it; the core's words stay (mostly) in place."""
    parts = []
    if rng.random() < 0.2:
        parts.append(rng.choice(PREFIXES))
    if rng.random() < 0.12:
        parts.append(rng.choice(REQUESTS))
    parts.append(core)
    if rng.random() < 0.25:
        parts.append(rng.choice(SUFFIXES))
    words = " ".join(parts).split()
    words = [rng.choice(SPELLINGS[w]) if w in SPELLINGS and rng.random() < 0.15 else w for w in words]
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words) + 1), rng.choice(FILLERS))
    for _ in range(int(rng.random() < 0.3) + int(rng.random() < 0.06)):
        long = [i for i, w in enumerate(words) if len(w) >= 3 and w.isalpha()]
        if long:
            i = rng.choice(long)
            words[i] = typo(words[i], rng)
    text = " ".join(words)
    r = rng.random()
    return text.upper() if r < 0.04 else text.capitalize() if r < 0.2 else text


def nonsense(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.35:   # keyboard mash
        return " ".join(_mash(rng) for _ in range(rng.randint(1, 3)))
    if r < 0.65:   # random letters
        return " ".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(rng.randint(1, 4)))
    if r < 0.85:   # word salad from the other templates' words
        pool = [w for ts in OUT_OF_SCOPE.values() for t in ts for w in t.split() if "{" not in w]
        return " ".join(rng.choice(pool) for _ in range(rng.randint(2, 6)))
    return "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 3))) + " " + rng.choice(OUT_OF_SCOPE["chatter"])


def _mash(rng: random.Random) -> str:
    row = rng.choice(MASH_ROWS)
    i = rng.randrange(len(row) - 2)
    return row[i:i + rng.randint(3, len(row) - i)]


def kind_templates(game: str) -> Dict[str, List[str]]:
    """kind -> templates of one game (the game's own phrasings included)."""
    own = get(game).questions
    out = {}
    for kind, (_, _, templates) in KINDS[game].items():
        ts = list(WHAT_HAPPENED) if kind == "what_happened" else list(templates)
        out[kind] = ts + [q.replace(" ?", "") for q in own[kind] if q.replace(" ?", "") not in ts]
    return out


def none_templates(game: str) -> Dict[str, List[str]]:
    """topic -> templates of questions this game's package does not answer (other games' kinds included)."""
    topics = {k: list(v) for k, v in OUT_OF_SCOPE.items()}
    topics["this_game"] = list(OUT_OF_SCOPE_BY_GAME.get(game, []))
    topics["frames"] = list(FRAMES)
    mine = set(KINDS[game])
    topics["other_games_kinds"] = [t for other, kinds in KINDS.items() if other != game
                                   for kind, (_, _, ts) in kinds.items() if kind not in mine for t in ts]
    return topics


FOLDS = 5


def _fold(templates: Sequence[str], fold: Optional[int], held: bool) -> List[str]:
    """Templates of one fold (held) or of the others (not held); fold None: all of them."""
    if fold is None:
        return list(templates)
    keep = [t for i, t in enumerate(templates) if (i % FOLDS == fold) == held]
    return keep or list(templates)


def generate(game: str, per_kind: int, n_none: int, seed: int, fold: Optional[int] = None, held: bool = False) -> List[Tuple[str, str]]:
    """(question, kind or "none") pairs: `per_kind` of each kind, `n_none` out-of-scope, shuffled.
    With a fold: only that fold's templates (held, to validate) or only the other folds' (to train)."""
    rng = random.Random(f"{game}/{fold}/{held}/{seed}")
    out = []
    for kind, ts in kind_templates(game).items():
        ts = _fold(ts, fold, held)
        out += [(chat_style(expand(rng.choice(ts), rng), rng), kind) for _ in range(per_kind)]
    topics = {k: _fold(v, fold, held) for k, v in none_templates(game).items()}
    names = sorted(topics)
    for _ in range(n_none):
        if rng.random() < 0.12:
            out.append((nonsense(rng), NONE))
        else:
            out.append((chat_style(expand(rng.choice(topics[rng.choice(names)]), rng), rng), NONE))
    rng.shuffle(out)
    return out


def kinds_manifest(game: str) -> List[dict]:
    """The manifest's question kinds: id, label, canonical question (what the decoder and recall
    were trained on: the game's first phrasing) and examples, in the game's order."""
    own = get(game).questions
    return [{"kind": kind, "label": label, "question": own[kind][0], "examples": list(examples)}
            for kind, (label, examples, _) in KINDS[game].items()]
