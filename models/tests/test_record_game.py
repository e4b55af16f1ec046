"""A real game records itself: xboard + Fairy-Max under Xvfb, and its events line up with its video.

The recording test takes ~15 s of wall time (it is real time) and skips, saying what to install,
where Xvfb, xboard, Fairy-Max or ffmpeg are missing. The event-builder tests need nothing.
"""
import json
import subprocess
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from kibitz_models.games.chess_events import KINDS, Board, build_events, move_line, result_line  # noqa: E402
from kibitz_models.games import record as record_game  # noqa: E402

T0 = 1_000_000.0  # the first frame's wall-clock time in the fixture


def _relay(t, direction, line):
    return json.dumps({"t": T0 + t, "dir": direction, "line": line})


class TestChessEvents(unittest.TestCase):
    """xboard's PGN + the relay's timed protocol lines -> events (no programs needed)."""

    PGN = ('[Event "Computer Chess Game"]\n[White "Fairy-Max 5.0b"]\n[Black "Fairy-Max 5.0b"]\n[Result "1-0"]\n\n'
           "1. e4 e5 2. Qh5 {+0.10/4 1.0} Nc6 {-0.10/4 1.1} 3. Bc4 {+0.2/4 1.2}\nNf6 {-0.3/4 1.0} 4. Qxf7# {+1000.01/4 0.9}\n"
           "{Xboard adjudication: Checkmate} 1-0\n")
    RELAY = [_relay(0.5, "in", "new"), _relay(1.0, "out", "move d1h5"), _relay(1.01, "in", "d1h5"),
             _relay(2.0, "out", "move b8c6"), _relay(3.0, "out", "move f1c4"), _relay(4.0, "out", "move g8f6"),
             _relay(5.0, "out", "move h5f7"), _relay(5.01, "in", "result 1-0 {Xboard adjudication: Checkmate}"),
             _relay(5.02, "in", "result 1-0 {Xboard adjudication: Checkmate}"), _relay(5.5, "out", "move a7a6")]

    def test_moves_get_the_relay_times_and_the_pgn_meaning(self):
        events, summary = build_events(self.PGN, self.RELAY, [("king's pawn game", ["e2e4", "e7e5"])], T0, 60.0)
        self.assertEqual([e["kind"] for e in events], ["game_start", "move", "move", "move", "move", "checkmate", "game_over"])
        self.assertEqual([e["t"] for e in events], [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 5.01])
        self.assertEqual(events[1]["text"], "white plays queen to h5")
        self.assertEqual(events[5]["text"], "white's queen takes the pawn on f7, checkmate")
        self.assertEqual(events[6]["text"], "white wins by checkmate")
        self.assertEqual(events[5]["state"], {"to_move": "black", "move_number": 4, "material": {"white": 39, "black": 38}})
        self.assertEqual(events[0]["state"]["move_number"], 2)
        self.assertEqual(summary["untaken_moves_skipped"], 0)  # a7a6 came after the end; nothing left to match it
        self.assertTrue(all(set(e) >= {"t", "kind", "text"} and e["kind"] in KINDS for e in events))

    def test_times_are_relative_to_the_first_frame_and_clipped_to_the_video(self):
        events, _ = build_events(self.PGN, self.RELAY, [("king's pawn game", ["e2e4", "e7e5"])], T0 + 2.5, 2.0)
        self.assertEqual([(e["t"], e["kind"]) for e in events], [(0.5, "move"), (1.5, "move")])

    def test_a_record_that_does_not_start_with_the_loaded_opening_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "not the opening loaded"):
            build_events(self.PGN, self.RELAY, [("queen's pawn", ["d2d4", "d7d5"])], T0, 60.0)

    def test_lines_for_special_moves(self):
        self.assertEqual(move_line("black", "k", "g8", None, False, "O-O+"), ("check", "black castles kingside, check"))
        self.assertEqual(move_line("white", "p", "d8", "r", False, "exd8=N"),
                         ("promotion", "white's pawn takes the rook on d8, promoting to a knight"))
        self.assertEqual(result_line("1/2-1/2 {Xboard adjudication: 3-fold repetition}"),
                         ("3-fold repetition", "the game is drawn by 3-fold repetition"))
        b = Board()
        for uci in ("e2e4", "a7a6", "e4e5", "d7d5"):
            b.apply(uci)
        self.assertEqual(b.apply("e5d6"), ("p", "p", True))  # en passant takes the pawn beside, not on, d6
        self.assertNotIn("d5", b.sq)
        b = Board()
        for uci in ("e2e4", "e7e5", "g1f3", "b8c6", "f1c4", "g8f6"):
            b.apply(uci)
        b.apply("e1g1")
        self.assertEqual((b.sq.get("g1"), b.sq.get("f1"), b.sq.get("h1")), ("K", "R", None))


