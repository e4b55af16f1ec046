"""The game-identity split: parse the recorder's PGNs and find held-out games that copy training games."""
import os
import tempfile
import unittest

from kibitz_models.games.identity import MAX_SHARED_PLIES, check, load_dir, pgn_games, shared_plies

HEAD = '[Event "Computer Chess Game"]\n[White "Fairy-Max 5.0b"]\n[Black "Fairy-Max 5.0b"]\n[Annotator "3. +0.14"]\n\n'
# Twelve plies of a real recorded game (chess_501), with xboard's comments and check marks.
GAME = HEAD + ('1. c4 e5 2. Nc3 Nf6 3. Nf3 {+0.14/5 1.9} d6 {+0.05/5 1.2} 4. d4\n{+0.13/5 1.9} exd4 5. Nxd4 c5 '
               '6. Ndb5 Nc6 7. Bf4 Ne5 8. Bxe5 dxe5 9. Qxd8+ Kxd8 *\n')


class GameIdentityTest(unittest.TestCase):
    def test_pgn_games_reads_plies_without_numbers_comments_or_results(self):
        [plies] = pgn_games(GAME)
        self.assertEqual(plies[:6], ["c4", "e5", "Nc3", "Nf6", "Nf3", "d6"])
        self.assertEqual(plies[-2:], ["Qxd8", "Kxd8"])
        self.assertEqual(len(plies), 18)
        two = pgn_games(GAME + "\n" + HEAD + "1. d4 d5 2. c4 1-0\n")
        self.assertEqual([len(g) for g in two], [18, 3])

    def test_shared_plies_finds_a_stretch_anywhere(self):
        self.assertEqual(shared_plies("a b c d e".split(), "x a b c y".split()), 3)
        self.assertEqual(shared_plies("a b c".split(), "d e f".split()), 0)
        # the same stretch at another move number (a transposition into a known line)
        self.assertEqual(shared_plies("p q a b c d".split(), "a b c d".split()), 4)

    def test_check_flags_a_heldout_game_that_copies_a_training_game(self):
        [g] = pgn_games(GAME)
        other = ["d4", "d5", "c4", "e6", "Nc3", "Nf6", "Bg5", "Be7"]
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "train"))
            os.makedirs(os.path.join(d, "heldout"))
            with open(os.path.join(d, "train", "chess_1.pgn"), "w") as f:
                f.write(GAME)
            with open(os.path.join(d, "heldout", "copy.pgn"), "w") as f:
                f.write(GAME)
            with open(os.path.join(d, "heldout", "new.pgn"), "w") as f:
                f.write(HEAD + " ".join(f"{i // 2 + 1}. {m}" if i % 2 == 0 else m for i, m in enumerate(other)) + " *\n")
            rows = {r["game"]: r for r in check(load_dir(os.path.join(d, "train")), load_dir(os.path.join(d, "heldout")))}
        self.assertEqual(rows["copy#1"]["shared"], len(g))
        self.assertFalse(rows["copy#1"]["ok"])
        self.assertLessEqual(rows["new#1"]["shared"], MAX_SHARED_PLIES)
        self.assertTrue(rows["new#1"]["ok"])


if __name__ == "__main__":
    unittest.main()
