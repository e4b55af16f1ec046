"""Chess as the toolkit teaches it (games/chess.py, games/catalogue.py): the spoken lines, the questions'
answers from a recorder event log, and the tokenizer that keeps the demo's ids."""
import json
import os
import random
import unittest

import numpy as np

from kibitz_models.games import chess as c
from kibitz_models.data.dataset import build_clip
from kibitz_models.games.catalogue import get, tokenizer_for
from kibitz_models.data.tokenizer import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ev(t, kind, side=None, captured=None, to_move=None, **kw):
    e = {"t": t, "kind": kind, "text": "recorder line", **kw}
    if side:
        e["side"] = side
    if captured:
        e["captured"] = captured
    if to_move:
        e["state"] = {"to_move": to_move, "move_number": 5, "material": {"white": 39, "black": 39}}
    return e


LOG = [
    _ev(0.5, "game_start", to_move="white"),
    _ev(2.0, "move", "white", to_move="black"),
    _ev(4.0, "capture", "black", "knight", to_move="white"),
    _ev(6.0, "castle", "white", to_move="black"),
    _ev(8.0, "check", "black", to_move="white"),
    _ev(10.0, "check", "white", "pawn", to_move="black"),     # a capture that gives check
    _ev(12.0, "checkmate", "black", to_move="white"),
    _ev(12.01, "game_over", result="0-1"),
    _ev(16.0, "game_start", to_move="black"),
]


class TestLines(unittest.TestCase):
    def test_each_kind_has_a_short_line_and_plain_moves_are_not_commentary(self):
        said = [c.say(e) for e in LOG]
        self.assertEqual(said, ["a new game begins", None, "black captures", "white castles", None,
                                "white captures", "checkmate", "black wins", "a new game begins"])
        self.assertEqual(c.say(_ev(1, "promotion", "white", to_move="black")), "white promotes a pawn")
        self.assertEqual(c.say(_ev(1, "game_over", result="1/2-1/2")), "the game is drawn")
        self.assertEqual(c.move_text(LOG[1]), "white moves")

    def test_every_line_and_question_encodes_without_unknown_words(self):
        tok = tokenizer_for("chess")
        texts = [c.say(e) for e in LOG if c.say(e)] + ["white moves", "nothing happened", "the game is drawn",
                                                       "white promotes a pawn", "black captures", "white", "black"]
        texts += [q for qs in c.QUESTIONS.values() for q in qs]
        for t in texts:
            ids = tok.encode(t)
            self.assertNotIn(8, ids, t)   # <unk>
            self.assertEqual(tok.decode(ids).replace(" ?", "?"), t.replace(" ?", "?"))


class TestAnswers(unittest.TestCase):
    def setUp(self):
        self.w = c.ChessStream({"seconds": 20, "events": LOG})

    def test_whose_move_follows_the_last_event_and_is_unknown_between_games(self):
        self.assertIsNone(c.answer(self.w, "to_move", 0.2, 0, 2))
        self.assertEqual(c.answer(self.w, "to_move", 2.0, 0, 2), "black")
        self.assertEqual(c.answer(self.w, "to_move", 3.5, 0, 2), "black")
        self.assertEqual(c.answer(self.w, "to_move", 4.0, 0, 2), "white")
        self.assertIsNone(c.answer(self.w, "to_move", 14.0, 0, 2))   # after game over
        self.assertEqual(c.answer(self.w, "to_move", 16.5, 0, 2), "black")

    def test_what_happened_and_the_last_capture_look_back_only_as_far_as_asked(self):
        self.assertEqual(c.answer(self.w, "what_happened", 2.5, 0, 2), "white moves")
        self.assertEqual(c.answer(self.w, "what_happened", 6.5, 0, 2), "white castles")
        self.assertEqual(c.answer(self.w, "what_happened", 8.5, 0, 2), "black moves")   # a check is told as a move
        self.assertEqual(c.answer(self.w, "what_happened", 15.0, 0, 2), "black wins")
        self.assertEqual(c.answer(self.w, "what_happened", 20.5, 0, 2), "nothing happened")   # > 4 s since the last
        self.assertEqual(c.answer(self.w, "last_capture", 11.0, 0, 2), "white")
        self.assertEqual(c.answer(self.w, "last_capture", 9.0, 0, 2), "black")
        self.assertIsNone(c.answer(self.w, "last_capture", 9.0, 5.0, 2))   # the capture is before the window
        self.assertEqual(c.summary_text(self.w.events_between(5.0, 12.5)),
                         "white castles then white captures then checkmate then black wins")


class TestTokenizerAndClips(unittest.TestCase):
    def test_the_chess_vocabulary_keeps_every_demo_id(self):
        demo, chess = Tokenizer().vocab, tokenizer_for("chess").vocab
        self.assertEqual(len(demo), len(chess))
        for w, i in demo.items():
            if not w.startswith("<unused"):
                self.assertEqual(chess[w], i, w)
        with open(os.path.join(ROOT, "kibitz-demo", "tokenizer.json")) as f:
            self.assertEqual(json.load(f)["model"]["vocab"], demo)   # the shipped demo tokenizer is unchanged

    def test_a_clip_speaks_the_spoken_events_and_asks_chess_questions(self):
        w = c.ChessStream({"seconds": 20, "events": LOG})
        tok = tokenizer_for("chess")
        frames = np.zeros((40, 144, 256, 3), np.uint8)
        s = build_clip(w, frames, 4, 16, 25, tok, random.Random(1), n_questions=3, p_summary=1.0, game=get("chess"))
        text = tok.decode([t for t in s.ids if t >= 0])
        self.assertIn("black captures", text)           # the capture at 4.0 s is frame 8 of the stream (clip frame 4)
        self.assertIn("white castles", text)
        self.assertNotIn("white moves", text.split("<summary>")[0].split("whose")[0])
        self.assertTrue(any(q.rstrip(" ?") in text for qs in c.QUESTIONS.values() for q in qs), text)


if __name__ == "__main__":
    unittest.main()
