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

from kibitz_models.export import export_package  # noqa: E402
from kibitz_models.model import ConfigError, KibitzModel, ModelConfig  # noqa: E402
from kibitz_models.variants import VARIANTS, variant  # noqa: E402
from test_export_and_errors import HAS_ORT  # noqa: E402


class TestVariants(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(3)
        self.base = KibitzModel(ModelConfig())

    def test_shapes_and_shared_weights(self):
        want = {"interleaved": ([1, 3, 5], 5), "deep": ([1, 2, 3, 4, 5], 5), "deep-r0.12": ([1, 2, 3, 4, 5], 3), "dense": ([], 25)}
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
                self.assertEqual(man["decoder"]["keptPerFrame"], {"dense": 25, "deep-r0.12": 3}.get(name, 5), name)
            finally:
                shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main()
