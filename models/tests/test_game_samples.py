"""cli game-samples with --train: each held-out sample carries its game-identity check, and a
recording whose game copies a training game is refused (it is not held out)."""
import json
import os
import tempfile
import unittest

from kibitz_models.games.chess import write_samples
from kibitz_models.games.identity import MAX_SHARED_PLIES, pgn_games

HEAD = '[Event "Computer Chess Game"]\n[White "Fairy-Max 5.0b"]\n[Black "Fairy-Max 5.0b"]\n\n'
HELD = HEAD + "1. e4 c6 2. d4 d5 3. Nc3 dxe4 4. Nxe4 Nf6 5. Nxf6+ exf6 6. c3 Bd6 7. Bd3 O-O *\n"
# shares the first 7 plies with HELD, then goes elsewhere
OTHER = HEAD + "1. e4 c6 2. d4 d5 3. Nc3 dxe4 4. Nxe4 Bf5 5. Ng3 Bg6 6. h4 h6 *\n"


def _recording(folder: str, name: str, pgn: str) -> None:
    """A recording as cli record leaves it: video (only copied here), metadata, events, PGN."""
    side, events = "white", [{"t": 0.4, "kind": "game_start", "text": "a new game begins", "game": 1, "state": {"to_move": "white"}}]
    for i in range(25):
        other = "black" if side == "white" else "white"
        cap = i % 4 == 3
        events.append({"t": 2.0 + 2 * i, "kind": "capture" if cap else "move", "text": "", "game": 1, "side": side,
                       "captured": "pawn" if cap else None, "state": {"to_move": other}})
        side = other
    with open(os.path.join(folder, name + ".mp4"), "wb") as f:
        f.write(b"not decoded: copied as it is")
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump({"seed": 9, "duration_s": 55.0, "width": 1280, "height": 720, "fps": 30}, f)
    with open(os.path.join(folder, name + ".events.jsonl"), "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    with open(os.path.join(folder, name + ".pgn"), "w") as f:
        f.write(pgn)


class GameSamplesIdentityTest(unittest.TestCase):
    def test_each_sample_carries_its_identity_check(self):
        with tempfile.TemporaryDirectory() as d:
            _recording(d, "chess_9", HELD)
            write_samples(d, os.path.join(d, "out"), train={"replay_1": pgn_games(OTHER)})
            with open(os.path.join(d, "out", "broadcast1.json")) as f:
                gt = json.load(f)
        self.assertEqual(gt["identity"], {"limit": MAX_SHARED_PLIES, "games": [{"game": "chess_9#1", "plies": 14, "shared": 7, "with": "replay_1#1"}]})
        self.assertTrue(gt["events"] and gt["qa"])

    def test_a_copy_of_a_training_game_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            _recording(d, "chess_9", HELD)
            with self.assertRaisesRegex(ValueError, r"not held out: chess_9#1 shares 14 plies with training game replay_1#1"):
                write_samples(d, os.path.join(d, "out"), train={"replay_1": pgn_games(HELD)})
            self.assertFalse(os.path.exists(os.path.join(d, "out", "broadcast1.json")))


if __name__ == "__main__":
    unittest.main()
