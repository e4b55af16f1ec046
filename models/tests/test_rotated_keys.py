"""decoder.pastKeys "rotated": the exported graphs take past keys rotated at their positions and
rotate only the new ones. Fed the rotated form of the same past, they must give what the pre-RoPE
graphs give (the form training and the evaluator use), and hand back the new keys rotated (the
runtime's side: test/model/kv_cache.test.ts)."""
import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from kibitz_models.export.package import FrameGraph, TextGraph, example_past, past_lens  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig, rope  # noqa: E402


class TestRotatedKeys(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        self.m = KibitzModel(ModelConfig(vision_channels=(4, 8, 8), d_model=32, n_layers=3, n_heads=2, n_kv_heads=1,
                                         mlp_hidden=64, routed_layers=[1])).eval()
        with torch.no_grad():   # sharp attention: a key at the wrong angle would change the output
            for layer in self.m.layers:
                layer.wq.weight.mul_(25.0)
                layer.wk.weight.mul_(25.0)
        gen = torch.Generator().manual_seed(9)
        self.raw = example_past(self.m, 2, past_lens(self.m, 2, 5), gen)
        self.raw[2::4] = [p + 300 for p in self.raw[2::4]]   # positions well away from 0
        self.rot = list(self.raw)
        for l in range(self.m.cfg.n_layers):
            self.rot[4 * l] = rope(self.raw[4 * l], self.raw[4 * l + 2], self.m.cfg.rope_theta)

    @torch.no_grad()
    def test_frame_step(self):
        V, d = self.m.cfg.tokens_per_frame, self.m.cfg.d_model
        emb = torch.randn(2, V, d)
        pos = torch.arange(V).unsqueeze(0).repeat(2, 1) + 400
        a = FrameGraph(self.m, rotated=False)(emb, pos, *self.raw)
        b = FrameGraph(self.m, rotated=True)(emb, pos, *self.rot)
        torch.testing.assert_close(b[0], a[0], atol=1e-5, rtol=1e-5)
        for l in range(self.m.cfg.n_layers):
            k_raw, v_raw, idx = a[1 + 3 * l: 4 + 3 * l]
            torch.testing.assert_close(b[3 + 3 * l], idx, atol=0, rtol=0)                    # the same tokens kept
            torch.testing.assert_close(b[1 + 3 * l], rope(k_raw, torch.gather(pos, 1, idx), self.m.cfg.rope_theta), atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(b[2 + 3 * l], v_raw, atol=1e-6, rtol=1e-6)
        # and the raw graph fed rotated keys is wrong (so the check above can fail)
        c = FrameGraph(self.m, rotated=False)(emb, pos, *self.rot)
        self.assertGreater(float((c[0] - a[0]).abs().max()), 1e-4)   # 40x the tolerance above

    @torch.no_grad()
    def test_text_step(self):
        emb = torch.randn(2, 4, self.m.cfg.d_model)
        pos = torch.arange(4).unsqueeze(0).repeat(2, 1) + 400
        a = TextGraph(self.m, rotated=False)(emb, pos, *self.raw)
        b = TextGraph(self.m, rotated=True)(emb, pos, *self.rot)
        torch.testing.assert_close(b[0], a[0], atol=1e-5, rtol=1e-5)
        for l in range(self.m.cfg.n_layers):
            torch.testing.assert_close(b[1 + 2 * l], rope(a[1 + 2 * l], pos, self.m.cfg.rope_theta), atol=1e-5, rtol=1e-5)


if __name__ == "__main__":
    unittest.main()
