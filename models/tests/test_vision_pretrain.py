"""Stage-1 vision pretraining: per-frame targets agree with the world; the probe reads the
encoder's pre-projector tokens and can fit a batch."""
import os
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.data.render import Renderer  # noqa: E402
from kibitz_models.training.vision_pretrain import HEADS, VisionProbe, frame_targets  # noqa: E402
from kibitz_models.data.world import World  # noqa: E402


class TestVisionPretrain(unittest.TestCase):
    def test_targets_follow_the_world(self):
        w = World(5, 60.0)
        names = list(HEADS)
        for t in (0.0, 7.5, 23.0, 41.5, 59.5):
            st = w.state_at(t)
            tg = dict(zip(names, frame_targets(w, t)))
            self.assertEqual(tg["score_10s"], (st.score // 10) % 10)
            self.assertEqual(tg["score_100s"], (st.score // 100) % 10)
            self.assertEqual(tg["lives"], st.lives)
            self.assertEqual(tg["clock_1s"], int(t) % 10)
            self.assertEqual(tg["clock_10s"], int(t) // 10)
            self.assertEqual(tg["gems"], min(len(st.gems), HEADS["gems"] - 1))
            for k, v in tg.items():
                self.assertTrue(0 <= v < HEADS[k], k)
        hit = next(e for e in w.events if e.kind == "hit") if any(e.kind == "hit" for e in w.events) else None
        if hit is not None:
            self.assertEqual(dict(zip(names, frame_targets(w, hit.t + 0.1)))["hit"], 1)
        pick = next(e for e in w.events if e.kind == "pickup")
        self.assertEqual(dict(zip(names, frame_targets(w, pick.t + 0.1)))["pop_" + pick.attrs["colour"]], 1)

    def test_probe_shapes_and_fit(self):
        torch.manual_seed(0)
        cfg = ModelConfig()
        model = KibitzModel(cfg)
        probe = VisionProbe(model)
        w, r = World(9, 20.0), Renderer(cfg.frame_width, cfg.frame_height)
        frames = torch.from_numpy(np.stack([r.draw(w, t) for t in (1.0, 6.0, 12.0, 18.0)]))
        tg = torch.tensor([frame_targets(w, t) for t in (1.0, 6.0, 12.0, 18.0)])
        out = probe(frames)
        self.assertEqual(set(out), set(HEADS))
        self.assertEqual(tuple(out["score_10s"].shape), (4, 10))
        opt = torch.optim.Adam(probe.parameters(), lr=2e-3)
        loss = lambda o: sum(F.cross_entropy(o[k], tg[:, j]) for j, k in enumerate(HEADS))
        first = loss(probe(frames)).item()
        for _ in range(15):
            l = loss(probe(frames))
            opt.zero_grad()
            l.backward()
            opt.step()
        self.assertLess(loss(probe(frames)).item(), first * 0.5)
        # the encoder's forward is still tokens -> projector (what vision.onnx exports)
        with torch.no_grad():
            self.assertTrue(torch.allclose(model.vision(frames), model.vision.proj(model.vision.tokens(frames))))


if __name__ == "__main__":
    unittest.main()