class TestRelayDepths(unittest.TestCase):
    """xboard_relay.py replaces each `sd N` with a seeded draw from DEPTHS (cat stands in for the engine)."""

    def _run(self, seed, depths):
        relay = os.path.join(os.path.dirname(record_game.__file__), "xboard_relay.py")
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([sys.executable, relay, os.path.join(d, "log.jsonl"), str(seed), "first", "0", "0", depths, "/bin/cat"],
                               input=b"new\nsd 4\nnew\nsd 4\nnew\nsd 4\nnew\nsd 4\n", capture_output=True, timeout=20)
            with open(os.path.join(d, "log.jsonl")) as f:
                log = [json.loads(l) for l in f]
        return [l for l in r.stdout.decode().splitlines() if l.startswith("sd")], log

    def test_each_depth_line_is_a_seeded_draw_and_the_log_keeps_both(self):
        got, log = self._run(5, "2,3,5")
        self.assertEqual(len(got), 4)
        self.assertTrue(all(l in ("sd 2", "sd 3", "sd 5") for l in got), got)
        self.assertEqual(self._run(5, "2,3,5")[0], got)                       # same seed, same depths
        self.assertEqual(sum(1 for l in log if l["dir"] == "in" and l["line"] == "sd 4"), 4)
        self.assertEqual([l["line"] for l in log if l["dir"] == "depth"], got)
        self.assertEqual(self._run(5, "-")[0], ["sd 4"] * 4)                  # "-": xboard's own depth


def _missing():
    try:
        record_game.check_tools()
    except FileNotFoundError as e:
        return str(e)
    return None


@unittest.skipIf(_missing(), f"needs a real game to record: {_missing()}")
class TestRecordChess(unittest.TestCase):
    """Records ~15 s of real self-play and checks the events against the pixels of the video."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kibitz_record_test_")
        # a quicker pace than the default so that 15 s hold several moves
        cls.meta = record_game.record(cls.tmp, "t", seconds=15.0, seed=3, pace=(0.8, 1.4))
        with open(os.path.join(cls.tmp, "t.events.jsonl")) as f:
            cls.events = [json.loads(l) for l in f]
        cls.changes = record_game.board_changes(os.path.join(cls.tmp, "t.mp4"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_files_and_metadata(self):
        for suffix in (".mp4", ".events.jsonl", ".json", ".pgn", ".xboard.jsonl"):
            self.assertTrue(os.path.getsize(os.path.join(self.tmp, "t" + suffix)) > 0, suffix)
        m = self.meta
        self.assertEqual((m["width"], m["height"], m["fps"], m["seed"]), (1280, 720, 30, 3))
        self.assertAlmostEqual(m["duration_s"], 15.0, delta=0.1)
        self.assertEqual(m["frames"], len(self.changes))
        self.assertIn("xboard", m["program"])
        self.assertIn("Fairy-Max", m["engine"])

    def test_events_are_ordered_inside_the_video_and_several_are_moves(self):
        ts = [e["t"] for e in self.events]
        self.assertEqual(ts, sorted(ts))
        self.assertTrue(all(0.0 <= t <= self.meta["duration_s"] for t in ts), ts)
        self.assertTrue(all(e["kind"] in KINDS and e["text"] for e in self.events))
        self.assertGreaterEqual(sum(1 for e in self.events if "uci" in e), 4, self.events)

    def test_the_board_changes_at_each_move_on_the_move_squares_and_nowhere_else(self):
        a = record_game.alignment(self.events, self.changes)
        self.assertGreaterEqual(a["moves_checked"], 3, a)
        self.assertEqual(a["moves_without_change"], 0, a)
        self.assertEqual(a["moves_wrong_squares"], 0, a)
        # the change shows in the first frames after t: typically 20 ms (one frame of capture plus
        # the drawing), once in a while ~0.3 s when the loaded machine leaves xboard waiting
        self.assertTrue(all(-0.05 <= l <= 0.45 for l in a["lags_s"]), a["lags_s"])
        self.assertGreater(a["quiet_frames"], 30, a)
        self.assertEqual(a["quiet_frames_changed"], 0, a)

    def test_a_replay_at_engine_speed_plays_the_recorded_game(self):
        # what cli replay-games gives game-identity when a training recording's files are gone
        from kibitz_models.games.identity import pgn_games
        with open(os.path.join(self.tmp, "t.pgn")) as f:
            [recorded] = pgn_games(f.read())[:1]
        replayed = pgn_games(record_game.replay_games(3, 1, depth=4))
        self.assertGreaterEqual(len(recorded), 4)
        self.assertEqual(replayed[0][:len(recorded)], recorded)

    def test_times_off_by_a_second_would_fail(self):
        for shift in (1.0, -1.0, 0.5):
            moved = [dict(e, t=e["t"] + shift) for e in self.events]
            a = record_game.alignment(moved, self.changes)
            bad = a["moves_without_change"] + a["moves_wrong_squares"] + sum(1 for l in a["lags_s"] if l is not None and not -0.05 <= l <= 0.45)
            self.assertGreater(bad, 0, (shift, a))


if __name__ == "__main__":
    unittest.main()
