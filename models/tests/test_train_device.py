"""`cli train` end to end for a step or two, on the CPU and (where torch sees one) on a GPU:
the checkpoint is written with CPU tensors, loads anywhere, and records where it was trained."""
import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.model.checkpoint import load_checkpoint  # noqa: E402
from kibitz_models.training.train import train  # noqa: E402
from tiny_training import TinyTrainingCase  # noqa: E402


class TestTrainDevice(TinyTrainingCase):
    CONFIG = {"line_stamp": True}

    def run_on(self, device):
        out = os.path.join(self.td, f"{device}.pt")
        train(self.data, out, minutes=60, resume=self.start, steps=2, log_every=1, fixed_vision=True, device=device)
        model, meta = load_checkpoint(out)
        self.assertEqual(meta["training"]["steps"], 7)                     # resumed at 5, two more
        self.assertTrue(all(not p.is_cuda for p in model.parameters()))
        self.assertTrue(model.cfg.line_stamp)
        return meta

    def test_a_slim_checkpoint_resumes(self):
        from kibitz_models.model.checkpoint import slim_checkpoint
        slim = os.path.join(self.td, "slim.pt")
        worst = slim_checkpoint(self.start, slim)
        self.assertLess(worst, 1e-2)
        self.assertLess(os.path.getsize(slim), 0.6 * os.path.getsize(self.start))
        model, meta = load_checkpoint(slim)
        self.assertTrue(all(p.dtype == torch.float32 for p in model.parameters()))   # loads back as float32
        self.assertEqual(meta["slim"]["dtype"], "float16")
        out = os.path.join(self.td, "resumed.pt")
        train(self.data, out, minutes=60, resume=slim, steps=1, log_every=1, fixed_vision=True)
        self.assertEqual(load_checkpoint(out)[1]["training"]["steps"], 6)

    def test_trains_on_the_cpu(self):
        self.assertIn("CPU", self.run_on("cpu")["training"]["hardware"])

    @unittest.skipUnless(torch.cuda.is_available(), "no GPU that torch can see")
    def test_trains_on_a_gpu(self):
        self.assertIn("GPU", self.run_on("cuda")["training"]["hardware"])


if __name__ == "__main__":
    unittest.main()
