"""The MoD variants (variants.py): built from one set of weights, trainable, and each exports
with parity through onnxruntime-node."""
import os
import shutil
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.export.package import export_package  # noqa: E402
from kibitz_models.model.model import ConfigError, KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.model.variants import VARIANTS, variant  # noqa: E402
from test_export_and_errors import HAS_ORT  # noqa: E402


class TestVariants(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        self.base = KibitzModel(ModelConfig())

    def test_shapes_and_shared_weights(self):
        want = {"interleaved": ([1, 3, 5], 5), "deep": ([1, 2, 3, 4, 5], 5), "deep-r0.12": ([1, 2, 3, 4, 5], 3),
                "deep-r0.3": ([1, 2, 3, 4, 5], 8), "deep2": ([2, 3, 4, 5], 5), "dense": ([], 25)}
        for name in VARIANTS:
            m = variant(self.base, name)
            routed = [l for l in range(m.cfg.n_layers) if m.cfg.is_routed(l)]
            self.assertEqual((routed, m.cfg.kept_per_frame), want[name], name)
            # every tensor the two shapes share is the base's
            for k, v in m.state_dict().items():
                if k in self.base.state_dict():
                    self.assertTrue(torch.equal(v, self.base.state_dict()[k]), f"{name}: {k} differs")
        deep = variant(self.base, "deep")
        # a router the base lacks starts from the base's router just below it
        self.assertTrue(torch.equal(deep.layers[2].router.weight, self.base.layers[1].router.weight))
        self.assertTrue(torch.equal(deep.layers[4].router.weight, self.base.layers[3].router.weight))

    def test_routed_variants_from_a_dense_base(self):
        dense = variant(self.base, "dense")
        deep = variant(dense, "deep")     # routers start fresh; everything else is the dense weights
        self.assertEqual([l for l in range(6) if deep.cfg.is_routed(l)], [1, 2, 3, 4, 5])
        self.assertTrue(torch.equal(deep.layers[0].wq.weight, dense.layers[0].wq.weight))

    def test_unknown_variant(self):
        with self.assertRaisesRegex(ConfigError, "unknown variant 'sparse'"):
            variant(self.base, "sparse")

    @unittest.skipUnless(HAS_ORT, "node + onnxruntime-node not installed (npm install)")
    def test_each_variant_exports_with_parity(self):
        for name in VARIANTS:
            tmp = tempfile.mkdtemp()
            try:
                man = export_package(variant(self.base, name).eval(), tmp, f"t-{name}", check_parity=True)
                self.assertLess(man["parity"]["maxAbsDiff"], 1e-3, name)
                self.assertEqual(man["decoder"]["keptPerFrame"], {"dense": 25, "deep-r0.12": 3, "deep-r0.3": 8}.get(name, 5), name)
            finally:
                shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()


class TestDistill(unittest.TestCase):
    """`train --teacher`: a reshaped variant also learns its teacher's outputs (train.batch_loss)."""

    def test_the_teacher_term_is_kl_to_the_teacher_and_training_on_it_closes_the_gap(self):
        import random
        import numpy as np
        from kibitz_models.data.dataset import build_clip, collate
        from kibitz_models.games.catalogue import get as get_game
        from kibitz_models.data.tokenizer import Tokenizer
        from kibitz_models.training.train import batch_loss
        from kibitz_models.data.world import World
        torch.manual_seed(1)
        cfg = ModelConfig(vision_channels=(4, 8, 8), d_model=32, n_layers=3, n_heads=2, n_kv_heads=1, mlp_hidden=64, routed_layers=[1])
        teacher = KibitzModel(cfg).eval()
        student = variant(teacher, "deep").train()
        with torch.no_grad():   # a teacher with opinions: peaked outputs the student does not share yet
            teacher.lm_head.weight.mul_(60.0)
        frames = np.random.RandomState(0).randint(0, 256, (40, cfg.frame_height, cfg.frame_width, 3), dtype=np.uint8)
        clip = build_clip(World(1000, 20.0), frames, 4, 16, cfg.tokens_per_frame, Tokenizer(), random.Random(0), game=get_game("demo"), n_questions=2)
        batch = collate([clip], cfg.tokens_per_frame)

        def gap():   # the KL term alone
            with torch.no_grad():
                return float(batch_loss(student, batch, 3.0, fixed_vision=True, teacher=teacher, distill=1.0)
                             - batch_loss(student, batch, 3.0, fixed_vision=True))
        with torch.no_grad():
            self_taught = batch_loss(student, batch, 3.0, fixed_vision=True, teacher=student, distill=1.0)
            plain = batch_loss(student, batch, 3.0, fixed_vision=True)
        self.assertAlmostEqual(float(self_taught), float(plain), places=5)   # KL to itself is 0
        before = gap()
        self.assertGreater(before, 0.0)
        opt = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=3e-3)
        for _ in range(15):
            loss = batch_loss(student, batch, 3.0, fixed_vision=True, teacher=teacher, distill=5.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.assertLess(gap(), before * 0.7)
