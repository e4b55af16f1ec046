"""Line stamps (ModelConfig.line_stamp): every commentary line is followed by the stream second it
was said at, as given text; a "when" answer is then a copy of a stamp. Training, export and import."""
import os
import random
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.data.dataset import FPS, IGNORE, STAMP_TEXT, build_clip, stamp_text  # noqa: E402

from kibitz_models.games.catalogue import get as get_game  # noqa: E402
from kibitz_models.export.package import export_package  # noqa: E402
from kibitz_models.training.from_package import model_from_package  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.data.tokenizer import COMMENTARY, EOS, Tokenizer  # noqa: E402
from kibitz_models.data.world import World  # noqa: E402
from test_export_and_errors import HAS_ORT, perturbed  # noqa: E402

TOK = Tokenizer()
SECONDS = TOK.vocab["seconds"]


def world_with_hit():
    for seed in range(1000, 1100):
        w = World(seed, 60.0)
        hits = [e for e in w.events if e.kind == "hit" and 10 < e.t < 50]
        if hits:
            return w, hits[0]
    raise AssertionError("no world with a hit")


def lines_of(sample):
    """(start, end) of every <commentary> ... <eos> span in the clip's ids."""
    out, i = [], 0
    while i < len(sample.ids):
        if sample.ids[i] == COMMENTARY:
            j = sample.ids.index(EOS, i)
            out.append((i, j))
            i = j
        i += 1
    return out


class TestLineStamp(unittest.TestCase):
    def setUp(self):
        self.world, self.hit = world_with_hit()
        self.frames = np.zeros((int(self.world.seconds * FPS), 4, 4, 3), np.uint8)
        self.hit_frame = int(np.ceil(self.hit.t * FPS - 1e-9))   # the first frame that shows it

    def test_each_line_is_followed_by_its_stamp_which_is_given_not_learned(self):
        start = self.hit_frame - 3
        s = build_clip(self.world, self.frames, start, 16, 25, TOK, random.Random(0), game=get_game("demo"), clock_offset=700, stamp=True)
        spans = lines_of(s)
        self.assertTrue(spans)
        for a, b in spans:
            line = TOK.decode(s.ids[a + 1:b])
            self.assertNotIn("seconds", line)
            self.assertTrue(all(t != IGNORE for t in s.targets[a:b]))    # the line and its <eos> are learned
            n = s.ids.index(SECONDS, b) - b           # the stamp's tokens: b+1 .. b+n
            self.assertRegex(TOK.decode(s.ids[b + 1:b + 1 + n]), r"^at \d+ seconds$")
            self.assertTrue(all(t == IGNORE for t in s.targets[b:b + 1 + n]))   # the stamp is fed, never predicted
        a, b = next((a, b) for a, b in spans if "the player is hit" in TOK.decode(s.ids[a:b]))
        self.assertEqual(TOK.decode(s.ids[b + 1:s.ids.index(SECONDS, b) + 1]), stamp_text(700 + self.hit_frame // FPS))
        plain = build_clip(self.world, self.frames, start, 16, 25, TOK, random.Random(0), game=get_game("demo"), clock_offset=700)
        self.assertTrue(all(b + 1 >= len(plain.ids) or plain.ids[b + 1] != TOK.vocab["at"] for a, b in lines_of(plain)))

    def test_when_is_asked_only_about_a_line_the_clip_said(self):
        # the hit shows on the clip's first frame, which gets no line: with stamps, nothing to copy
        q = TOK.encode("when was the player last hit ?")

        def asked(stamp):
            n = 0
            for seed in range(20):
                s = build_clip(self.world, self.frames, self.hit_frame, 12, 25, TOK, random.Random(seed), game=get_game("demo"),
                               n_questions=6, prefer="when_hit", stamp=stamp)
                n += sum(1 for i in range(len(s.ids)) if s.ids[i:i + len(q)] == q)
            return n

        self.assertEqual(asked(True), 0)
        self.assertGreater(asked(False), 0)

    def test_the_stamp_is_the_answer_a_when_question_wants(self):
        from kibitz_models.data.render import answer
        want = answer(self.world, "when_hit", self.hit.t + 2, self.hit.t - 1, FPS, clock_offset=90)
        self.assertEqual(want, stamp_text(90 + self.hit_frame // FPS))

    def test_the_evaluator_feeds_the_stamp_with_the_lines_eos(self):
        from kibitz_models.evaluation.evaluate import Streamer
        torch.manual_seed(0)
        m = KibitzModel(ModelConfig(line_stamp=True)).eval()
        st = Streamer(m, window_frames=4, max_new=3)
        stamp = TOK.encode(stamp_text(42))
        with torch.no_grad():
            st.frame(torch.randn(m.cfg.tokens_per_frame, m.cfg.d_model))
            st.generate([COMMENTARY], after=stamp)
        self.assertEqual(st.chunks[-1]["n"], 1 + len(stamp))   # <eos> and the stamp, one step

    def test_the_evaluator_tells_a_copied_latest_stamp_from_other_misses(self):
        from kibitz_models.evaluation.evaluate import when_miss
        self.assertIsNone(when_miss("at 65 seconds", "at 65 seconds", "at 68 seconds"))
        self.assertEqual(when_miss("at 68 seconds", "at 65 seconds", "at 68 seconds"), "latest_stamp")
        self.assertEqual(when_miss("at 60 seconds", "at 65 seconds", "at 68 seconds"), "other")
        self.assertEqual(when_miss("at 60 seconds", "at 65 seconds", None), "other")   # no line said yet

    def test_copy_probe_scores_the_digits_of_when_answers(self):
        from kibitz_models.model.checkpoint import save_checkpoint
        from kibitz_models.evaluation.copy_probe import copy_probe
        td = tempfile.mkdtemp()
        try:
            np.save(os.path.join(td, f"{self.world.seed}.npy"), np.zeros((int(self.world.seconds * FPS), 144, 256, 3), np.uint8))
            torch.manual_seed(1)
            save_checkpoint(os.path.join(td, "m.pt"), KibitzModel(ModelConfig()), {})
            r = copy_probe([os.path.join(td, "m.pt")], td, clips=2)[0]
            self.assertGreater(r["digit_targets"], 0)
            self.assertGreater(r["digit_ce"], 1.0)             # an untrained model cannot copy
        finally:
            shutil.rmtree(td)

    @unittest.skipUnless(HAS_ORT, "needs node + onnxruntime-node (npm install)")
    def test_exports_and_imports_with_stamps(self):
        torch.manual_seed(3)
        m = perturbed(KibitzModel(ModelConfig(line_stamp=True)))
        td = tempfile.mkdtemp()
        try:
            man = export_package(m, td, "stamp-test", {"fps": 2, "window_frames": 16})
            self.assertEqual(man["stamp"]["text"], STAMP_TEXT)
            self.assertTrue(model_from_package(td).cfg.line_stamp)
            plain = export_package(KibitzModel(ModelConfig()), td + "-plain", "plain", {"fps": 2, "window_frames": 16})
            self.assertNotIn("stamp", plain)
        finally:
            shutil.rmtree(td)
            shutil.rmtree(td + "-plain", ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
