"""The in-world head: out-of-world clips, the encoder rebuilt from a package, threshold choice,
export + parity through onnxruntime-node."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.training.inworld import WorldHead, choose_threshold, export_world, vision_from_package  # noqa: E402
from kibitz_models.data.outworld import FAMILIES, SPLITS, SPLIT_SEED, make_clip  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
PKG = os.path.join(REPO, "models", "kibitz-demo")
HAS_ORT = shutil.which("node") is not None and os.path.isdir(os.path.join(REPO, "node_modules", "onnxruntime-node"))


def fixture_tensor(t):
    dt = {"float32": np.float32, "uint8": np.uint8}[t["dtype"]]
    return np.frombuffer(base64.b64decode(t["data_b64"]), dtype=dt).reshape(t["shape"])


class TestOutWorld(unittest.TestCase):
    def test_splits_never_share_a_family_or_seed_range(self):
        seen = {}
        for split, fams in SPLITS.items():
            for f in fams:
                self.assertIn(f, FAMILIES)
                self.assertNotIn(f, seen, f"{f} is in {seen.get(f)} and {split}")
                seen[f] = split
        self.assertEqual(len(set(SPLIT_SEED.values())), len(SPLIT_SEED))
        # the runtime's end-to-end test streams mandelbrot: never a training or validation family
        self.assertIn("mandelbrot", SPLITS["heldout"])

    def test_a_clip_decodes_like_the_service(self):
        a = make_clip("shapes", 3, 1.0)
        self.assertEqual(a.shape, (2, 144, 256, 3))
        self.assertEqual(a.dtype, np.uint8)
        with self.assertRaises(ValueError):
            make_clip("no-such-family", 1, 1.0)


class TestInWorldHead(unittest.TestCase):
    def test_encoder_rebuilt_from_the_package_matches_its_fixture(self):
        enc = vision_from_package(PKG)
        fx = json.load(open(os.path.join(PKG, "fixtures", "vision.json")))
        with torch.no_grad():
            got = enc(torch.from_numpy(fixture_tensor(fx["inputs"]["frames"]).copy())).numpy()
        want = fixture_tensor(fx["outputs"]["vision_embeds"])
        self.assertLess(float(np.abs(got - want).max()), 1e-3)

    def test_threshold_keeps_the_world_and_splits_the_gap(self):
        p_in = np.concatenate([np.full(995, 0.99), np.full(5, 0.6)])
        p_out = np.full(1000, 0.01)
        thr = choose_threshold(p_in, p_out, 0.995)
        self.assertGreater(thr, 0.01)
        self.assertLessEqual(thr, 0.6)
        self.assertGreaterEqual(float((p_in >= thr).mean()), 0.995)
        # overlapping: the in-world quantile wins
        self.assertAlmostEqual(choose_threshold(np.full(100, 0.3), np.full(100, 0.5), 0.995), 0.3, places=3)

    @unittest.skipUnless(HAS_ORT, "needs node + onnxruntime-node (npm ci)")
    def test_export_has_parity_in_onnxruntime_node(self):
        with tempfile.TemporaryDirectory() as td:
            pkg = os.path.join(td, "pkg")
            shutil.copytree(PKG, pkg)
            head = WorldHead(192)
            export_world(head, pkg, {"threshold": 0.4, "steps": 0, "train_s": 0})
            man = json.load(open(os.path.join(pkg, "manifest.json")))
            self.assertEqual(man["world"]["threshold"], 0.4)
            self.assertEqual(man["files"]["world"], "world.onnx")
            r = subprocess.run(["node", os.path.join(REPO, "models", "scripts", "parity.mjs"), pkg], capture_output=True, text=True, cwd=REPO)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertLess(json.loads(r.stdout.strip().splitlines()[-1])["fixtures"]["world.json"], 1e-4)


if __name__ == "__main__":
    unittest.main()
