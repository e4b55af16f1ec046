"""`cli train-alike`: variants from one start take their steps on the same batches, end at the same
step, and a wall-clock budget fixes the step count once from the measured pace."""
import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
torch.set_num_threads(2)

from kibitz_models.model.checkpoint import load_checkpoint  # noqa: E402
from kibitz_models.model.model import ConfigError  # noqa: E402
from kibitz_models.training.train_alike import fit_steps, train_alike  # noqa: E402
from tiny_training import TinyTrainingCase  # noqa: E402


class TestTrainAlike(TinyTrainingCase):
    SEEDS = (1000, 1001)
    SECONDS = 20.0

    def run_alike(self, names, out, **kw):
        return train_alike(self.data, os.path.join(self.td, out), self.start, names, batch=2, seed=4, log_every=1, **kw)

    def test_variants_step_alike_on_the_same_batches(self):
        summary = self.run_alike(["dense", "deep"], "both", steps=3, workers=2)
        self.assertEqual({n: s["steps"] for n, s in summary.items()}, {"dense": 3, "deep": 3})
        deep, meta = load_checkpoint(summary["deep"]["out"])
        dense, _ = load_checkpoint(summary["dense"]["out"])
        self.assertEqual(meta["training"]["steps"], 8)                      # the start's 5, three more
        self.assertEqual(meta["training"]["alike"], ["dense", "deep"])
        self.assertEqual((meta["training"]["batch"], meta["training"]["variant"]), (2, "deep"))
        self.assertEqual(dense.cfg.keep_ratio, 1.0)
        self.assertEqual(deep.cfg.routed_layers, [1])
        self.assertTrue(all(not p.is_cuda for p in deep.parameters()))
        # the batches do not depend on which variants train beside: deep alone ends bit-identical
        alone, _ = load_checkpoint(self.run_alike(["deep"], "alone", steps=3, workers=2)["deep"]["out"])
        moved = [k for k, v in alone.state_dict().items() if not torch.equal(v, deep.state_dict()[k])]
        self.assertEqual(moved, [])
        start, _ = load_checkpoint(self.start)
        self.assertTrue(any(not torch.equal(v, start.state_dict()[k]) for k, v in alone.state_dict().items()))
        # and the vision encoder stays the start's (decoder only: the in-world head stays valid)
        for k, v in start.vision.state_dict().items():
            self.assertTrue(torch.equal(v, deep.vision.state_dict()[k]), k)

    def test_a_budget_fixes_the_steps_for_all(self):
        summary = self.run_alike(["interleaved", "deep"], "budget", steps=1000, minutes=0.05, workers=0)
        steps = {s["steps"] for s in summary.values()}
        self.assertEqual(len(steps), 1)
        self.assertLess(steps.pop(), 1000)

    def test_fit_steps(self):
        self.assertEqual(fit_steps(500, None, 20, 5.0, 0.1), 500)                 # no budget: the steps asked
        self.assertEqual(fit_steps(None, 100.0, 20, 10.0, 0.5), 20 + int(90 * 0.95 / 0.5))
        self.assertEqual(fit_steps(50, 100.0, 20, 10.0, 0.5), 50)                 # never more than asked
        self.assertEqual(fit_steps(500, 10.0, 20, 30.0, 0.5), 21)                 # the probe outran the budget
        with self.assertRaisesRegex(ConfigError, "--steps or --minutes"):
            fit_steps(None, None, 20, 1.0, 0.1)

    def test_refuses_unknown_or_repeated_variants(self):
        with self.assertRaisesRegex(ConfigError, "unknown variants"):
            self.run_alike(["sparse"], "x", steps=1, workers=0)
        with self.assertRaisesRegex(ConfigError, "named twice"):
            self.run_alike(["deep", "deep"], "x", steps=1, workers=0)


if __name__ == "__main__":
    unittest.main()
