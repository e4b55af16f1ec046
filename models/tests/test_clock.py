"""The stream clock (model.clock): digits of the stream second, added to every vision token of a
frame; a model that gains one says what it said before until trained; it exports and imports."""
import os
import shutil
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.data.dataset import build_clip  # noqa: E402

from kibitz_models.games.catalogue import get as get_game  # noqa: E402
from kibitz_models.export.package import export_package  # noqa: E402
from kibitz_models.training.from_package import check_against_fixtures, model_from_package  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.data.render import answer  # noqa: E402
from kibitz_models.training.train import with_clock  # noqa: E402
from kibitz_models.data.world import World  # noqa: E402
from test_export_and_errors import HAS_ORT, perturbed  # noqa: E402


class TestClock(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(5)
        self.base = KibitzModel(ModelConfig())

    def test_digits_add_up(self):
        m = with_clock(self.base, 3)
        with torch.no_grad():
            m.time_embed.normal_()
        t = m.time_embed
        want = t[0, 7] + t[1, 0] + t[2, 3]            # 307
        self.assertTrue(torch.allclose(m.clock(torch.tensor(307)), want))
        self.assertTrue(torch.allclose(m.clock(torch.tensor(1307)), want))   # wraps at 10^digits
        self.assertEqual(tuple(m.clock(torch.tensor([[1, 2], [3, 4]])).shape), (2, 2, m.cfg.d_model))
        self.assertEqual(float(self.base.clock(torch.tensor(5)).abs().sum()), 0.0)   # no clock: zeros

    def test_a_new_clock_changes_nothing_until_trained(self):
        m = with_clock(self.base, 5).eval()
        self.assertEqual(float(m.time_embed.abs().sum()), 0.0)
        for k, v in self.base.state_dict().items():
            self.assertTrue(torch.equal(v, m.state_dict()[k]), k)

    def test_when_answers_and_frame_seconds_follow_the_clock(self):
        from kibitz_models.data.tokenizer import Tokenizer
        import numpy as np
        import random
        world = next(w for w in (World(seed, 60.0) for seed in range(1000, 1100)) if any(e.kind == "hit" for e in w.events))
        hit = next(e for e in world.events if e.kind == "hit")
        t = hit.t + 1.0
        self.assertEqual(answer(world, "when_hit", t, 0.0, 2), f"at {int(np.ceil(hit.t * 2) / 2)} seconds")
        self.assertEqual(answer(world, "when_hit", t, 0.0, 2, clock_offset=1000), f"at {int(np.ceil(hit.t * 2) / 2) + 1000} seconds")
        frames = np.zeros((120, 4, 4, 3), np.uint8)
        s = build_clip(world, frames, 10, 16, 25, Tokenizer(), random.Random(0), game=get_game("demo"), clock_offset=500)
        self.assertEqual(s.seconds, [500 + i // 2 for i in range(10, 26)])

    def test_text_tokens_carry_the_clock_of_the_frame_before_them(self):
        from kibitz_models.training.train import text_clock
        m = with_clock(self.base, 2)
        with torch.no_grad():
            m.time_embed.normal_()
        # bos at 0; frame 0 at 1..3 (V=3 here), text at 4..5; frame 1 at 6..8, text at 9
        fidx = torch.tensor([[[1, 2, 3], [6, 7, 8]]])
        seconds = torch.tensor([[41, 42]])
        tc = text_clock(m, fidx, seconds, 10)[0]
        self.assertEqual(float(tc[0].abs().sum()), 0.0)                       # bos: before any frame
        self.assertTrue(torch.allclose(tc[4], m.clock(torch.tensor(41))))
        self.assertTrue(torch.allclose(tc[5], m.clock(torch.tensor(41))))
        self.assertTrue(torch.allclose(tc[9], m.clock(torch.tensor(42))))

    @unittest.skipUnless(HAS_ORT, "needs node + onnxruntime-node (npm install)")
    def test_exports_and_imports_with_the_clock(self):
        m = with_clock(self.base, 4)
        m = perturbed(KibitzModel(ModelConfig.from_dict({**m.cfg.to_dict(), "clock_text": True})))
        td = tempfile.mkdtemp()
        try:
            man = export_package(m, td, "clock-test", {"fps": 2, "window_frames": 16})
            self.assertEqual(man["clock"]["digits"], 4)
            self.assertTrue(man["clock"]["text"])
            self.assertTrue(os.path.exists(os.path.join(td, "time_embed.bin")))
            back = model_from_package(td)
            self.assertTrue(torch.allclose(back.time_embed, m.time_embed))
            self.assertTrue(back.cfg.clock_text)
            diffs = check_against_fixtures(back, td)
            self.assertLess(diffs["clock.json"], 1e-6)
        finally:
            shutil.rmtree(td)


if __name__ == "__main__":
    unittest.main()
