"""The synthetic broadcast world: determinism, event log consistency, QA answers."""
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from kibitz_models.data.render import QUESTIONS, Renderer, answer, summary_text  # noqa: E402
from kibitz_models.data.world import World  # noqa: E402


class TestWorld(unittest.TestCase):
    def test_same_seed_same_world_and_pixels(self):
        a, b = World(7, 30.0), World(7, 30.0)
        self.assertEqual([e.to_dict() for e in a.events], [e.to_dict() for e in b.events])
        r = Renderer(320, 180)
        for t in (0.0, 5.5, 17.25, 29.0):
            self.assertTrue(np.array_equal(r.draw(a, t), r.draw(b, t)))
        self.assertNotEqual([e.to_dict() for e in World(8, 30.0).events], [e.to_dict() for e in a.events])

    def test_event_log_matches_state(self):
        w = World(11, 90.0)
        kinds = {e.kind for e in w.events}
        self.assertTrue({"pickup", "spawn"} <= kinds)
        for e in w.events:
            st = w.state_at(e.t)
            if e.kind == "pickup":
                self.assertEqual(st.score, e.attrs["score"])
                self.assertTrue(any(p.kind == "points" and p.t0 == e.t for p in st.popups))
            if e.kind == "hit":
                self.assertEqual(st.lives, e.attrs["lives"])
            if e.kind == "level":
                self.assertEqual(st.level, e.attrs["level"])
        times = [e.t for e in w.events]
        self.assertEqual(times, sorted(times))

    def test_answers(self):
        w = World(3, 60.0)
        for kind in QUESTIONS:
            for t in (10.0, 30.5, 55.0):
                a = answer(w, kind, t, t - 8.0, 2)
                self.assertTrue(a is None or isinstance(a, str))
        self.assertEqual(answer(w, "score", 30.0, 22.0, 2), str(w.state_at(30.0).score))
        self.assertEqual(summary_text([]), "nothing happened")


if __name__ == "__main__":
    unittest.main()
