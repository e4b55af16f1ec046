"""Export parity through onnxruntime-node, and clear errors on bad input."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from kibitz_models.export.package import ExportError, export_package  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
HAS_ORT = shutil.which("node") is not None and os.path.isdir(os.path.join(REPO, "node_modules", "onnxruntime-node"))


def perturbed(model):
    """`model` with a little noise on every weight: no all-zero tensors (the exporter folds those away)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model


def cli(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, "models"))
    return subprocess.run([sys.executable, "-m", "kibitz_models.cli", *args], capture_output=True, text=True,
                          env=env, cwd=REPO)


class TestErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_wrong_path(self):
        with self.assertRaisesRegex(CheckpointError, "not found"):
            load_checkpoint(os.path.join(self.tmp, "nope.pt"))
        r = cli("export", "--checkpoint", os.path.join(self.tmp, "nope.pt"), "--out", self.tmp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("checkpoint not found", r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_corrupt_checkpoint(self):
        p = os.path.join(self.tmp, "bad.pt")
        with open(p, "wb") as f:
            f.write(b"\x80\x02garbage" * 10)
        with self.assertRaisesRegex(CheckpointError, "corrupt"):
            load_checkpoint(p)
        r = cli("evaluate", "--checkpoint", p)
        self.assertEqual(r.returncode, 2)
        self.assertIn("corrupt", r.stderr)

    def test_checkpoint_config_does_not_fit(self):
        m = KibitzModel(ModelConfig())
        p = os.path.join(self.tmp, "c.pt")
        save_checkpoint(p, m, {})
        blob = torch.load(p)
        blob["config"]["n_heads"] = 5           # 192 not divisible by 5
        torch.save(blob, p)
        with self.assertRaisesRegex(CheckpointError, "n_heads"):
            load_checkpoint(p)
        blob["config"]["n_heads"] = 6
        blob["config"]["mlp_hidden"] = 256      # valid config, weights of another shape
        torch.save(blob, p)
        with self.assertRaisesRegex(CheckpointError, "do not fit"):
            load_checkpoint(p)

    def test_exporter_refuses_unfaithful(self):
        m = KibitzModel(ModelConfig(vocab_size=100))    # tokenizer has 512 tokens
        with self.assertRaisesRegex(ExportError, "vocab"):
            export_package(m, self.tmp, "x", check_parity=False)
        m = KibitzModel(ModelConfig())
        with torch.no_grad():
            m.lm_head.weight[0, 0] = float("nan")
        with self.assertRaisesRegex(ExportError, "non-finite"):
            export_package(m, self.tmp, "x", check_parity=False)


@unittest.skipUnless(HAS_ORT, "node + onnxruntime-node not installed (npm install)")
class TestExportParity(unittest.TestCase):
    def test_export_matches_pytorch_in_onnxruntime_node(self):
        tmp = tempfile.mkdtemp()
        try:
            torch.manual_seed(5)
            m = KibitzModel(ModelConfig())
            man = export_package(m, tmp, "t", check_parity=True)
            self.assertLess(man["parity"]["maxAbsDiff"], 1e-3)
            self.assertEqual(set(man["parity"]["fixtures"]),
                             {"vision.json", "decoder_frame.json", "decoder_frame_empty.json", "decoder_text.json",
                              "decoder_frame_n1.json", "decoder_frame_n7.json"})   # partial frames (temporal drop)
            self.assertEqual(man["decoder"]["keptPerFrame"], 5)
            self.assertEqual(man["vision"]["tokensPerFrame"], 25)
        finally:
            shutil.rmtree(tmp)

    def test_bundled_package_parity(self):
        pkg = os.path.join(REPO, "models", "kibitz-demo")
        r = subprocess.run(["node", os.path.join(REPO, "models", "scripts", "parity.mjs"), pkg],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])


if __name__ == "__main__":
    unittest.main()
