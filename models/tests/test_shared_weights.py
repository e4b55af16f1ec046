"""Both decoder graphs read one decoder_weights.bin (shared_weights.py), with the same values."""
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from kibitz_models.export.shared_weights import GRAPHS, MIN_BYTES, WEIGHTS_FILE, share_decoder_weights  # noqa: E402

MODELS = os.path.join(os.path.dirname(HERE))
PACKAGES = [os.path.join(MODELS, p) for p in ("kibitz-demo", "kibitz-chess")]


def tensors(path: str) -> dict:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


class TestSharedWeights(unittest.TestCase):
    def test_bundled_packages_store_the_decoder_once(self):
        for pkg in PACKAGES:
            weights = os.path.getsize(os.path.join(pkg, WEIGHTS_FILE))
            for g in GRAPHS:
                m = onnx.load(os.path.join(pkg, g), load_external_data=False)
                big = [t for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
                self.assertGreater(len(big), 20, f"{pkg}/{g}: its weight matrices live in {WEIGHTS_FILE}")
                self.assertTrue(all({e.key: e.value for e in t.external_data}["location"] == WEIGHTS_FILE for t in big))
                self.assertTrue(all(not t.raw_data for t in big))
                self.assertLess(os.path.getsize(os.path.join(pkg, g)), weights / 20, f"{pkg}/{g} carries no copy of the weights")

    def test_sharing_again_keeps_every_value_and_the_file(self):
        with tempfile.TemporaryDirectory() as td:
            pkg = os.path.join(td, "p")
            shutil.copytree(PACKAGES[0], pkg)
            before = {g: tensors(os.path.join(pkg, g)) for g in GRAPHS}
            with open(os.path.join(pkg, WEIGHTS_FILE), "rb") as f:
                blob = f.read()
            report = share_decoder_weights(pkg)
            self.assertEqual(report["bytes"], len(blob))
            with open(os.path.join(pkg, WEIGHTS_FILE), "rb") as f:
                self.assertEqual(f.read(), blob)
            for g in GRAPHS:
                after = tensors(os.path.join(pkg, g))
                self.assertEqual(set(after), set(before[g]))
                for name, arr in before[g].items():
                    np.testing.assert_array_equal(after[name], arr, err_msg=f"{g} {name}")
            # a weight both graphs use is stored once: the file is about one decoder, not two
            frame_bytes = sum(a.nbytes for a in before["decoder_frame.onnx"].values() if a.nbytes >= MIN_BYTES)
            self.assertLess(len(blob), frame_bytes * 1.1)


if __name__ == "__main__":
    unittest.main()
