"""A package rebuilds into a trainable checkpoint that reproduces its own fixtures."""
import os
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.model.checkpoint import load_checkpoint  # noqa: E402
from kibitz_models.training.from_package import check_against_fixtures, model_from_package  # noqa: E402
from kibitz_models.model.model import KibitzModel  # noqa: E402

PKG = os.path.join(os.path.dirname(os.path.dirname(HERE)), "models", "kibitz-demo")


class TestFromPackage(unittest.TestCase):
    def test_the_bundled_package_rebuilds_exactly(self):
        m = model_from_package(PKG)
        diffs = check_against_fixtures(m, PKG)
        self.assertEqual(set(diffs), {"decoder_frame.json", "decoder_frame_empty.json", "decoder_text.json"})
        self.assertLess(max(diffs.values()), 1e-4, diffs)
        # and a wrong mapping would show: swap two weights and the fixtures disagree
        with torch.no_grad():
            m.layers[0].w1.weight, m.layers[0].w3.weight = m.layers[0].w3.weight, m.layers[0].w1.weight
        self.assertGreater(max(check_against_fixtures(m, PKG).values()), 1e-2)

    def test_cli_writes_a_checkpoint_training_can_resume(self):
        from kibitz_models.cli import main
        with tempfile.TemporaryDirectory() as td:
            out = os.path.join(td, "ckpt.pt")
            self.assertEqual(main(["import", "--package", PKG, "--out", out]), 0)
            m, meta = load_checkpoint(out)
            self.assertIsInstance(m, KibitzModel)
            self.assertEqual(meta["training"]["imported_from"], PKG)
            # it records the package's streaming window, so the evaluator runs it as the runtime does
            # (without it the evaluator once ran imported checkpoints with 24 frames, the runtime 16)
            import json
            from kibitz_models.model.checkpoint import TRAIN_WINDOW_FRAMES, window_frames
            from kibitz_models.training.train import CLIP_FRAMES
            with open(os.path.join(PKG, "manifest.json")) as f:
                man = json.load(f)
            self.assertEqual(window_frames(meta), man["cache"]["windowFrames"])
            self.assertEqual(window_frames({}), TRAIN_WINDOW_FRAMES)
            self.assertEqual(CLIP_FRAMES, TRAIN_WINDOW_FRAMES)

    def test_cost_of_a_package_counts_its_own_shape(self):
        from kibitz_models.training.from_package import package_cost
        m = model_from_package(PKG)
        V, k, L = m.cfg.tokens_per_frame, m.cfg.kept_per_frame, m.cfg.n_layers
        routed = [l for l in range(L) if m.cfg.is_routed(l)]
        self.assertTrue(0 < len(routed) < L)
        ctx = [400 if l in routed else 700 for l in range(L)]
        cost = package_cost(PKG, ctx)
        self.assertEqual(cost["kv_entries"], len(routed) * k + (L - len(routed)) * V)   # routed layers keep k of V
        self.assertEqual(cost, m.decoder_cost_per_frame(ctx))
        self.assertGreater(cost["macs"], package_cost(PKG)["macs"])   # attending over cached slots is counted
        with self.assertRaises(ValueError):
            package_cost(PKG, ctx[:-1])

    def test_regraph_leaves_current_graphs_alone_and_rewrites_others(self):
        import shutil
        import onnx
        from kibitz_models.training.from_package import regraph_package
        from test_export_and_errors import HAS_ORT
        with tempfile.TemporaryDirectory() as td:
            pkg = os.path.join(td, "pkg")
            shutil.copytree(PKG, pkg)
            # what ships is in the current form (a regraph would change nothing)
            self.assertFalse(regraph_package(pkg)["changed"])
            if not HAS_ORT:
                self.skipTest("rewriting checks parity in onnxruntime-node: run npm ci")
            frame = os.path.join(pkg, "decoder_frame.onnx")
            g = onnx.load(frame)
            want = [n.op_type for n in g.graph.node]
            # an extra operator (not the current form): logits -> Identity -> logits
            out = g.graph.output[0].name
            for n in g.graph.node:
                n.output[:] = [o + "_pre" if o == out else o for o in n.output]
                n.input[:] = [i + "_pre" if i == out else i for i in n.input]
            g.graph.node.append(onnx.helper.make_node("Identity", [out + "_pre"], [out]))
            onnx.save(g, frame)
            self.assertNotEqual([n.op_type for n in onnx.load(frame).graph.node], want)
            r = regraph_package(pkg)
            self.assertTrue(r["changed"])
            self.assertEqual([n.op_type for n in onnx.load(frame).graph.node], want)

    def test_a_package_that_looks_at_part_of_the_screen_keeps_its_view(self):
        import json
        from kibitz_models.training.from_package import config_from_manifest
        with open(os.path.join(PKG, "manifest.json")) as f:
            man = json.load(f)
        self.assertIsNone(config_from_manifest(man).view)
        man["frame"]["view"] = [0.2703, 0.0611, 0.4602, 0.9167]
        self.assertEqual(config_from_manifest(man).view, (0.2703, 0.0611, 0.4602, 0.9167))


if __name__ == "__main__":
    unittest.main()
