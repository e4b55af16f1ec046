"""A tiny training setup for the trainer tests (test_train_device.py, test_train_alike.py): random
frames under demo-world seeds (the world is regenerated from its seed; frames can be anything)
and a small start checkpoint that says it has trained 5 steps. `TinyTrainingCase` gives each test
its own copy in a temporary folder."""
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kibitz_models.model.checkpoint import save_checkpoint  # noqa: E402
from kibitz_models.data.dataset import FPS  # noqa: E402
from kibitz_models.model.model import KibitzModel, ModelConfig  # noqa: E402

SMALL = dict(vision_channels=(8, 16, 32), d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden=96, routed_layers=[1])
START_STEPS = 5


def tiny_training(td: str, seeds=(1000,), seconds: float = 30, **config):
    """-> (data dir, start checkpoint) under `td`; `config` changes SMALL."""
    data = os.path.join(td, "data")
    os.makedirs(data)
    rng = np.random.default_rng(0)
    for seed in seeds:
        np.save(os.path.join(data, f"{seed}.npy"), rng.integers(0, 255, (int(seconds * FPS), 144, 256, 3), dtype=np.uint8))
    torch.manual_seed(0)
    start = os.path.join(td, "start.pt")
    save_checkpoint(start, KibitzModel(ModelConfig(**{**SMALL, **config})), {"training": {"steps": START_STEPS}})
    return data, start


class TinyTrainingCase(unittest.TestCase):
    """self.td (removed after each test), self.data and self.start from tiny_training(SEEDS, SECONDS, **CONFIG)."""
    SEEDS = (1000,)
    SECONDS = 30.0
    CONFIG: dict = {}

    def setUp(self):
        self.td = tempfile.mkdtemp()
        self.data, self.start = tiny_training(self.td, seeds=self.SEEDS, seconds=self.SECONDS, **self.CONFIG)

    def tearDown(self):
        shutil.rmtree(self.td)
