"""cli export --world-from: the in-world head carries over only when the vision encoder is the same."""
import json
import os
import shutil
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.export.carry import CarryError, carry_world  # noqa: E402
from kibitz_models.export.package import export_package  # noqa: E402
from kibitz_models.training.from_package import model_from_package  # noqa: E402

PKG = os.path.join(os.path.dirname(os.path.dirname(HERE)), "models", "kibitz-demo")


class TestCarryWorld(unittest.TestCase):
    def test_same_vision_carries_changed_vision_is_refused(self):
        model = model_from_package(PKG)
        td = tempfile.mkdtemp()
        try:
            same, other = os.path.join(td, "same"), os.path.join(td, "other")
            export_package(model, same, "same", {"fps": 2, "window_frames": 16}, check_parity=False)
            self.assertLess(carry_world(PKG, same), 1e-5)
            man = json.load(open(os.path.join(same, "manifest.json")))
            self.assertEqual(man["world"]["threshold"], json.load(open(os.path.join(PKG, "manifest.json")))["world"]["threshold"])
            self.assertTrue(os.path.exists(os.path.join(same, "world.onnx")))
            with open(os.path.join(same, "fixtures", "world.json")) as a, open(os.path.join(PKG, "fixtures", "world.json")) as b:
                self.assertEqual(a.read(), b.read())    # its parity fixture comes with it
            with torch.no_grad():
                model.vision.proj[0].weight.mul_(1.01)
            export_package(model, other, "other", {"fps": 2, "window_frames": 16}, check_parity=False)
            with self.assertRaisesRegex(CarryError, "cli world"):
                carry_world(PKG, other)
            self.assertFalse(os.path.exists(os.path.join(other, "world.onnx")))
        finally:
            shutil.rmtree(td)


if __name__ == "__main__":
    unittest.main()
