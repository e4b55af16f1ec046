"""Writes the two tiny packages test/model/rotated_keys.test.ts streams side by side: the SAME
random weights exported with pre-RoPE past keys (the graphs of packages before decoder.pastKeys)
and with rotated ones (what export writes now). Small on purpose (d_model 32, 3 layers).

    PYTHONPATH=models /usr/bin/python3 models/scripts/rotated_keys_fixture.py [--out test/fixtures/rotated_keys]
"""
import argparse
import os
import shutil

import torch

from kibitz_models.export.package import export_package
from kibitz_models.model.model import KibitzModel, ModelConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="test/fixtures/rotated_keys")
    a = ap.parse_args()
    torch.manual_seed(7)
    cfg = ModelConfig(vision_channels=(4, 8, 8), d_model=32, n_layers=3, n_heads=2, n_kv_heads=1, mlp_hidden=64,
                      routed_layers=[1]).validate()
    model = KibitzModel(cfg).eval()
    with torch.no_grad():   # sharp attention, so a key turned wrong changes what a step attends to
        for layer in model.layers:
            layer.wq.weight.mul_(25.0)
            layer.wk.weight.mul_(25.0)
    for name, rotated in (("raw", False), ("rotated", True)):
        out = os.path.join(a.out, name)
        shutil.rmtree(out, ignore_errors=True)
        man = export_package(model, out, f"rotated-keys-{name}", {"window_frames": 4, "training": {"note": "random weights, a test fixture"}},
                             check_parity=True, rotated_keys=rotated)
        shutil.rmtree(os.path.join(out, "fixtures"))   # checked above (parity); the test needs only the graphs
        print(out, man["parity"]["maxAbsDiff"])


if __name__ == "__main__":
    main()
